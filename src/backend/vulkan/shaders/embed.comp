// embed.comp — x[t] = row tokens[t] of the embedding matrix, converted to fp32. The token ids
// come from the step data (written by the host before each submit), so a recorded command
// buffer does not depend on them.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(push_constant) uniform PC {
    uvec2 wq, ws, wh;  // the matrix (wtype.glsl)
    uvec2 x;           // [T][K]
    uvec2 tok;         // [T] int32
    int rows;          // vocabulary size
    int K;             // row length
} pc;

#include "wtype.glsl"

layout(local_size_x = 64) in;

void main() {
    const uint c = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y, K = uint(pc.K);
    if (c >= K) return;
    const int id = clamp(I32(pc.tok).v[t], 0, pc.rows - 1);
    F32(pc.x).v[t * K + c] = w_elem(uint(id), c);
}
