/* k-means: k-means++ seeding (each next centroid drawn with probability
 * proportional to the squared distance to the nearest one so far), then
 * Lloyd iterations until no assignment changes or iters run out. An empty
 * cluster takes the point farthest from its centroid, so k codes are
 * always distinct when the data has k distinct points. */
#include "kmeans.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return (double)(next_u64(s) >> 11) / 9007199254740992.0; }

static float dist2(const float *a, const float *b, int dim)
{
    float d = 0.0f;
    for (int j = 0; j < dim; j++) {
        const float t = a[j] - b[j];
        d += t * t;
    }
    return d;
}

int mom_kmeans_nearest(const float *centroids, int k, int dim, const float *x)
{
    int best = 0;
    float bd = FLT_MAX;
    for (int c = 0; c < k; c++) {
        const float d = dist2(centroids + (size_t)c * dim, x, dim);
        if (d < bd) {
            bd = d;
            best = c;
        }
    }
    return best;
}

static void seed_plus_plus(const float *X, size_t n, int dim, int k, uint64_t *s, float *C, float *d2)
{
    size_t first = (size_t)(next_u64(s) % n);
    memcpy(C, X + first * dim, sizeof(float) * (size_t)dim);
    for (size_t i = 0; i < n; i++) d2[i] = dist2(X + i * dim, C, dim);
    for (int c = 1; c < k; c++) {
        double total = 0.0;
        for (size_t i = 0; i < n; i++) total += d2[i];
        size_t pick = (size_t)(next_u64(s) % n); /* all points coincide: any one */
        if (total > 0.0) {
            double r = uniform01(s) * total;
            for (pick = 0; pick + 1 < n; pick++) {
                r -= d2[pick];
                if (r < 0.0) break;
            }
        }
        float *cc = C + (size_t)c * dim;
        memcpy(cc, X + pick * dim, sizeof(float) * (size_t)dim);
        for (size_t i = 0; i < n; i++) {
            const float d = dist2(X + i * dim, cc, dim);
            if (d < d2[i]) d2[i] = d;
        }
    }
}

int mom_kmeans(const float *X, size_t n, int dim, int k, int iters, uint64_t seed, float *centroids)
{
    if (n == 0 || k < 1 || dim < 1) return -1;
    float *d2 = malloc(sizeof(float) * n);
    int *assign = malloc(sizeof(int) * n);
    double *sum = malloc(sizeof(double) * (size_t)k * dim);
    size_t *count = malloc(sizeof(size_t) * (size_t)k);
    if (!d2 || !assign || !sum || !count) {
        free(d2); free(assign); free(sum); free(count);
        return -1;
    }
    uint64_t s = seed;
    seed_plus_plus(X, n, dim, k, &s, centroids, d2);
    for (size_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < iters; it++) {
        size_t changed = 0;
#pragma omp parallel for schedule(static) reduction(+ : changed)
        for (size_t i = 0; i < n; i++) {
            const int a = mom_kmeans_nearest(centroids, k, dim, X + i * dim);
            changed += a != assign[i];
            assign[i] = a;
            d2[i] = dist2(X + i * dim, centroids + (size_t)a * dim, dim);
        }
        if (!changed) break;
        memset(sum, 0, sizeof(double) * (size_t)k * dim);
        memset(count, 0, sizeof(size_t) * (size_t)k);
        for (size_t i = 0; i < n; i++) { /* in point order: deterministic */
            double *sc = sum + (size_t)assign[i] * dim;
            for (int j = 0; j < dim; j++) sc[j] += X[i * dim + j];
            count[assign[i]]++;
        }
        for (int c = 0; c < k; c++) {
            float *cc = centroids + (size_t)c * dim;
            if (count[c]) {
                for (int j = 0; j < dim; j++) cc[j] = (float)(sum[(size_t)c * dim + j] / (double)count[c]);
                continue;
            }
            size_t far = 0; /* empty: the worst-served point */
            for (size_t i = 1; i < n; i++)
                if (d2[i] > d2[far]) far = i;
            memcpy(cc, X + far * dim, sizeof(float) * (size_t)dim);
            d2[far] = 0.0f;
        }
    }
    free(d2); free(assign); free(sum); free(count);
    return 0;
}
