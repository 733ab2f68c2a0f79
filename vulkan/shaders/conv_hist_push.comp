#version 450
// The conv history update (mom_conv_hist_push): hist (B, K-1, D) becomes
// the last K-1 inputs of hist then x. Run after conv_silu_fwd has read the
// old history (its own dispatch). One invocation per (b, d) walks j
// ascending: entry j reads x or the old entry j + L > j, not yet replaced.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) buffer Hb { float hist[]; };

layout(push_constant) uniform P {
    uint B, L, D, K, ldx;
    uint off_rows, off_x, off_hist;
    uint has_rows;
} p;

void main()
{
    const uint d = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (d >= p.D || b >= p.B) return;
    for (uint j = 0u; j + 1u < p.K; j++) {
        const int tt = int(p.L) - int(p.K - 1u) + int(j);
        float v;
        if (tt >= 0) {
            const uint i = b * p.L + uint(tt);
            const uint r = p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
            v = x[p.off_x + r * p.ldx + d];
        } else {
            v = hist[p.off_hist + (b * (p.K - 1u) + uint(int(p.K) - 1 + tt)) * p.D + d];
        }
        hist[p.off_hist + (b * (p.K - 1u) + j) * p.D + d] = v;
    }
}
