/* Cross-entropy with its gradient over the lanes of vec.h. The sum of exp
 * is kept in double, as the reference's (one double per lane, added in lane
 * order); the gradient is exp(l - lse) * scale, the reference's formula. */
#include <math.h>

#include "vec.h"

void VNAME(xent)(int T, int V, float *logits, const int32_t *targets, float scale, float *loss)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *l = logits + (size_t)t * V;
        const int32_t tg = targets[t];
        if (tg < 0) {
            loss[t] = 0.0f;
            if (scale != 0.0f) memset(l, 0, sizeof(float) * (size_t)V);
            continue;
        }
        vf mxv = vset1(-INFINITY);
        int v = 0;
        for (; v + VW <= V; v += VW) mxv = vmax(mxv, vload(l + v));
        float mx = vhmax(mxv);
        for (; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        const vf m = vset1(mx);
        double lanes[VW] = {0}, sum = 0.0;
        for (v = 0; v + VW <= V; v += VW) {
            const vf e = vexp(vload(l + v) - m);
            for (int i = 0; i < VW; i++) lanes[i] += (double)e[i];
        }
        if (v < V) {
            const vf e = vexp(vload_n(l + v, V - v) - m);
            for (int i = 0; i < V - v; i++) lanes[i] += (double)e[i];
        }
        for (int i = 0; i < VW; i++) sum += lanes[i];
        const float lse = mx + (float)log(sum);
        loss[t] = lse - l[tg];
        if (scale == 0.0f) continue;
        const vf lsev = vset1(lse);
        for (v = 0; v + VW <= V; v += VW) vstore(l + v, vexp(vload(l + v) - lsev) * scale);
        if (v < V) vstore_n(l + v, vexp(vload_n(l + v, V - v) - lsev) * scale, V - v);
        l[tg] -= scale;
    }
}
