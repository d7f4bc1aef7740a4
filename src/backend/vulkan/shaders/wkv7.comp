// wkv7.comp — RWKV-7 WKV with its output steps (rwkv_op_wkv7_out), one workgroup of N invocations
// per (head, segment). Invocation i keeps value row i of the head's N × N fp32 state in registers:
//   S[i][j] = S[i][j]·w[j] − (Σ_m S[i][m]·kk[m])·kk[j]·a[j] + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
// then y = GroupNorm(y)·ln_w + ln_b (eps), y += (Σ_j r[j]·k[j]·r_k[j])·v, y *= g (when ln_w is set).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint N = 64;
layout(push_constant) uniform PC {
    uvec2 r, w, k, v, kk, a, y, g;
    uvec2 ln_w, ln_b, r_k;
    uvec2 segs;  // Seg[nseg]
    int C;       // H·N
    int out_steps;
    float eps;
} pc;

shared float sr[N], sw[N], sk[N], skk[N], sa[N];

void main() {
    const uint h = gl_WorkGroupID.x, i = gl_LocalInvocationID.x, C = uint(pc.C);
    const Seg sg = SEGS(pc.segs).v[gl_WorkGroupID.y];
    F32 S = F32(sg.state);
    const uint sb = h * N * N + i * N;
    float s[N];
    for (uint j = 0u; j < N; j++) s[j] = S.v[sb + j];
    const uint hc = h * N + i;
    for (int t = sg.start; t < sg.start + sg.len; t++) {
        const uint idx = uint(t) * C + hc;
        sr[i] = F32(pc.r).v[idx];
        sw[i] = F32(pc.w).v[idx];
        sk[i] = F32(pc.k).v[idx];
        skk[i] = F32(pc.kk).v[idx];
        sa[i] = F32(pc.a).v[idx];
        barrier();
        const float vi = F32(pc.v).v[idx];
        float sab = 0.0;
        for (uint j = 0u; j < N; j++) sab += s[j] * skk[j];
        float acc = 0.0;
        for (uint j = 0u; j < N; j++) {
            s[j] = s[j] * sw[j] - sab * (skk[j] * sa[j]) + vi * sk[j];
            acc += s[j] * sr[j];
        }
        if (pc.out_steps != 0) {
            const vec2 m = wg_sum2(vec2(acc, sr[i] * sk[i] * F32(pc.r_k).v[hc]));
            const float mean = m.x / float(N), dv = acc - mean;
            const float var = wg_sum(dv * dv) / float(N);
            const float yn = dv * (1.0 / sqrt(var + pc.eps)) * F32(pc.ln_w).v[hc] + F32(pc.ln_b).v[hc];
            acc = (yn + m.y * vi) * F32(pc.g).v[idx];
        }
        F32(pc.y).v[idx] = acc;
        barrier();
    }
    for (uint j = 0u; j < N; j++) S.v[sb + j] = s[j];
}
