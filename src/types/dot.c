/* dot.c — the scalar reference products of the block types (contracts in types.h). */
#include "types.h"

/* rwkv_type_dot_f32 dequantizes a row in pieces of K_CHUNK values (a multiple of every block size
 * up to RWKV_MAX_BLOCK) and uses each piece for up to TOK_CHUNK tokens (rwkv_type_dot_i8 each
 * block's codes). Every sum still runs over k in order, so the result does not depend on the
 * pieces. */
#define K_CHUNK 1024
#define TOK_CHUNK 16
_Static_assert(K_CHUNK % RWKV_MAX_BLOCK == 0, "pieces of whole blocks");

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
        for (int t0 = 0; t0 < T; t0 += TOK_CHUNK) { /* each block unpacked once per TOK_CHUNK tokens */
            const int nt = T - t0 < TOK_CHUNK ? T - t0 : TOK_CHUNK;
            float acc[TOK_CHUNK] = {0}, accm[TOK_CHUNK] = {0};
            for (int b = 0; b < nb; b++) {
                float dw, mw;
                ty->codes(row + (size_t)b * bb, c, &dw, &mw);
                for (int t = 0; t < nt; t++) {
                    const int8_t *q = xq + (size_t)(t0 + t) * K;
                    const float *d = xd + (size_t)(t0 + t) * nx, *s = xs + (size_t)(t0 + t) * nx;
                    for (int sb = 0; sb < qk / 32; sb++) {
                        const int xb = b * (qk / 32) + sb;
                        int32_t isum = 0;
                        for (int j = 0; j < 32; j++) isum += c[32 * sb + j] * q[32 * xb + j];
                        acc[t] += (float)isum * (dw * d[xb]);
                        accm[t] += mw * s[xb];
                    }
                }
            }
            for (int t = 0; t < nt; t++) Y[(size_t)(t0 + t) * ldy + o] = acc[t] + accm[t];
        }
    }
}

/* s[j] += Σ w[i]·x[i] over i < n with i ≡ j mod 8, in order of i (n a multiple of 8). */
static void dot8(float s[8], const float *w, const float *x, int n) {
    float a[8];
    for (int j = 0; j < 8; j++) a[j] = s[j];
    for (int i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += w[i + j] * x[i + j];
    for (int j = 0; j < 8; j++) s[j] = a[j];
}

void rwkv_type_dot_f32(rwkv_dtype dt, const void *W, size_t rb, int K, int o0, int o1, const float *X, int T,
                       float *Y, int ldy) {
    const rwkv_type *ty = rwkv_type_of(dt);
    const int qk = ty ? ty->block : 0;
    if (!ty || qk > RWKV_MAX_BLOCK || qk % 8 != 0 || K % qk != 0) return;
    float w[K_CHUNK]; /* a piece of the row, dequantized: whole blocks, a multiple of 8 values */
    for (int o = o0; o < o1; o++) {
        const unsigned char *row = (const unsigned char *)W + (size_t)o * rb;
        for (int t0 = 0; t0 < T; t0 += TOK_CHUNK) {
            const int nt = T - t0 < TOK_CHUNK ? T - t0 : TOK_CHUNK;
            float s[TOK_CHUNK][8] = {{0}};
            for (int k0 = 0; k0 < K; k0 += K_CHUNK) {
                const int n = K - k0 < K_CHUNK ? K - k0 : K_CHUNK;
                ty->to_f32(row + (size_t)(k0 / qk) * (size_t)ty->block_bytes, w, (size_t)n);
                for (int t = 0; t < nt; t++) dot8(s[t], w, X + (size_t)(t0 + t) * K + k0, n);
            }
            for (int t = 0; t < nt; t++)
                Y[(size_t)(t0 + t) * ldy + o] =
                    ((s[t][0] + s[t][4]) + (s[t][1] + s[t][5])) + ((s[t][2] + s[t][6]) + (s[t][3] + s[t][7]));
        }
    }
}
