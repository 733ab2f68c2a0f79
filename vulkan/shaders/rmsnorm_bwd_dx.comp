#version 450
// dx += r (w g) - x r^3 / D * sum(w g x), r = rstd[t]: one workgroup per row.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Rstd { float rstd[]; };
layout(std430, binding = 3) readonly buffer G { float g[]; };
layout(std430, binding = 4) buffer Dx { float dx[]; };
layout(push_constant) uniform P { uint T, D, o_x, o_w, o_rstd, o_g, o_dx; } p;

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint t = gl_WorkGroupID.x; t < p.T; t += gl_NumWorkGroups.x) {
        const uint row = t * p.D;
        float s = 0.0;
        for (uint d = lane; d < p.D; d += wg) s += w[p.o_w + d] * g[p.o_g + row + d] * x[p.o_x + row + d];
        part[lane] = s;
        barrier();
        for (uint h = wg / 2; h > 0; h /= 2) {
            if (lane < h) part[lane] += part[lane + h];
            barrier();
        }
        const float r = rstd[p.o_rstd + t];
        const float c = part[0] * r * r * r / float(p.D);
        barrier();
        for (uint d = lane; d < p.D; d += wg) {
            const uint at = p.o_dx + row + d;
            dx[at] = dx[at] + (r * w[p.o_w + d] * g[p.o_g + row + d] - c * x[p.o_x + row + d]);
        }
    }
}
