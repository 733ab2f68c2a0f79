#version 450
// part[b, c] = sum of dC[r, c] over rows r of block b (rows b R .. b R + R - 1,
// in order): the first pass of a column sum over many rows; colsum_final
// adds the blocks in order.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer DC { float dc[]; };
layout(std430, binding = 1) writeonly buffer Part { float part[]; };
layout(push_constant) uniform P { uint rows, cols, lddc, o_dc, R, blocks; } p;

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.cols * p.blocks) return;
    const uint b = i / p.cols, c = i - b * p.cols, r1 = min(p.rows, (b + 1) * p.R);
    float s = 0.0;
    for (uint r = b * p.R; r < r1; r++) s += dc[p.o_dc + r * p.lddc + c];
    part[i] = s;
}
