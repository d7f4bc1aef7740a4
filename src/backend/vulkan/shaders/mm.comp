// mm.comp — prefill products over a chunk of tokens: Y[t][o] = Σ_k W[o][k]·X[t][k] in tiles of
// 64 rows × 64 tokens, stepping through K 32 at a time with both operands staged (weights
// decoded to fp32) in 16 KiB of shared memory; each invocation accumulates a 4 × 4 block in fp32.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "linear.glsl"
#include "wtype.glsl"

layout(local_size_x = 256) in;

#define BO 64u
#define BT 64u
#define BK 32u

shared vec4 Ws[BK][BO / 4u]; // Ws[k][o / 4][o % 4]
shared vec4 Xs[BK][BT / 4u]; // Xs[k][t / 4][t % 4]

// Values k .. k+7 of row `row` (k a multiple of 8), 0 past the matrix.
void wload8(uint row, uint k, out float w[8]) {
    const uint K = uint(pc.K);
    for (uint i = 0u; i < 8u; i++) w[i] = 0.0;
    if (row >= uint(pc.rows) || k >= K) return;
#if defined(WT_F16) || defined(WT_BF16)
    if (pc.vec != 0) {
        uvec4 q = U4(pc.wq).v[(row * K + k) / 8u];
        for (uint i = 0u; i < 4u; i++) {
#if defined(WT_F16)
            w[2u * i] = f16lo(q[i]);
            w[2u * i + 1u] = f16hi(q[i]);
#else
            w[2u * i] = bf16lo(q[i]);
            w[2u * i + 1u] = bf16hi(q[i]);
#endif
        }
        return;
    }
#elif defined(WT_F32)
    if (pc.vec != 0) {
        vec4 a = F4(pc.wq).v[(row * K + k) / 4u], b = F4(pc.wq).v[(row * K + k) / 4u + 1u];
        w = float[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
        return;
    }
#endif
#if QK > 1
    const uint b = row * (K / QK) + k / QK;
    const vec2 dm = block_dm(b);
    for (uint i = 0u; i < 8u; i++) {
        float c = block_code(b, b * QBYTES, k % QK + i);
#if defined(WT_HAS_MIN)
        w[i] = c * dm.x + dm.y;
#else
        w[i] = c * dm.x;
#endif
    }
#else
    for (uint i = 0u; i < 8u; i++)
        if (k + i < K) w[i] = w_elem(row, k + i);
#endif
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint K = uint(pc.K), rows = uint(pc.rows), T = uint(pc.T);
    const uint o0 = gl_WorkGroupID.x * BO, t0 = gl_WorkGroupID.y * BT;
    const uint tx = tid % 16u, ty = tid / 16u;       // tokens tx·4.., rows ty·4..
    const uint lr = tid / 4u, lk = (tid % 4u) * 8u;  // the loader's row (token) and k offset
    vec4 acc[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
    for (uint k0 = 0u; k0 < K; k0 += BK) {
        float w[8], x[8];
        wload8(o0 + lr, k0 + lk, w);
        const uint t = t0 + lr;
        for (uint i = 0u; i < 8u; i++) {
            const uint k = k0 + lk + i;
            x[i] = (t < T && k < K) ? xval(t, k, K) : 0.0;
        }
        barrier();
        for (uint i = 0u; i < 8u; i++) {
            Ws[lk + i][lr / 4u][lr % 4u] = w[i];
            Xs[lk + i][lr / 4u][lr % 4u] = x[i];
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            const vec4 a = Ws[kk][ty], b = Xs[kk][tx];
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
    }
    for (uint i = 0u; i < 4u; i++) {
        const uint o = o0 + ty * 4u + i;
        if (o >= rows) break;
        for (uint j = 0u; j < 4u; j++) {
            const uint t = t0 + tx * 4u + j;
            if (t < T) store(t, o, rows, acc[i][j]);
        }
    }
}
