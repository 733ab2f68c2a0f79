#version 450
// Selective scan backward, after scan_bwd_chunk of chunk c: dC and dB of the
// chunk's positions, each the sum over channels d = 0, 1, ... of the terms
// that pass left in work (S and DBC, layout in scan_bwd_chunk.comp), in
// channel order as simd/scan_ref.c sums them. Written, not added.
// Invocation x: tl N + n (tl < the chunk's length), workgroup y: batch row.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Rows { int rows[]; };
layout(std430, binding = 1) writeonly buffer DBb { float dB[]; };
layout(std430, binding = 2) writeonly buffer DCb { float dC[]; };
layout(std430, binding = 3) readonly buffer Wk { float work[]; };

layout(push_constant) uniform P {
    uint B, L, D, N, chunk, c, cs, ld_dbc;
    uint off_rows, off_dB, off_dC, off_work;
    uint has_rows;
} p;

void main()
{
    const uint q = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    const uint N = p.N, t0 = p.c * p.chunk, t1 = min(t0 + p.chunk, p.L);
    if (q >= (t1 - t0) * N || b >= p.B) return;
    const uint tl = q / N, n = q % N, BD = p.B * p.D;
    const uint src = p.off_work + (tl * N + n) * BD + b * p.D, dbc = p.cs * N * BD;
    float sc = 0.0, sb = 0.0;
    for (uint d = 0u; d < p.D; d++) {
        sc += work[src + d];
        sb += work[src + dbc + d];
    }
    const uint i = b * p.L + t0 + tl;
    const uint r = p.has_rows != 0u ? uint(rows[p.off_rows + i]) : i;
    dC[p.off_dC + r * p.ld_dbc + n] = sc;
    dB[p.off_dB + r * p.ld_dbc + n] = sb;
}
