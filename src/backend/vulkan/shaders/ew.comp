// ew.comp — the fused elementwise kinds (rwkv_ew_kind): y[t][i] from operands a, b, c, d, each a
// [T][n] tensor with row stride ld or, with ld = 0, one [n] vector for every row. Each formula is
// evaluated as written, left to right, without fused multiply-adds (`precise`).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform PC {
    uvec2 y, a, b, c, d;
    int ldy, lda, ldb, ldc, ldd;
    int kind, T, n;
} pc;

float opnd(uvec2 p, int ld, uint t, uint i) {
    if (p == uvec2(0u)) return 0.0;
    return F32(p).v[t * uint(ld) + i];
}

float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }

void main() {
    const uint i = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (i >= uint(pc.n)) return;
    const float a = opnd(pc.a, pc.lda, t, i), b = opnd(pc.b, pc.ldb, t, i);
    const float c = opnd(pc.c, pc.ldc, t, i), d = opnd(pc.d, pc.ldd, t, i);
    precise float y;
    switch (pc.kind) {
    case 0: y = a + (b - a) * c; break;          // LERP
    case 1: y = a * c + b * (1.0 - c); break;    // MIX
    case 2: y = b - a; break;                    // SUB
    case 3: y = a + b * (c + d); break;          // ADD_MUL_SUM
    case 4: y = a * b; break;                    // MUL
    case 5: y = a * sigmoid(b); break;           // MUL_SIGMOID
    case 6: y = a * (b * sigmoid(b)); break;     // MUL_SILU
    case 7: y = a + sigmoid(b) * c; break;       // ADD_SIGMOID_MUL
    case 8: y = a * (1.0 + (b - 1.0) * c); break; // K7
    case 9: y = a + b; break;                    // ADD
    default: y = a; break;                       // COPY
    }
    F32(pc.y).v[t * uint(pc.ldy) + i] = y;
}
