#version 450
// out[t, :] = table[tok[t], :]; one invocation per element (grid stride).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Tok { int tok[]; };
layout(std430, binding = 1) readonly buffer Table { float table[]; };
layout(std430, binding = 2) writeonly buffer Out { float outv[]; };
layout(push_constant) uniform P { uint T, D, o_tok, o_table, o_out; } p;

void main()
{
    const uint n = p.T * p.D, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        const uint t = i / p.D, d = i - t * p.D;
        outv[p.o_out + i] = table[p.o_table + uint(tok[p.o_tok + t]) * p.D + d];
    }
}
