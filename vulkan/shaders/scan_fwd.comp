#version 450
#extension GL_EXT_control_flow_attributes : require
// Selective scan forward (simd/scan_ref.c), one invocation per (batch row
// b = workgroup y, channel d), sequential over time, its states private:
//   s_t = exp(delta_t A) s_(t-1) + delta_t B_t u_t,   A = -exp(A_log)
//   y_t = (C_t . s_t + Dskip u_t) SiLU(z_t)
// The state entering each chunk goes to states (B, n_chunks, D, N) when
// has_states; carry (B, D N, mom_carry_index order) gives the state before
// t = 0 and takes the one after t = L-1 when has_carry. Position (b, t) is
// row rows[b L + t] (has_rows) or b L + t of every (B L)-row operand.
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
layout(std430, binding = 8) writeonly buffer Sb { float states[]; };
layout(std430, binding = 9) buffer CAb { float carry[]; };
layout(std430, binding = 10) buffer Yb { float y[]; };

layout(push_constant) uniform P {
    uint B, L, D, N, chunk, nc, ld_bc, ld_z;
    uint off_rows, off_u, off_delta, off_A, off_B, off_C, off_Dskip, off_z, off_states, off_carry, off_y;
    uint has_rows, has_states, has_carry;
} p;

// mom_carry_index: channels in groups of 16 (the last w = D - 16 g wide), n-major.
uint carry_index(uint d, uint n)
{
    const uint g = d / 16u, w = min(p.D - 16u * g, 16u);
    return g * 16u * p.N + n * w + (d - 16u * g);
}

void main()
{
    const uint d = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (d >= p.D || b >= p.B) return;
    const uint N = p.N, cbase = p.off_carry + b * p.D * N;
    const float Dd = Dskip[p.off_Dskip + d];
    // The states in blocks of NB: loops of constant length keep a block in
    // registers. Each block walks the whole sequence; C.s runs on in y from
    // one block to the next, so it is summed in n order as the reference
    // sums it, and the last block finishes y.
    for (uint n0 = 0u; n0 < N; n0 += NB) {
        const uint nb = min(NB, N - n0);
        const bool first = n0 == 0u, last = n0 + NB >= N;
        float s[NB], A[NB];
        [[unroll]] for (uint j = 0u; j < NB; j++)
            if (j < nb) {
                s[j] = p.has_carry != 0u ? carry[cbase + carry_index(d, n0 + j)] : 0.0;
                A[j] = -exp(A_log[p.off_A + d * N + n0 + j]);
            }
        for (uint t = 0u; t < p.L; t++) {
            if (p.has_states != 0u && t % p.chunk == 0u) {
                const uint st = p.off_states + ((b * p.nc + t / p.chunk) * p.D + d) * N + n0;
                [[unroll]] for (uint j = 0u; j < NB; j++)
                    if (j < nb) states[st + j] = s[j];
            }
            const uint i = b * p.L + t;
            const uint r = p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
            const float dt = delta[p.off_delta + r * p.D + d], uu = u[p.off_u + r * p.D + d];
            const uint bc = r * p.ld_bc + n0, yi = p.off_y + r * p.D + d;
            float acc = first ? 0.0 : y[yi];
            [[unroll]] for (uint j = 0u; j < NB; j++)
                if (j < nb) {
                    s[j] = exp(dt * A[j]) * s[j] + dt * Bm[p.off_B + bc + j] * uu;
                    acc += Cm[p.off_C + bc + j] * s[j];
                }
            if (last) {
                const float zz = z[p.off_z + r * p.ld_z + d];
                y[yi] = (acc + Dd * uu) * (zz * (1.0 / (1.0 + exp(-zz))));
            } else {
                y[yi] = acc;
            }
        }
        if (p.has_carry != 0u)
            [[unroll]] for (uint j = 0u; j < NB; j++)
                if (j < nb) carry[cbase + carry_index(d, n0 + j)] = s[j];
    }
}
