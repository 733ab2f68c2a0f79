/* The diffusion process of continuous images (see mom.h): the cosine
 * schedule, timestep features, DDIM, and the noising of a training batch. */
#include <math.h>
#include <string.h>

#include "diffusion.h"
#include "rng.h"

static double cosine_f(int t)
{
    const double x = ((double)t / MOM_DIFFUSION_STEPS + 0.008) / 1.008 * (M_PI / 2.0);
    return cos(x) * cos(x);
}

/* The product is short (1000 terms) and exact in double; no table to
 * build or to share between threads. */
double mom_diffusion_alpha_bar(int t)
{
    if (t < 0) return 1.0;
    if (t >= MOM_DIFFUSION_STEPS) t = MOM_DIFFUSION_STEPS - 1;
    double ab = 1.0;
    for (int s = 0; s <= t; s++) {
        double beta = 1.0 - cosine_f(s + 1) / cosine_f(s);
        if (beta > 0.999) beta = 0.999;
        ab *= 1.0 - beta;
    }
    return ab;
}

mom_status mom_diffusion_time_features(int t, int dim, float *out)
{
    if (!out || dim < 2 || dim % 2) return MOM_ERR_INVALID_ARG;
    const int half = dim / 2;
    for (int i = 0; i < half; i++) {
        const double w = exp(-log(10000.0) * i / half);
        out[i] = (float)sin(t * w);
        out[half + i] = (float)cos(t * w);
    }
    return MOM_OK;
}

mom_status mom_ddim_step(size_t n, float *x, const float *eps, int t, int t_prev, float clip)
{
    if (n && (!x || !eps)) return MOM_ERR_INVALID_ARG;
    const double ab = mom_diffusion_alpha_bar(t), ap = mom_diffusion_alpha_bar(t_prev);
    const double sa = sqrt(ab), s1 = sqrt(1.0 - ab), sp = sqrt(ap), sp1 = sqrt(1.0 - ap);
    for (size_t i = 0; i < n; i++) {
        double x0 = (x[i] - s1 * eps[i]) / sa, e = eps[i];
        if (clip > 0.0f && fabs(x0) > clip) {
            x0 = x0 > 0 ? clip : -clip;
            e = (x[i] - sa * x0) / s1;
        }
        x[i] = (float)(sp * x0 + sp1 * e);
    }
    return MOM_OK;
}

int diffusion_noise_batch(const diffusion_batch *db, float *x_t, float *eps, float *tfeat, int *steps)
{
    rng r;
    rng_seed(&r, db->seed);
    const int B = db->B, T = db->T, pd = db->patch_dim;
    int images = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T;) {
            const size_t p0 = (size_t)b * T + t;
            if (db->modality[p0] != MOM_MOD_IMAGE) {
                t++;
                continue;
            }
            /* One image: a run of image positions (cut where the window is). */
            const int low = rng_uniform(&r) < db->low_t_fraction;
            const int step = (int)rng_below(&r, low ? MOM_DIFFUSION_STEPS / 2 : MOM_DIFFUSION_STEPS);
            const double ab = mom_diffusion_alpha_bar(step), sa = sqrt(ab), s1 = sqrt(1.0 - ab);
            images++;
            for (; t < T && db->modality[(size_t)b * T + t] == MOM_MOD_IMAGE; t++) {
                const size_t p = (size_t)b * T + t, row = (size_t)(db->rows[p] - db->image_row0);
                const float *x0 = db->patches + p * pd;
                for (int i = 0; i < pd; i++) {
                    const float e = rng_normal(&r);
                    eps[row * pd + i] = e;
                    x_t[row * pd + i] = (float)(sa * x0[i] + s1 * e);
                }
                mom_diffusion_time_features(step, db->time_dim, tfeat + row * db->time_dim);
                if (steps) steps[row] = step;
            }
        }
    return images;
}
