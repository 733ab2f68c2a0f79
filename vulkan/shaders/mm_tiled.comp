#version 450
// O[i, j] (= or +=) sum_r X(i, r) Y(r, j): the three projection forms of
// ops_matmul.c are this one product with different strides,
//   X(i, r) = x[off_x + i xs_i + r xs_r],  Y(r, j) = y[off_y + r ys_r + j ys_j],
//   O(i, j) = o[off_o + i ldo + j].
// A 16x8 workgroup computes a 64x64 tile of O, 8x4 outputs per invocation
// (rows ty + 8a, columns tx + 16b), through 64x16 slices of X and 16x64 of
// Y in shared memory; each output is summed by one invocation in r order,
// so the result does not depend on the tiling's schedule. 128 invocations:
// the most Vulkan guarantees a workgroup, so the fixed 2-D size (it does
// not use specialization constant 0) runs on every device.
layout(local_size_x = 16, local_size_y = 8) in;

layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Yb { float y[]; };
layout(std430, binding = 2) buffer Ob { float o[]; };

layout(push_constant) uniform P {
    uint I, J, R;
    uint off_x, off_y, off_o;
    uint xs_i, xs_r, ys_r, ys_j, ldo;
    uint acc;     // 1: O +=
    uint x_rfast; // 1: X is contiguous along r (load r fastest), else along i
    uint y_jfast; // 1: Y is contiguous along j, else along r
} p;

#define TM 64
#define TN 64
#define TR 16

shared float xs[TR][TM];
shared float ys[TR][TN];

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint tid = ty * 16u + tx; // 0..127
    const uint i0 = gl_WorkGroupID.y * TM, j0 = gl_WorkGroupID.x * TN;

    float acc[8][4];
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = 0.0;

    for (uint r0 = 0u; r0 < p.R; r0 += TR) {
        // 1024 elements of each slice, 8 per invocation; consecutive
        // invocations read consecutive addresses of the contiguous dimension.
        for (uint q = 0u; q < 8u; q++) {
            const uint e = tid + 128u * q;
            uint ii, rr;
            if (p.x_rfast != 0u) { ii = e / TR; rr = e % TR; }
            else { rr = e / TM; ii = e % TM; }
            const uint gi = i0 + ii, gr = r0 + rr;
            xs[rr][ii] = (gi < p.I && gr < p.R) ? x[p.off_x + gi * p.xs_i + gr * p.xs_r] : 0.0;
            uint jj;
            if (p.y_jfast != 0u) { rr = e / TN; jj = e % TN; }
            else { jj = e / TR; rr = e % TR; }
            const uint gj = j0 + jj;
            const uint gr2 = r0 + rr;
            ys[rr][jj] = (gj < p.J && gr2 < p.R) ? y[p.off_y + gr2 * p.ys_r + gj * p.ys_j] : 0.0;
        }
        barrier();
        const uint rn = min(uint(TR), p.R - r0);
        for (uint r = 0u; r < rn; r++) {
            float xv[8], yv[4];
            for (int a = 0; a < 8; a++) xv[a] = xs[r][ty + 8u * uint(a)];
            for (int b = 0; b < 4; b++) yv[b] = ys[r][tx + 16u * uint(b)];
            for (int a = 0; a < 8; a++)
                for (int b = 0; b < 4; b++) acc[a][b] += xv[a] * yv[b];
        }
        barrier();
    }

    for (int a = 0; a < 8; a++) {
        const uint gi = i0 + ty + 8u * uint(a);
        if (gi >= p.I) continue;
        for (int b = 0; b < 4; b++) {
            const uint gj = j0 + tx + 16u * uint(b);
            if (gj >= p.J) continue;
            const uint k = p.off_o + gi * p.ldo + gj;
            o[k] = p.acc != 0u ? o[k] + acc[a][b] : acc[a][b];
        }
    }
}
