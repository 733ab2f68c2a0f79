/* Cross-entropy over the vocabulary with its gradient, scalar reference. */
#include <math.h>

#include "kernels.h"

void mom_xent_ref(int T, int V, float *logits, const int32_t *targets, float scale, float *loss)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *l = logits + (size_t)t * V;
        const int32_t tg = targets[t];
        if (tg < 0) {
            loss[t] = 0.0f;
            if (scale != 0.0f)
                for (int v = 0; v < V; v++) l[v] = 0.0f;
            continue;
        }
        float mx = l[0];
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)(l[v] - mx));
        const float lse = mx + (float)log(sum);
        loss[t] = lse - l[tg];
        if (scale == 0.0f) continue;
        for (int v = 0; v < V; v++) l[v] = expf(l[v] - lse) * scale;
        l[tg] -= scale;
    }
}
