#version 450
// AdamW with torch.optim.AdamW's arithmetic (simd/adamw_ref.c); the host
// computes step_size = lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1 - lr wd.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer Pm { float pm[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
// [norm, gscale, finite] of clip_scale: the gradient scale comes from the
// device, and a non-finite norm leaves everything as it is.
layout(std430, binding = 4) readonly buffer S { float sc[]; };
layout(push_constant) uniform P {
    uint n, o_p, o_g, o_m, o_v;
    float b1, b2, eps, wd, step_size, bc2_sqrt, decay;
    uint o_s;
} p;

void main()
{
    if (sc[p.o_s + 2] == 0.0) return;
    const float gscale = sc[p.o_s + 1];
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const float gi = g[p.o_g + i] * gscale;
        float pi = pm[p.o_p + i], mi = m[p.o_m + i], vi = v[p.o_v + i];
        if (p.wd != 0.0) pi *= p.decay;
        mi += (gi - mi) * (1.0 - p.b1);
        vi = vi * p.b2 + (1.0 - p.b2) * gi * gi;
        const float denom = sqrt(vi) / p.bc2_sqrt + p.eps;
        pi -= p.step_size * (mi / denom);
        pm[p.o_p + i] = pi;
        m[p.o_m + i] = mi;
        v[p.o_v + i] = vi;
    }
}
