#version 450
// dtable[tok[t], :] += dout[t, :], in token order, as the CPU does: the
// invocation of (column d, class c) walks all T tokens and adds those whose
// id is c modulo P, so each (row, column) is summed by one invocation in
// token order (deterministic, no atomics) and P * D invocations work.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Tok { int tok[]; };
layout(std430, binding = 1) readonly buffer Dout { float dout[]; };
layout(std430, binding = 2) buffer Dtable { float dtable[]; };
layout(push_constant) uniform P { uint T, D, o_tok, o_dout, o_dtable, P; } p;

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.D * p.P) return;
    const uint c = i / p.D, d = i - c * p.D;
    for (uint t = 0; t < p.T; t++) {
        const uint v = uint(tok[p.o_tok + t]);
        if (v % p.P != c) continue;
        const uint at = p.o_dtable + v * p.D + d;
        dtable[at] = dtable[at] + dout[p.o_dout + t * p.D + d];
    }
}
