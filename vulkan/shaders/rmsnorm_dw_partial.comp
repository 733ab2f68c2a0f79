#version 450
// part[b, d] = sum of g x r over rows of block b, in order (the first pass
// of RMSNorm's weight gradient; colsum_final adds the blocks in order).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Rstd { float rstd[]; };
layout(std430, binding = 2) readonly buffer G { float g[]; };
layout(std430, binding = 3) writeonly buffer Part { float part[]; };
layout(push_constant) uniform P { uint T, D, o_x, o_rstd, o_g, R, blocks; } p;

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.D * p.blocks) return;
    const uint b = i / p.D, d = i - b * p.D, t1 = min(p.T, (b + 1) * p.R);
    float s = 0.0;
    for (uint t = b * p.R; t < t1; t++) s += g[p.o_g + t * p.D + d] * x[p.o_x + t * p.D + d] * rstd[p.o_rstd + t];
    part[i] = s;
}
