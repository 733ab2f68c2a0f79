#version 450
// dw[d] += sum_t g x r, one invocation per column walking the rows in
// order (the CPU's order; a blocked two-pass sum is a later step).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Rstd { float rstd[]; };
layout(std430, binding = 2) readonly buffer G { float g[]; };
layout(std430, binding = 3) buffer Dw { float dw[]; };
layout(push_constant) uniform P { uint T, D, o_x, o_rstd, o_g, o_dw; } p;

void main()
{
    const uint d = gl_GlobalInvocationID.x;
    if (d >= p.D) return;
    float s = dw[p.o_dw + d];
    for (uint t = 0; t < p.T; t++) s += g[p.o_g + t * p.D + d] * x[p.o_x + t * p.D + d] * rstd[p.o_rstd + t];
    dw[p.o_dw + d] = s;
}
