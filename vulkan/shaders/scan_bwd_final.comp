#version 450
// Selective scan backward, last pass: dA_log[d, n] += dA_b[d, n] A[d, n] and
// dD[d] += dD_b[d] for b = 0, 1, ... in order (simd/scan_ref.c adds each
// batch row's sums the same way), from the per-(b, d) partials that
// scan_bwd_chunk left in work (DA, DD). Invocation: d N + n.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer ALb { float A_log[]; };
layout(std430, binding = 1) readonly buffer Wk { float work[]; };
layout(std430, binding = 2) buffer DAb { float dA_log[]; };
layout(std430, binding = 3) buffer DDb { float dD[]; };

layout(push_constant) uniform P {
    uint B, D, N, cs;
    uint off_A, off_work, off_dA, off_dD;
} p;

void main()
{
    const uint q = gl_GlobalInvocationID.x;
    const uint N = p.N, D = p.D;
    if (q >= D * N) return;
    const uint d = q / N, n = q % N, BD = p.B * D;
    const uint wDA = p.off_work + 2u * p.cs * N * BD + N * BD, wDD = wDA + N * BD;
    const float A = -exp(A_log[p.off_A + q]);
    float acc = dA_log[p.off_dA + q];
    for (uint b = 0u; b < p.B; b++) acc += work[wDA + n * BD + b * D + d] * A;
    dA_log[p.off_dA + q] = acc;
    if (n == 0u) {
        float s = dD[p.off_dD + d];
        for (uint b = 0u; b < p.B; b++) s += work[wDD + b * D + d];
        dD[p.off_dD + d] = s;
    }
}
