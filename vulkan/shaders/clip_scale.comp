#version 450
// The gradient norm and its clipping scale on the device, from the
// partial sums of sumsq_partial (added in order by one invocation):
// out = [norm, gscale, finite], gscale = clip / (norm + 1e-6) when that is
// below 1 (clip > 0), finite 0 when the norm is not a number.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform P { uint groups, o_out; float clip; } p;

void main()
{
    if (gl_GlobalInvocationID.x != 0) return;
    float s = 0.0;
    for (uint g = 0; g < p.groups; g++) s += part[g];
    const float norm = sqrt(s);
    // By bits: drivers may assume no NaN or infinity and fold isnan away.
    const bool finite = (floatBitsToUint(norm) & 0x7f800000u) != 0x7f800000u;
    float gscale = 1.0;
    if (p.clip > 0.0 && finite) gscale = min(p.clip / (norm + 1e-6), 1.0);
    o[p.o_out + 0] = norm;
    o[p.o_out + 1] = gscale;
    o[p.o_out + 2] = finite ? 1.0 : 0.0;
}
