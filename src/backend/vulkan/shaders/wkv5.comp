// wkv5.comp — RWKV-5/6 WKV (rwkv_op_wkv5), one workgroup of N invocations per (head, segment).
// The head's state is [N key][N value]; invocation j keeps value column j in registers:
//   y[j] = Σ_i r[i]·S[i][j] + (r[i]·u[i]·k[i])·v[j];   S[i][j] = S[i][j]·w[i] + k[i]·v[j]
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint N = 64;
layout(push_constant) uniform PC {
    uvec2 r, w, k, v, u, y;
    uvec2 segs;
    int C;
    int w_per_token;
} pc;

shared float sr[N], sk[N], sw[N], su[N];

void main() {
    const uint h = gl_WorkGroupID.x, j = gl_LocalInvocationID.x, C = uint(pc.C);
    const Seg sg = SEGS(pc.segs).v[gl_WorkGroupID.y];
    F32 S = F32(sg.state);
    const uint hb = h * N * N, hc = h * N + j;
    float s[N];
    for (uint i = 0u; i < N; i++) s[i] = S.v[hb + i * N + j];
    su[j] = F32(pc.u).v[hc];
    for (int t = sg.start; t < sg.start + sg.len; t++) {
        const uint idx = uint(t) * C + hc;
        sr[j] = F32(pc.r).v[idx];
        sk[j] = F32(pc.k).v[idx];
        sw[j] = F32(pc.w).v[pc.w_per_token != 0 ? idx : hc];
        barrier();
        const float vj = F32(pc.v).v[idx];
        float y = 0.0;
        for (uint i = 0u; i < N; i++) {
            const float ri = sr[i], ki = sk[i];
            y += ri * s[i] + ri * su[i] * ki * vj;
            s[i] = s[i] * sw[i] + ki * vj;
        }
        F32(pc.y).v[idx] = y;
        barrier();
    }
    for (uint i = 0u; i < N; i++) S.v[hb + i * N + j] = s[i];
}
