// l2norm.comp — one workgroup per (group, row): y = x / max(‖x‖, 1e-12) over the gs values.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uvec2 x, y;
    int T, n, gs;
} pc;

void main() {
    const uint grp = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint gs = uint(pc.gs), base = t * uint(pc.n) + grp * gs;
    F32 X = F32(pc.x);
    float s = 0.0;
    for (uint i = tid; i < gs; i += gl_WorkGroupSize.x) {
        float v = X.v[base + i];
        s += v * v;
    }
    const float inv = 1.0 / max(sqrt(wg_sum(s)), 1e-12);
    for (uint i = tid; i < gs; i += gl_WorkGroupSize.x) F32(pc.y).v[base + i] = X.v[base + i] * inv;
}
