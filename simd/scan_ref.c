/* Selective scan (Mamba-1), scalar reference, forward and exact backward.
 *
 *   s_t   = exp(delta_t A) s_(t-1) + delta_t B_t u_t      (per channel d, state n)
 *   y_t   = (C_t . s_t + D u_t) * SiLU(z_t)
 *
 * The forward stores the state only where each chunk begins; the backward
 * recomputes one chunk's states at a time, newest chunk first, so nothing of
 * size L x D x N is ever held. */
#include <math.h>
#include <string.h>

#include "kernels.h"

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void mom_scan_fwd_ref(const mom_scan_args *a, float *y)
{
    const int L = a->L, D = a->D, N = a->N, nc = mom_scan_n_chunks(a->L, a->chunk);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < a->B; b++)
        for (int d = 0; d < D; d++) {
            float s[64], A[64]; /* N <= 64 is checked by config validation */
            float *carry = a->carry ? a->carry + (size_t)b * D * N : NULL;
            for (int n = 0; n < N; n++) {
                s[n] = carry ? carry[mom_carry_index(D, N, d, n)] : 0.0f;
                A[n] = -expf(a->A_log[(size_t)d * N + n]);
            }
            for (int t = 0; t < L; t++) {
                if (a->states && t % a->chunk == 0) {
                    float *st = a->states + (((size_t)b * nc + t / a->chunk) * D + d) * N;
                    memcpy(st, s, sizeof(float) * (size_t)N);
                }
                const size_t r = mom_row(a->rows, b, L, t);
                const float dt = a->delta[r * D + d], u = a->u[r * D + d];
                const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
                float acc = 0.0f;
                for (int n = 0; n < N; n++) {
                    s[n] = expf(dt * A[n]) * s[n] + dt * Bt[n] * u;
                    acc += Ct[n] * s[n];
                }
                const float zz = a->z[r * a->ld_z + d];
                y[r * D + d] = (acc + a->Dskip[d] * u) * (zz * sigmoidf_(zz));
            }
            if (carry)
                for (int n = 0; n < N; n++) carry[mom_carry_index(D, N, d, n)] = s[n];
        }
}

size_t mom_scan_bwd_work_floats(const mom_scan_args *a, int n_threads)
{
    (void)n_threads; /* one batch row at a time: one chunk of states per channel */
    return (size_t)a->chunk * a->D * a->N;
}

/* lam_t = dL/ds_t = gh_t C_t + exp(delta_(t+1) A) lam_(t+1); `carry` holds the
 * second term. dB and dC sum over channels, so they are zeroed first and then
 * accumulated in channel order (one thread per batch row: fixed order). */
void mom_scan_bwd_ref(const mom_scan_args *a, const mom_scan_grads *g)
{
    const int L = a->L, D = a->D, N = a->N, C = a->chunk, nc = mom_scan_n_chunks(L, C);
    for (int b = 0; b < a->B; b++) {
        for (int t = 0; t < L; t++)
            for (int n = 0; n < N; n++) {
                g->dB[mom_row(a->rows, b, L, t) * g->ld_dbc + n] = 0.0f;
                g->dC[mom_row(a->rows, b, L, t) * g->ld_dbc + n] = 0.0f;
            }
        for (int d = 0; d < D; d++) {
            float A[64], carry[64], dA[64];
            for (int n = 0; n < N; n++) {
                A[n] = -expf(a->A_log[(size_t)d * N + n]);
                carry[n] = 0.0f;
                dA[n] = 0.0f;
            }
            float dD = 0.0f;
            float *S = g->work + (size_t)d * C * N; /* states of one chunk */
            for (int c = nc - 1; c >= 0; c--) {
                const int t0 = c * C, t1 = t0 + C < L ? t0 + C : L;
                const float *s0 = a->states + (((size_t)b * nc + c) * D + d) * N;
                for (int t = t0; t < t1; t++) {
                    const size_t r = mom_row(a->rows, b, L, t);
                    const float dt = a->delta[r * D + d], u = a->u[r * D + d];
                    const float *Bt = a->Bm + r * a->ld_bc;
                    const float *prev = t == t0 ? s0 : S + (size_t)(t - 1 - t0) * N;
                    float *cur = S + (size_t)(t - t0) * N;
                    for (int n = 0; n < N; n++) cur[n] = expf(dt * A[n]) * prev[n] + dt * Bt[n] * u;
                }
                for (int t = t1 - 1; t >= t0; t--) {
                    const size_t r = mom_row(a->rows, b, L, t);
                    const float dt = a->delta[r * D + d], u = a->u[r * D + d];
                    const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
                    const float *cur = S + (size_t)(t - t0) * N;
                    const float *prev = t == t0 ? s0 : S + (size_t)(t - 1 - t0) * N;
                    const float zz = a->z[r * a->ld_z + d], sg = sigmoidf_(zz);
                    const float gy = g->dy[r * D + d];
                    /* In the forward's order, so a recomputed y has its bits. */
                    float yscan = 0.0f;
                    for (int n = 0; n < N; n++) yscan += Ct[n] * cur[n];
                    yscan += a->Dskip[d] * u;
                    if (g->y) g->y[r * D + d] = yscan * (zz * sg);
                    g->dz[r * g->ld_dz + d] = gy * yscan * sg * (1.0f + zz * (1.0f - sg));
                    const float gh = gy * zz * sg;
                    dD += gh * u;
                    float du = a->Dskip[d] * gh, ddelta = 0.0f;
                    float *dBt = g->dB + r * g->ld_dbc, *dCt = g->dC + r * g->ld_dbc;
                    for (int n = 0; n < N; n++) {
                        const float lam = gh * Ct[n] + carry[n];
                        const float e = expf(dt * A[n]);
                        dCt[n] += gh * cur[n];
                        dBt[n] += lam * dt * u;
                        du += dt * lam * Bt[n];
                        ddelta += lam * (Bt[n] * u + A[n] * e * prev[n]);
                        dA[n] += lam * dt * e * prev[n];
                        carry[n] = e * lam;
                    }
                    g->du[r * D + d] = du;
                    g->ddelta[r * D + d] = ddelta;
                }
            }
            g->dD[d] += dD;
            for (int n = 0; n < N; n++) g->dA_log[(size_t)d * N + n] += dA[n] * A[n];
        }
    }
}
