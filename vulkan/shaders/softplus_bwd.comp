#version 450
// dx = dy * sigmoid(x) (dy above the threshold 20).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Dy { float dy[]; };
layout(std430, binding = 2) writeonly buffer Dx { float dx[]; };
layout(push_constant) uniform P { uint n, o_x, o_dy, o_dx; } p;

void main()
{
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const float v = x[p.o_x + i], g = dy[p.o_dy + i];
        dx[p.o_dx + i] = v > 20.0 ? g : g / (1.0 + exp(-v));
    }
}
