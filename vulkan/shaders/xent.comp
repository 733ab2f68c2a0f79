#version 450
// Cross-entropy per row (one workgroup per row, rows beyond the grid loop):
// loss[t] = logsumexp(l_t) - l_t[target]; with scale != 0, l_t becomes
// (softmax - onehot) * scale. Target < 0: loss 0 (and l_t zeros).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer L { float l[]; };
layout(std430, binding = 1) readonly buffer Tg { int tg[]; };
layout(std430, binding = 2) writeonly buffer Loss { float loss[]; };
layout(push_constant) uniform P { uint T, V, o_l, o_tg, o_loss; float scale; } p;

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint t = gl_WorkGroupID.x; t < p.T; t += gl_NumWorkGroups.x) {
        const uint row = p.o_l + t * p.V;
        const int target = tg[p.o_tg + t];
        if (target < 0) {
            if (lane == 0) loss[p.o_loss + t] = 0.0;
            if (p.scale != 0.0)
                for (uint v = lane; v < p.V; v += wg) l[row + v] = 0.0;
            continue;
        }
        float m = l[row];
        for (uint v = lane; v < p.V; v += wg) m = max(m, l[row + v]);
        part[lane] = m;
        barrier();
        for (uint h = wg / 2; h > 0; h /= 2) {
            if (lane < h) part[lane] = max(part[lane], part[lane + h]);
            barrier();
        }
        const float mx = part[0];
        barrier();
        float s = 0.0;
        for (uint v = lane; v < p.V; v += wg) s += exp(l[row + v] - mx);
        part[lane] = s;
        barrier();
        for (uint h = wg / 2; h > 0; h /= 2) {
            if (lane < h) part[lane] += part[lane + h];
            barrier();
        }
        const float lse = mx + log(part[0]);
        if (lane == 0) loss[p.o_loss + t] = lse - l[row + uint(target)];
        barrier(); // the target's logit is read before anyone overwrites it
        if (p.scale != 0.0)
            for (uint v = lane; v < p.V; v += wg)
                l[row + v] = exp(l[row + v] - lse) * p.scale - (v == uint(target) ? p.scale : 0.0);
    }
}
