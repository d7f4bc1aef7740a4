// wkv4.comp — RWKV-4 WKV per channel in the stable form (a running exponent pp), one invocation
// per (channel, segment); aa, bb, pp are [C] each, consecutive in the state:
//   ww = u + k; p = max(pp, ww); y = (e^(pp−p)·aa + e^(ww−p)·v) / (e^(pp−p)·bb + e^(ww−p))
//   ww = w + pp; p = max(ww, k); aa = e^(ww−p)·aa + e^(k−p)·v; bb = e^(ww−p)·bb + e^(k−p); pp = p
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform PC {
    uvec2 u, w, k, v, y;
    uvec2 segs;
    int C;
} pc;

void main() {
    const uint c = gl_GlobalInvocationID.x, C = uint(pc.C);
    if (c >= C) return;
    const Seg sg = SEGS(pc.segs).v[gl_WorkGroupID.y];
    F32 S = F32(sg.state);
    float aa = S.v[c], bb = S.v[C + c], pp = S.v[2u * C + c];
    const float u = F32(pc.u).v[c], w = F32(pc.w).v[c];
    for (int t = sg.start; t < sg.start + sg.len; t++) {
        const uint idx = uint(t) * C + c;
        const float kt = F32(pc.k).v[idx], vt = F32(pc.v).v[idx];
        float ww = u + kt;
        float p = max(pp, ww);
        float e1 = exp(pp - p), e2 = exp(ww - p);
        F32(pc.y).v[idx] = (e1 * aa + e2 * vt) / (e1 * bb + e2);
        ww = w + pp;
        p = max(ww, kt);
        e1 = exp(ww - p);
        e2 = exp(kt - p);
        aa = e1 * aa + e2 * vt;
        bb = e1 * bb + e2;
        pp = p;
    }
    S.v[c] = aa;
    S.v[C + c] = bb;
    S.v[2u * C + c] = pp;
}
