#version 450
// loss[r] = mean_c (pred - target)^2 per row (one workgroup per row); with
// scale != 0, pred becomes scale 2 (pred - target) / cols.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer Pred { float pred[]; };
layout(std430, binding = 1) readonly buffer Tgt { float tgt[]; };
layout(std430, binding = 2) writeonly buffer Loss { float loss[]; };
layout(push_constant) uniform P { uint rows, cols, o_pred, o_tgt, o_loss; float scale; } p;

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint lane = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint row = r * p.cols;
        float s = 0.0;
        for (uint c = lane; c < p.cols; c += wg) {
            const float e = pred[p.o_pred + row + c] - tgt[p.o_tgt + row + c];
            s += e * e;
        }
        part[lane] = s;
        barrier();
        for (uint h = wg / 2; h > 0; h /= 2) {
            if (lane < h) part[lane] += part[lane + h];
            barrier();
        }
        if (lane == 0) loss[p.o_loss + r] = part[0] / float(p.cols);
        barrier();
        // Each lane rewrites only the elements it read.
        if (p.scale != 0.0)
            for (uint c = lane; c < p.cols; c += wg) {
                const uint at = p.o_pred + row + c;
                pred[at] = p.scale * 2.0 * (pred[at] - tgt[p.o_tgt + row + c]) / float(p.cols);
            }
    }
}
