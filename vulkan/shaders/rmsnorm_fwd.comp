#version 450
// out = x * rstd * w, rstd[t] = 1/sqrt(mean(x_t^2) + eps): one workgroup per
// row (rows beyond the grid loop), a fixed-order tree for the sum.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Out { float outv[]; };
layout(std430, binding = 3) writeonly buffer Rstd { float rstd[]; };
layout(push_constant) uniform P { uint T, D, o_x, o_w, o_out, o_rstd; float eps; } p;

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint t = gl_WorkGroupID.x; t < p.T; t += gl_NumWorkGroups.x) {
        const uint row = t * p.D;
        float s = 0.0;
        for (uint d = lane; d < p.D; d += wg) {
            const float v = x[p.o_x + row + d];
            s += v * v;
        }
        part[lane] = s;
        barrier();
        for (uint h = wg / 2; h > 0; h /= 2) {
            if (lane < h) part[lane] += part[lane + h];
            barrier();
        }
        const float r = 1.0 / sqrt(part[0] / float(p.D) + p.eps);
        barrier(); // part is reused by the next row
        if (lane == 0) rstd[p.o_rstd + t] = r;
        for (uint d = lane; d < p.D; d += wg) outv[p.o_out + row + d] = x[p.o_x + row + d] * r * w[p.o_w + d];
    }
}
