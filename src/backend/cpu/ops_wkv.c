/* ops_wkv.c — the RWKV-5/6 WKV recurrence (scalar reference, written so that the compiler can
 * vectorize the inner loop over value channels: restrict-qualified rows, no aliasing). */
#include "ops.h"

/* One head, one token: y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);  S[i][j] = S[i][j]·w[i] + k[i]·v[j].
 * S is the head's [N key][N value] block; r, k, w, u are the head's key channels, v and y its
 * value channels. The arithmetic per element is the same, in the same order, as the textbook loop. */
static void wkv5_head(float *restrict S, float *restrict y, const float *restrict r, const float *restrict k,
                      const float *restrict v, const float *restrict w, const float *restrict u, int N) {
    for (int j = 0; j < N; j++) y[j] = 0.0f;
    for (int i = 0; i < N; i++) {
        const float ri = r[i], ki = k[i], rui = ri * u[i] * ki, wi = w[i];
        float *restrict Si = S + (size_t)i * N;
        int j = 0;
        /* blocks of 8 independent lanes (straight-line code the SLP vectorizer packs at -O2) */
        for (; j + 8 <= N; j += 8) {
            float yb[8], sb[8];
            for (int q = 0; q < 8; q++) {
                yb[q] = y[j + q] + (ri * Si[j + q] + rui * v[j + q]);
                sb[q] = Si[j + q] * wi + ki * v[j + q];
            }
            for (int q = 0; q < 8; q++) {
                y[j + q] = yb[q];
                Si[j + q] = sb[q];
            }
        }
        for (; j < N; j++) {
            y[j] += ri * Si[j] + rui * v[j];
            Si[j] = Si[j] * wi + ki * v[j];
        }
    }
}

void rwkv_op_wkv5(rwkv_ctx *ctx, float *S, const float *r, const float *w, int w_per_token,
                  const float *k, const float *v, const float *u, float *y, int T, int H, int N) {
    (void)ctx;
    const size_t C = (size_t)H * N;
    for (int t = 0; t < T; t++) {
        const size_t base = (size_t)t * C;
        const float *wt = w + (w_per_token ? base : 0);
        for (int h = 0; h < H; h++) {
            const size_t hb = (size_t)h * N;
            wkv5_head(S + hb * N, y + base + hb, r + base + hb, k + base + hb, v + base + hb, wt + hb, u + hb, N);
        }
    }
}
