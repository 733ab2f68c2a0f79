#version 450
// dbias[c] += sum over rows of dC[r, c]: one invocation per column, rows in order.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer DC { float dc[]; };
layout(std430, binding = 1) buffer Db { float db[]; };
layout(push_constant) uniform P { uint rows, cols, lddc, o_dc, o_db; } p;

void main()
{
    const uint c = gl_GlobalInvocationID.x;
    if (c >= p.cols) return;
    float s = db[p.o_db + c];
    for (uint r = 0; r < p.rows; r++) s += dc[p.o_dc + r * p.lddc + c];
    db[p.o_db + c] = s;
}
