/* A separable tent-filter resize, in place of stb_image_resize: Debian's
 * stb_image_resize (v1) aborts on an assertion for some ratios (21 -> 16 in
 * RGB, found by the image fuzzer), and an abort in a reader takes the
 * process down. Here each output pixel's weights are normalised by their
 * own sum, so there is no rounding case to assert on. */
#include "image_resize.h"

#include <math.h>
#include <stdlib.h>

/* One axis, n_in -> n_out, has radius r = max(1, n_in / n_out) in input
 * pixels: enlarging interpolates linearly between neighbours, shrinking
 * averages everything the output pixel covers. */
static double tent_radius(int n_in, int n_out) { return n_in > n_out ? (double)n_in / n_out : 1.0; }
static int max_taps(int n_in, int n_out) { return (int)ceil(2.0 * tent_radius(n_in, n_out)) + 1; }

/* Output i is centred at input coordinate c = (i + 0.5) n_in / n_out - 0.5;
 * its taps are the inputs j with |j - c| < r, weighted 1 - |j - c| / r and
 * normalised (the nearest tap is within 0.5 of c, so the sum is at least
 * 0.5). Writes at most max_taps weights and the first tap's index
 * (unclamped: taps past an edge repeat the edge pixel); returns the count. */
static int tent_weights(int i, int n_in, int n_out, float *w, int *first)
{
    const double r = tent_radius(n_in, n_out), c = (i + 0.5) * n_in / n_out - 0.5;
    const int j0 = (int)floor(c - r) + 1, j1 = (int)ceil(c + r) - 1, cap = max_taps(n_in, n_out);
    double sum = 0.0;
    int n = 0;
    for (int j = j0; j <= j1 && n < cap; j++, n++) {
        const double d = 1.0 - fabs(j - c) / r;
        w[n] = d > 0.0 ? (float)d : 0.0f;
        sum += w[n];
    }
    for (int k = 0; k < n; k++) w[k] = (float)(w[k] / sum);
    *first = j0;
    return n;
}

static size_t clamp_index(int j, int n) { return (size_t)(j < 0 ? 0 : j >= n ? n - 1 : j); }

/* One axis of n_in -> n_out samples, on n_lines lines of channels floats
 * per sample: sample j of line l is in[l * in_line + j * in_step + c]. */
typedef struct axis_pass {
    int n_lines, n_in, n_out, channels;
    size_t in_line, in_step, out_line, out_step;
} axis_pass;

static void resize_axis(const axis_pass *p, const float *in, float *out, float *wt)
{
    for (int i = 0; i < p->n_out; i++) {
        int j0;
        const int n = tent_weights(i, p->n_in, p->n_out, wt, &j0);
        for (int l = 0; l < p->n_lines; l++)
            for (int c = 0; c < p->channels; c++) {
                double acc = 0.0;
                for (int k = 0; k < n; k++)
                    acc += wt[k] * in[(size_t)l * p->in_line + clamp_index(j0 + k, p->n_in) * p->in_step + (size_t)c];
                out[(size_t)l * p->out_line + (size_t)i * p->out_step + (size_t)c] = (float)acc;
            }
    }
}

mom_status mom_image_resize(const float *src, int w, int h, int channels, float *dst, int size)
{
    if (!src || !dst || w < 1 || h < 1 || channels < 1 || size < 1) return MOM_ERR_INVALID_ARG;
    const size_t ch = (size_t)channels, W = (size_t)w, S = (size_t)size;
    /* The shorter side first, so the intermediate image is min(w, h) x size
     * (a header-only TGA may claim 256 x 65535). */
    const int x_first = w >= h;
    const size_t n_mid = (x_first ? (size_t)h : W) * S * ch;
    const int cap_x = max_taps(w, size), cap_y = max_taps(h, size);
    float *mid = malloc(sizeof(float) * n_mid);
    float *wt = malloc(sizeof(float) * (size_t)(cap_x > cap_y ? cap_x : cap_y));
    if (!mid || !wt) {
        free(mid);
        free(wt);
        return MOM_ERR_NOMEM;
    }
    if (x_first) { /* (h, w) -> (h, size) -> (size, size) */
        const axis_pass px = {h, w, size, channels, W * ch, ch, S * ch, ch};
        const axis_pass py = {size, h, size, channels, ch, S * ch, ch, S * ch};
        resize_axis(&px, src, mid, wt);
        resize_axis(&py, mid, dst, wt);
    } else { /* (h, w) -> (size, w) -> (size, size) */
        const axis_pass py = {w, h, size, channels, ch, W * ch, ch, W * ch};
        const axis_pass px = {size, w, size, channels, W * ch, ch, S * ch, ch};
        resize_axis(&py, src, mid, wt);
        resize_axis(&px, mid, dst, wt);
    }
    free(mid);
    free(wt);
    return MOM_OK;
}
