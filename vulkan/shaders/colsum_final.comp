#version 450
// dst[c] += sum over blocks b (in order) of part[b, c].
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) buffer Dst { float dst[]; };
layout(push_constant) uniform P { uint cols, blocks, o_dst; } p;

void main()
{
    const uint c = gl_GlobalInvocationID.x;
    if (c >= p.cols) return;
    float s = 0.0;
    for (uint b = 0; b < p.blocks; b++) s += part[b * p.cols + c];
    dst[p.o_dst + c] = dst[p.o_dst + c] + s;
}
