#version 450
#extension GL_EXT_control_flow_attributes : require
// Selective scan backward, one chunk c (ops_time.c runs the chunks newest
// first), one invocation per (batch row b = workgroup y, channel d): the
// exact backward of DESIGN.md, in simd/scan_ref.c's order.
//  1. recompute the chunk's states from states[b, c, d] into work S;
//  2. walk the chunk backward: lam_t = gh_t C_t + exp(delta_(t+1) A) lam_(t+1)
//     (lam's second term carried in work LAM between chunks), writing du,
//     ddelta, dz (and y when has_y), adding dA and dD into per-(b, d)
//     partials (work DA, DD), and leaving the per-(b, d) terms of dC and dB,
//     gh s and lam delta u, in work S (over the state it replaces) and DBC.
//     scan_bwd_reduce sums those over channels, scan_bwd_final the partials
//     over batch rows, each in a fixed order.
// Both walks run once per block of 16 states (below).
// work, relative to off_work, BD = B D, bd = b D + d, cs = min(chunk, L):
//   S   [(tl N + n) BD + bd]            cs N BD
//   DBC S + cs N BD, same indexing      cs N BD
//   LAM DBC + cs N BD, [n BD + bd]      N BD
//   DA  LAM + N BD,    [n BD + bd]      N BD
//   DD  DA + N BD,     [bd]             BD
layout(local_size_x_id = 0) in;

#define NB 16u // states per block (d_state <= 64: at most 4 blocks)

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) readonly buffer Ub { float u[]; };
layout(std430, binding = 2) readonly buffer DTb { float delta[]; };
layout(std430, binding = 3) readonly buffer ALb { float A_log[]; };
layout(std430, binding = 4) readonly buffer BBb { float Bm[]; };
layout(std430, binding = 5) readonly buffer CCb { float Cm[]; };
layout(std430, binding = 6) readonly buffer DSb { float Dskip[]; };
layout(std430, binding = 7) readonly buffer Zb { float z[]; };
layout(std430, binding = 8) readonly buffer Sb { float states[]; };
layout(std430, binding = 9) readonly buffer GYb { float dy[]; };
layout(std430, binding = 10) buffer DUb { float du[]; };
layout(std430, binding = 11) buffer DDTb { float ddelta[]; };
layout(std430, binding = 12) buffer DZb { float dz[]; };
layout(std430, binding = 13) writeonly buffer Yb { float y[]; };
layout(std430, binding = 14) buffer Wk { float work[]; };

layout(push_constant) uniform P {
    uint B, L, D, N, chunk, nc, c, cs, ld_bc, ld_z, ld_dz;
    uint off_rows, off_u, off_delta, off_A, off_B, off_C, off_Dskip, off_z, off_states;
    uint off_dy, off_du, off_ddelta, off_dz, off_y, off_work;
    uint has_rows, has_y;
} p;

