#version 450
// C[r, c] += bias[c], C with row stride ldc.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Bias { float bias[]; };
layout(std430, binding = 1) buffer C { float cm[]; };
layout(push_constant) uniform P { uint rows, cols, ldc, o_bias, o_c; } p;

void main()
{
    const uint n = p.rows * p.cols, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        const uint r = i / p.cols, c = i - r * p.cols, at = p.o_c + r * p.ldc + c;
        cm[at] = cm[at] + bias[p.o_bias + c];
    }
}
