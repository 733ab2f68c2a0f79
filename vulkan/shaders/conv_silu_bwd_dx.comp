#version 450
// Conv + SiLU backward, the input gradient (simd/conv_ref.c, no history):
//   g(t) = dout(t) silu'(pre(t)),  silu'(p) = sig(p) (1 + p (1 - sig(p)))
//   dx[(b, tt), d] = sum over t = tt .. tt+K-1 (< L) of g(t) w[d, K-1-(t-tt)]
// summed in t order, as the reference accumulates. Written, not added.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) readonly buffer Wb { float w[]; };
layout(std430, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, binding = 4) readonly buffer Gb { float dout[]; };
layout(std430, binding = 5) writeonly buffer DXb { float dx[]; };

layout(push_constant) uniform P {
    uint B, L, D, K, ldx, lddx;
    uint off_rows, off_x, off_w, off_b, off_dout, off_dx;
    uint has_rows;
} p;

uint row(uint b, uint t)
{
    const uint i = b * p.L + t;
    return p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
}

// dL/dpre at (b, t), channel d.
float grad_pre(uint b, uint t, uint d)
{
    float s = bias[p.off_b + d];
    for (uint k = 0u; k < p.K; k++) {
        const int tt = int(t) - int(p.K - 1u) + int(k);
        if (tt >= 0) s += w[p.off_w + d * p.K + k] * x[p.off_x + row(b, uint(tt)) * p.ldx + d];
    }
    const float sg = 1.0 / (1.0 + exp(-s));
    return dout[p.off_dout + row(b, t) * p.D + d] * sg * (1.0 + s * (1.0 - sg));
}

void main()
{
    const uint d = gl_GlobalInvocationID.x;
    if (d >= p.D) return;
    for (uint q = gl_WorkGroupID.y; q < p.B * p.L; q += gl_NumWorkGroups.y) {
        const uint b = q / p.L, tt = q % p.L;
        float acc = 0.0;
        for (uint j = 0u; j < p.K && tt + j < p.L; j++)
            acc += grad_pre(b, tt + j, d) * w[p.off_w + d * p.K + (p.K - 1u - j)];
        dx[p.off_dx + row(b, tt) * p.lddx + d] = acc;
    }
}
