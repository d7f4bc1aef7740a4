// norm.comp — one workgroup per (group, row): y = (x − mean)/sqrt(var + eps)·g + b over the gs
// values of the group (biased variance, mean first then the squared deviations).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uvec2 x, y, g, b;
    int T, n, gs;
    float eps;
} pc;

void main() {
    const uint grp = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint gs = uint(pc.gs), g0 = grp * gs, base = t * uint(pc.n) + g0;
    F32 X = F32(pc.x);
    float s = 0.0;
    for (uint i = tid; i < gs; i += gl_WorkGroupSize.x) s += X.v[base + i];
    const float mean = wg_sum(s) / float(gs);
    float q = 0.0;
    for (uint i = tid; i < gs; i += gl_WorkGroupSize.x) {
        float dv = X.v[base + i] - mean;
        q += dv * dv;
    }
    const float var = wg_sum(q) / float(gs);
    const float inv = 1.0 / sqrt(var + pc.eps);
    for (uint i = tid; i < gs; i += gl_WorkGroupSize.x)
        F32(pc.y).v[base + i] = (X.v[base + i] - mean) * inv * F32(pc.g).v[g0 + i] + F32(pc.b).v[g0 + i];
}