void main()
{
    const uint d = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (d >= p.D || b >= p.B) return;
    const uint N = p.N, D = p.D, BD = p.B * D, bd = b * D + d;
    const uint wS = p.off_work, wDBC = wS + p.cs * N * BD, wLAM = wDBC + p.cs * N * BD;
    const uint wDA = wLAM + N * BD, wDD = wDA + N * BD;
    const uint t0 = p.c * p.chunk, t1 = min(t0 + p.chunk, p.L);
    const bool newest = p.c + 1u == p.nc;
    const uint s0 = p.off_states + ((b * p.nc + p.c) * D + d) * N;
    const float Dd = Dskip[p.off_Dskip + d];
    float dD = newest ? 0.0 : work[wDD + bd];

    // The states in blocks of NB, each block through both walks (as in
    // scan_fwd.comp). The sums over n (C.s, du's and ddelta's) run on from
    // block to block in dz, du and ddelta, in n order as the reference sums
    // them; the last block finishes dz and y.
    for (uint n0 = 0u; n0 < N; n0 += NB) {
        const uint nb = min(NB, N - n0);
        const bool first = n0 == 0u, last = n0 + NB >= N;
        float A[NB], carry[NB], dA[NB], s[NB];
        [[unroll]] for (uint j = 0u; j < NB; j++)
            if (j < nb) {
                const uint n = n0 + j;
                A[j] = -exp(A_log[p.off_A + d * N + n]);
                carry[j] = newest ? 0.0 : work[wLAM + n * BD + bd];
                dA[j] = newest ? 0.0 : work[wDA + n * BD + bd];
                s[j] = states[s0 + n];
            }

        for (uint t = t0; t < t1; t++) {
            const uint i = b * p.L + t;
            const uint r = p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
            const float dt = delta[p.off_delta + r * D + d], uu = u[p.off_u + r * D + d];
            const uint bc = r * p.ld_bc + n0, sl = wS + (t - t0) * N * BD + n0 * BD + bd;
            [[unroll]] for (uint j = 0u; j < NB; j++)
                if (j < nb) {
                    s[j] = exp(dt * A[j]) * s[j] + dt * Bm[p.off_B + bc + j] * uu;
                    work[sl + j * BD] = s[j];
                }
        }

        for (uint t = t1; t-- > t0;) {
            const uint i = b * p.L + t;
            const uint r = p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
            const float dt = delta[p.off_delta + r * D + d], uu = u[p.off_u + r * D + d];
            const uint bc = r * p.ld_bc + n0, tl = t - t0;
            // prv is only read for tl > 0 (at tl = 0 the chunk's stored
            // state); it stays in bounds either way.
            const uint cur = wS + tl * N * BD + n0 * BD + bd;
            const uint prv = wS + (max(tl, 1u) - 1u) * N * BD + n0 * BD + bd;
            const uint dzi = p.off_dz + r * p.ld_dz + d, ui = r * D + d;
            const float zz = z[p.off_z + r * p.ld_z + d], sg = 1.0 / (1.0 + exp(-zz));
            const float gy = dy[p.off_dy + ui];
            // In the forward's order, so a recomputed y has the forward's bits.
            float yscan = first ? 0.0 : dz[dzi];
            [[unroll]] for (uint j = 0u; j < NB; j++)
                if (j < nb) yscan += Cm[p.off_C + bc + j] * work[cur + j * BD];
            if (last) {
                yscan += Dd * uu;
                // y may lie over dy (the model's plan): gy is already read.
                if (p.has_y != 0u) y[p.off_y + ui] = yscan * (zz * sg);
                dz[dzi] = gy * yscan * sg * (1.0 + zz * (1.0 - sg));
            } else {
                dz[dzi] = yscan;
            }
            const float gh = gy * zz * sg;
            if (first) dD += gh * uu;
            float dus = first ? Dd * gh : du[p.off_du + ui], ddt = first ? 0.0 : ddelta[p.off_ddelta + ui];
            [[unroll]] for (uint j = 0u; j < NB; j++)
                if (j < nb) {
                    const float Bn = Bm[p.off_B + bc + j], Cn = Cm[p.off_C + bc + j];
                    const float sc = work[cur + j * BD];
                    const float sp = tl == 0u ? states[s0 + n0 + j] : work[prv + j * BD];
                    const float lam = gh * Cn + carry[j];
                    const float e = exp(dt * A[j]);
                    work[cur + j * BD] = gh * sc;                             // dC term; s_t is not needed again
                    work[wDBC + (tl * N + n0 + j) * BD + bd] = lam * dt * uu; // dB term
                    dus += dt * lam * Bn;
                    ddt += lam * (Bn * uu + A[j] * e * sp);
                    dA[j] += lam * dt * e * sp;
                    carry[j] = e * lam;
                }
            du[p.off_du + ui] = dus;
            ddelta[p.off_ddelta + ui] = ddt;
        }

        [[unroll]] for (uint j = 0u; j < NB; j++)
            if (j < nb) {
                work[wLAM + (n0 + j) * BD + bd] = carry[j];
                work[wDA + (n0 + j) * BD + bd] = dA[j];
            }
    }
    work[wDD + bd] = dD;
}
