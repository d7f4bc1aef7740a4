// mv.comp — decode products: Y[t][o] = Σ_k W[o][k]·X[t][k] for a few tokens (T <= NT), each weight
// read once for all of them. A workgroup owns NR consecutive rows; its invocations stride over
// the row in 16-byte chunks of weights, accumulate in fp32, and the partial sums are reduced with
// subgroupAdd and then across subgroups in shared memory (any subgroup size).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "linear.glsl"
#include "wtype.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int NT = 1;  // tokens per dispatch (T <= NT)
layout(constant_id = 2) const int NR = 1;  // rows per workgroup
layout(constant_id = 3) const int NSG = 1; // most subgroups a workgroup can have

shared float red[NSG * NR * NT];
float acc[NR * NT]; // this invocation's partial sums [row][token]

// Values per 16-byte chunk of a row's weights (or codes).
#if defined(WT_F32)
#define CW 4u
#elif defined(WT_F16) || defined(WT_BF16)
#define CW 8u
#elif defined(WT_Q8_0)
#define CW 16u
#else
#define CW 32u
#endif

// acc[r·NT + t] += chunk c of row `row` dotted with token t's inputs.
void chunk(uint row, uint c, int r) {
    const uint K = uint(pc.K);
#if defined(WT_F32)
    vec4 w4 = F4(pc.wq).v[row * (K / 4u) + c];
    float w[4] = float[4](w4.x, w4.y, w4.z, w4.w);
    const uint k = c * 4u;
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0;
        for (uint i = 0u; i < 4u; i++) s += w[i] * xval(uint(t), k + i, K);
        acc[r * NT + t] += s;
    }
#elif defined(WT_F16) || defined(WT_BF16)
    uvec4 q = U4(pc.wq).v[row * (K / 8u) + c];
    float w[8];
    for (uint i = 0u; i < 4u; i++) {
#if defined(WT_F16)
        w[2u * i] = f16lo(q[i]);
        w[2u * i + 1u] = f16hi(q[i]);
#else
        w[2u * i] = bf16lo(q[i]);
        w[2u * i + 1u] = bf16hi(q[i]);
#endif
    }
    const uint k = c * 8u;
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0;
        for (uint i = 0u; i < 8u; i++) s += w[i] * xval(uint(t), k + i, K);
        acc[r * NT + t] += s;
    }
#elif defined(WT_Q8_0)
    const uint f = row * (K / 16u) + c;
    uvec4 q = U4(pc.wq).v[f];
    const float d = f16at(U32(pc.ws), f >> 1);
    float w[16];
    for (uint i = 0u; i < 16u; i++) w[i] = float(sbyte((q[i >> 2] >> (8u * (i & 3u))) & 0xffu));
    const uint k = c * 16u;
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0;
        for (uint i = 0u; i < 16u; i++) s += w[i] * xval(uint(t), k + i, K);
        acc[r * NT + t] += s * d;
    }
#elif defined(WT_NF4)
    const uint f = row * (K / 32u) + c;  // half h = f & 1 of block f >> 1
    uvec4 q = U4(pc.wq).v[f];
    const float d = f16at(U32(pc.ws), f >> 1);
    float lo[16], hi[16];
    for (uint j = 0u; j < 16u; j++) {
        uint by = (q[j >> 2] >> (8u * (j & 3u))) & 0xffu;
        lo[j] = NF4[by & 15u];
        hi[j] = NF4[by >> 4];
    }
    const uint k = (c >> 1) * 64u + (c & 1u) * 16u;
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0;
        for (uint j = 0u; j < 16u; j++) s += lo[j] * xval(uint(t), k + j, K) + hi[j] * xval(uint(t), k + 32u + j, K);
        acc[r * NT + t] += s * d;
    }
#else // q4_0, q4_1, q5_0, q5_1: one block of 32 per chunk
    const uint b = row * (K / 32u) + c;
    uvec4 q = U4(pc.wq).v[b];
    const vec2 dm = block_dm(b);
#if defined(WT_Q5_0) || defined(WT_Q5_1)
    const uint qh = U32(pc.wh).v[b];
#endif
    float w[32];
    for (uint j = 0u; j < 16u; j++) {
        uint by = (q[j >> 2] >> (8u * (j & 3u))) & 0xffu;
        uint a = by & 15u, e = by >> 4;
#if defined(WT_Q5_0) || defined(WT_Q5_1)
        a |= ((qh >> j) & 1u) << 4;
        e |= ((qh >> (j + 16u)) & 1u) << 4;
#endif
#if defined(WT_Q4_0)
        w[j] = float(int(a) - 8);
        w[j + 16u] = float(int(e) - 8);
#elif defined(WT_Q5_0)
        w[j] = float(int(a) - 16);
        w[j + 16u] = float(int(e) - 16);
#else
        w[j] = float(a);
        w[j + 16u] = float(e);
#endif
    }
    const uint k = c * 32u;
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0, sx = 0.0;
        for (uint j = 0u; j < 32u; j++) {
            float xj = xval(uint(t), k + j, K);
            s += w[j] * xj;
#if defined(WT_HAS_MIN)
            sx += xj;
#endif
        }
        acc[r * NT + t] += s * dm.x + sx * dm.y;
    }
#endif
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint rows = uint(pc.rows), K = uint(pc.K);
    const uint row0 = group_index() * uint(NR);
    if (row0 >= rows) return; // the whole workgroup
    for (int i = 0; i < NR * NT; i++) acc[i] = 0.0;
    if (pc.vec != 0) {
        const uint nch = K / CW;
        for (uint c = tid; c < nch; c += gl_WorkGroupSize.x)
            for (int r = 0; r < NR; r++)
                if (row0 + uint(r) < rows) chunk(row0 + uint(r), c, r);
    } else {
        for (uint k = tid; k < K; k += gl_WorkGroupSize.x)
            for (int r = 0; r < NR; r++) {
                if (row0 + uint(r) >= rows) break;
                const float w = w_elem(row0 + uint(r), k);
                for (int t = 0; t < NT; t++)
                    if (t < pc.T) acc[r * NT + t] += w * xval(uint(t), k, K);
            }
    }
    for (int i = 0; i < NR * NT; i++) {
        float s = subgroupAdd(acc[i]);
        if (subgroupElect()) red[gl_SubgroupID * uint(NR * NT) + uint(i)] = s;
    }
    barrier();
    if (tid < uint(NR * NT)) {
        const uint r = tid / uint(NT), t = tid % uint(NT);
        if (row0 + r < rows && t < uint(pc.T)) {
            float s = 0.0;
            for (uint g = 0u; g < gl_NumSubgroups; g++) s += red[g * uint(NR * NT) + tid];
            store(t, row0 + r, rows, s);
        }
    }
}
