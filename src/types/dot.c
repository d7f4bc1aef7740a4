/* dot.c — the scalar reference products of the block types (contracts in types.h). */
#include "types.h"

/* Tokens summed together by rwkv_type_dot_f32: a dequantized block is reused for this many. */
#define TOK_CHUNK 16

void rwkv_type_dot_i8(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1, const int8_t *xq,
                      const float *xd, const float *xs, int T, float *Y, int ldy) {
    const rwkv_type *ty = rwkv_type_of(dt);
    const int qk = ty ? ty->block : 0;
    if (!ty || !ty->codes || qk > RWKV_MAX_BLOCK || qk % 32 != 0 || K % qk != 0) return;
    const size_t bb = (size_t)ty->block_bytes;
    const int nb = K / qk, nx = K / 32;
    int c[RWKV_MAX_BLOCK];
    for (int o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)W + (size_t)o * rb;
        for (int t = 0; t < T; t++) {
            const int8_t *q = xq + (size_t)t * K;
            const float *d = xd + (size_t)t * nx, *s = xs + (size_t)t * nx;
            float acc = 0.0f, accm = 0.0f;
            for (int b = 0; b < nb; b++) {
                float dw, mw;
                ty->codes(row + (size_t)b * bb, c, &dw, &mw);
                for (int sb = 0; sb < qk / 32; sb++) {
                    const int xb = b * (qk / 32) + sb;
                    int32_t isum = 0;
                    for (int j = 0; j < 32; j++) isum += c[32 * sb + j] * q[32 * xb + j];
                    acc += (float)isum * (dw * d[xb]);
                    accm += mw * s[xb];
                }
            }
            Y[(size_t)t * ldy + o] = acc + accm;
        }
    }
}

void rwkv_type_dot_f32(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1, const float *X, int T,
                       float *Y, int ldy) {
    const rwkv_type *ty = rwkv_type_of(dt);
    const int qk = ty ? ty->block : 0;
    if (!ty || qk > RWKV_MAX_BLOCK || qk % 8 != 0 || K % qk != 0) return;
    const size_t bb = (size_t)ty->block_bytes;
    float w[RWKV_MAX_BLOCK];
    for (int o = o0; o < o1; o++) {
        const unsigned char *row = (const unsigned char *)W + (size_t)o * rb;
        for (int t0 = 0; t0 < T; t0 += TOK_CHUNK) {
            const int nt = T - t0 < TOK_CHUNK ? T - t0 : TOK_CHUNK;
            float s[TOK_CHUNK][8] = {{0}};
            for (int b = 0; b < K / qk; b++) { /* blocks are whole multiples of 8: the order of dot8 */
                ty->to_f32(row + (size_t)b * bb, w, (size_t)qk);
                for (int t = 0; t < nt; t++) {
                    const float *x = X + (size_t)(t0 + t) * K + (size_t)b * qk;
                    for (int i = 0; i < qk; i += 8)
                        for (int j = 0; j < 8; j++) s[t][j] += w[i + j] * x[i + j];
                }
            }
            for (int t = 0; t < nt; t++)
                Y[(size_t)(t0 + t) * ldy + o] =
                    ((s[t][0] + s[t][4]) + (s[t][1] + s[t][5])) + ((s[t][2] + s[t][6]) + (s[t][3] + s[t][7]));
        }
    }
}
