#version 450
// dst[i, 0:cols] = src[idx[i], 0:cols], src with row stride ld_src.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Idx { int idx[]; };
layout(std430, binding = 1) readonly buffer Src { float src[]; };
layout(std430, binding = 2) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform P { uint rows, cols, ld_src, o_idx, o_src, o_dst; } p;

void main()
{
    const uint n = p.rows * p.cols, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        const uint r = i / p.cols, c = i - r * p.cols;
        dst[p.o_dst + i] = src[p.o_src + uint(idx[p.o_idx + r]) * p.ld_src + c];
    }
}
