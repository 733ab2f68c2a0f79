#version 450
// Conv + SiLU backward, the weight and bias gradients:
//   dw[d, k] += sum_(b, t) g(b, t) x[(b, t - K + 1 + k), d],  db[d] += sum g
// One workgroup per channel; invocation i sums positions i, i + wg, ...
// (a fixed partition), then the partials are added in lane order: the same
// bits on every run of one device.
layout(local_size_x_id = 0) in;

#define KMAX 16 // d_conv <= 16 (config validation)

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) readonly buffer Wb { float w[]; };
layout(std430, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, binding = 4) readonly buffer Gb { float dout[]; };
layout(std430, binding = 5) buffer DWb { float dw[]; };
layout(std430, binding = 6) buffer DBb { float db[]; };

layout(push_constant) uniform P {
    uint B, L, D, K, ldx;
    uint off_rows, off_x, off_w, off_b, off_dout, off_dw, off_db;
    uint has_rows;
} p;

shared float part[gl_WorkGroupSize.x * (KMAX + 1)];

uint row(uint b, uint t)
{
    const uint i = b * p.L + t;
    return p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
}

void main()
{
    const uint d = gl_WorkGroupID.x, lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float acc[KMAX + 1];
    for (uint k = 0u; k <= uint(KMAX); k++) acc[k] = 0.0;
    if (d < p.D) {
        for (uint q = lane; q < p.B * p.L; q += wg) {
            const uint b = q / p.L, t = q % p.L;
            float xs[KMAX];
            float s = bias[p.off_b + d];
            for (uint k = 0u; k < p.K; k++) {
                const int tt = int(t) - int(p.K - 1u) + int(k);
                xs[k] = tt >= 0 ? x[p.off_x + row(b, uint(tt)) * p.ldx + d] : 0.0;
                if (tt >= 0) s += w[p.off_w + d * p.K + k] * xs[k];
            }
            const float sg = 1.0 / (1.0 + exp(-s));
            const float g = dout[p.off_dout + row(b, t) * p.D + d] * sg * (1.0 + s * (1.0 - sg));
            for (uint k = 0u; k < p.K; k++) acc[k] += g * xs[k];
            acc[KMAX] += g;
        }
    }
    for (uint k = 0u; k <= uint(KMAX); k++) part[lane * (KMAX + 1) + k] = acc[k];
    barrier();
    // K + 1 sums (dw[d, 0..K), db[d]), each by one lane.
    for (uint j = lane; d < p.D && j <= p.K; j += wg) {
        const uint k = j == p.K ? uint(KMAX) : j;
        float s = 0.0;
        for (uint i = 0u; i < wg; i++) s += part[i * (KMAX + 1) + k];
        if (j == p.K) db[p.off_db + d] += s;
        else dw[p.off_dw + d * p.K + k] += s;
    }
}
