#version 450
// Causal depthwise conv1d + SiLU (simd/conv_ref.c):
//   out[(b, t), d] = SiLU(bias[d] + sum_k w[d, k] x[(b, t - K + 1 + k), d])
// before t = 0 the history hist (B, K-1, D), oldest first, or zeros.
// Position (b, t) is row rows[b L + t] (has_rows) or b L + t. Invocations:
// x over channels, workgroups along y walk the positions (any B L).
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) readonly buffer Wb { float w[]; };
layout(std430, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, binding = 4) readonly buffer Hb { float hist[]; };
layout(std430, binding = 5) writeonly buffer Ob { float o[]; };

layout(push_constant) uniform P {
    uint B, L, D, K, ldx;
    uint off_rows, off_x, off_w, off_b, off_hist, off_out;
    uint has_rows, has_hist;
} p;

uint row(uint b, uint t)
{
    const uint i = b * p.L + t;
    return p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
}

void main()
{
    const uint d = gl_GlobalInvocationID.x;
    if (d >= p.D) return;
    for (uint q = gl_WorkGroupID.y; q < p.B * p.L; q += gl_NumWorkGroups.y) {
        const uint b = q / p.L, t = q % p.L;
        float s = bias[p.off_b + d];
        for (uint k = 0u; k < p.K; k++) {
            const int tt = int(t) - int(p.K - 1u) + int(k);
            const float wk = w[p.off_w + d * p.K + k];
            if (tt >= 0)
                s += wk * x[p.off_x + row(b, uint(tt)) * p.ldx + d];
            else if (p.has_hist != 0u)
                s += wk * hist[p.off_hist + (b * (p.K - 1u) + uint(int(p.K) - 1 + tt)) * p.D + d];
        }
        o[p.off_out + row(b, t) * p.D + d] = s / (1.0 + exp(-s));
    }
}
