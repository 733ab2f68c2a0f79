#version 450
// part[g] = sum of x^2 over the elements workgroup g visits (grid stride,
// a fixed grid and a fixed tree: deterministic); the host adds the parts
// in double.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Part { float part_out[]; };
layout(push_constant) uniform P { uint n, o_x; } p;

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    const uint stride = gl_NumWorkGroups.x * wg;
    float s = 0.0;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const float v = x[p.o_x + i];
        s += v * v;
    }
    part[lane] = s;
    barrier();
    for (uint h = wg / 2; h > 0; h /= 2) {
        if (lane < h) part[lane] += part[lane + h];
        barrier();
    }
    if (lane == 0) part_out[gl_WorkGroupID.x] = part[0];
}
