#version 450
// y = softplus(x) with PyTorch's threshold 20 (y = x above it), as
// max(x, 0) + log1p(exp(-|x|)); GLSL has no log1p, and log(1 + e) loses
// the digits of a small e (softplus of the dt projection is ~1e-3).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, o_x, o_y; } p;

// log1p(e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3, by its series
// (the first omitted term is below 1e-9 relative).
float log1p01(float e)
{
    const float s = e / (2.0 + e), s2 = s * s;
    float q = 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    q = q * s2 + 1.0;
    return 2.0 * s * q;
}

void main()
{
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const float v = x[p.o_x + i];
        y[p.o_y + i] = v > 20.0 ? v : max(v, 0.0) + log1p01(exp(-abs(v)));
    }
}
