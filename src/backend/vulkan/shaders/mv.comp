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

// Inputs k .. k+3 of token t (k a multiple of 4): one 16-byte load where the rows are aligned
// (pc.vec bit 1), else four.
vec4 x4(uint t, uint k) {
    const uint K = uint(pc.K);
    if ((pc.vec & 2) != 0) return F4(pc.x).v[(t * K + k) >> 2];
    return vec4(xval(t, k, K), xval(t, k + 1u, K), xval(t, k + 2u, K), xval(t, k + 3u, K));
}

// acc[r·NT + t] += chunk c of row `row` dotted with token t's inputs. The chunk's weights (or
// codes) are unpacked once into w, in groups of 4 consecutive inputs starting at kk[g].
void chunk(uint row, uint c, int r) {
    const uint K = uint(pc.K);
#if defined(WT_F32)
    const vec4 w[1] = vec4[1](F4(pc.wq).v[row * (K / 4u) + c]);
    const uint NG = 1u;
    uint kk[1] = uint[1](c * 4u);
    const float scale = 1.0, offs = 0.0;
#elif defined(WT_F16) || defined(WT_BF16)
    const uvec4 q = U4(pc.wq).v[row * (K / 8u) + c];
#if defined(WT_F16)
    const vec4 w[2] = vec4[2](vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)));
#else
    const vec4 w[2] = vec4[2](vec4(bf16lo(q.x), bf16hi(q.x), bf16lo(q.y), bf16hi(q.y)),
                              vec4(bf16lo(q.z), bf16hi(q.z), bf16lo(q.w), bf16hi(q.w)));
#endif
    const uint NG = 2u;
    uint kk[2] = uint[2](c * 8u, c * 8u + 4u);
    const float scale = 1.0, offs = 0.0;
#elif defined(WT_Q8_0)
    const uint f = row * (K / 16u) + c;
    const uvec4 q = U4(pc.wq).v[f];
    vec4 w[4];
    uint kk[4];
    for (uint g = 0u; g < 4u; g++) {
        const uint v = q[g];
        w[g] = vec4(sbyte(v & 0xffu), sbyte((v >> 8) & 0xffu), sbyte((v >> 16) & 0xffu), sbyte(v >> 24));
        kk[g] = c * 16u + 4u * g;
    }
    const uint NG = 4u;
    const float scale = f16at(U32(pc.ws), f >> 1), offs = 0.0;
#else // 4-bit types (q4_0, q4_1, q5_0, q5_1, iq4_nl, nf4): 16 bytes of codes, low nibbles one run of
      // 16 inputs, high nibbles another
#if defined(WT_NF4)
    const uint f = row * (K / 32u) + c; // half f & 1 of block f >> 1
    const uint b = f >> 1;
    const uint k_lo = (c >> 1) * 64u + (c & 1u) * 16u, k_hi = k_lo + 32u;
#else
    const uint f = row * (K / 32u) + c; // block f
    const uint b = f;
    const uint k_lo = c * 32u, k_hi = k_lo + 16u;
#endif
    const uvec4 q = U4(pc.wq).v[f];
#if defined(WT_Q5_0) || defined(WT_Q5_1)
    const uint qh = U32(pc.wh).v[b];
#endif
    vec4 w[8];
    uint kk[8];
    for (uint g = 0u; g < 4u; g++) {
        vec4 lo, hi;
        for (uint j = 0u; j < 4u; j++) {
            const uint by = (q[g] >> (8u * j)) & 0xffu;
            uint a = by & 15u, e = by >> 4;
#if defined(WT_Q5_0) || defined(WT_Q5_1)
            a |= ((qh >> (4u * g + j)) & 1u) << 4;
            e |= ((qh >> (4u * g + j + 16u)) & 1u) << 4;
#endif
#if defined(WT_NF4)
            lo[j] = NF4[a];
            hi[j] = NF4[e];
#elif defined(WT_Q4_0)
            lo[j] = float(int(a) - 8);
            hi[j] = float(int(e) - 8);
#elif defined(WT_IQ4_NL)
            lo[j] = IQ4NL[a];
            hi[j] = IQ4NL[e];
#elif defined(WT_Q5_0)
            lo[j] = float(int(a) - 16);
            hi[j] = float(int(e) - 16);
#else
            lo[j] = float(a);
            hi[j] = float(e);
#endif
        }
        w[g] = lo;
        w[g + 4u] = hi;
        kk[g] = k_lo + 4u * g;
        kk[g + 4u] = k_hi + 4u * g;
    }
    const uint NG = 8u;
    const vec2 dm = block_dm(b);
    const float scale = dm.x, offs = dm.y;
#endif
    for (int t = 0; t < NT; t++) {
        if (t >= pc.T) break;
        float s = 0.0, sx = 0.0;
        for (uint g = 0u; g < NG; g++) {
            const vec4 xv = x4(uint(t), kk[g]);
            s += dot(w[g], xv);
#if defined(WT_HAS_MIN)
            sx += xv.x + xv.y + xv.z + xv.w;
#endif
        }
        acc[r * NT + t] += s * scale + sx * offs;
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint rows = uint(pc.rows), K = uint(pc.K);
    const uint row0 = group_index() * uint(NR);
    if (row0 >= rows) return; // the whole workgroup
    for (int i = 0; i < NR * NT; i++) acc[i] = 0.0;
    if ((pc.vec & 1) != 0) {
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
