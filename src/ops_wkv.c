/* ops_wkv.c — the RWKV-5/6 WKV recurrence (scalar reference). */
#include "ops.h"

void rwkv_op_wkv5(rwkv_ctx *ctx, float *S, const float *r, const float *w, int w_per_token,
                  const float *k, const float *v, const float *u, float *y, int T, int H, int N) {
    (void)ctx;
    const size_t C = (size_t)H * N;
    for (int t = 0; t < T; t++) {
        const size_t base = (size_t)t * C;
        const float *wt = w + (w_per_token ? base : 0);
        for (int h = 0; h < H; h++) {
            const size_t hb = (size_t)h * N;
            float *Sh = S + hb * N;               /* [N key][N value] */
            float *yh = y + base + hb;
            const float *vh = v + base + hb;
            for (int j = 0; j < N; j++) yh[j] = 0.0f;
            for (int i = 0; i < N; i++) {
                const float ri = r[base + hb + i], ki = k[base + hb + i];
                const float rui = ri * u[hb + i] * ki, wi = wt[hb + i];
                float *Si = Sh + (size_t)i * N;
                /* y[j] += r[i]·(u[i]·k[i]·v[j] + S[i][j]);  S[i][j] = S[i][j]·w[i] + k[i]·v[j] */
                for (int j = 0; j < N; j++) {
                    yh[j] += ri * Si[j] + rui * vh[j];
                    Si[j] = Si[j] * wi + ki * vh[j];
                }
            }
        }
    }
}
