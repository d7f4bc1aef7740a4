/* ops_wkv.c — the RWKV-4 and RWKV-5/6 WKV recurrences, split over the context's threads by head
 * (RWKV-5/6: the kernel table's wkv5) or by block of channels (RWKV-4): every element is computed
 * by one thread in a fixed order, so results do not depend on the thread count. */
#include "ops.h"

#include <math.h>

typedef struct wkv5_task {
    const rwkv_kernels *kt;
    float *S, *y;
    const float *r, *w, *k, *v, *u;
    int w_per_token, T, H, N;
} wkv5_task;

/* Unit h: head h over every token. */
static void wkv5_unit(void *arg, int h, int ith) {
    const wkv5_task *wt = arg;
    const size_t C = (size_t)wt->H * wt->N, hb = (size_t)h * wt->N;
    for (int t = 0; t < wt->T; t++) {
        const size_t base = (size_t)t * C;
        const float *wt_row = wt->w + (wt->w_per_token ? base : 0);
        wt->kt->wkv5(wt->S + hb * wt->N, wt->y + base + hb, wt->r + base + hb, wt->k + base + hb, wt->v + base + hb,
                  wt_row + hb, wt->u + hb, wt->N);
    }
    (void)ith;
}

void rwkv_op_wkv5(rwkv_ctx *ctx, float *S, const float *r, const float *w, int w_per_token,
                  const float *k, const float *v, const float *u, float *y, int T, int H, int N) {
    const rwkv_kernels *kt = rwkv_ctx_kernels(ctx);
    wkv5_task wt = {.kt = kt->wkv5 ? kt : rwkv_kernels_scalar(), .S = S, .y = y, .r = r, .w = w, .k = k, .v = v, .u = u, .w_per_token = w_per_token,
                    .T = T, .H = H, .N = N};
    rwkv_ctx_run(ctx, wkv5_unit, &wt, H);
}

/* Channels per RWKV-4 work unit. */
#define WKV4_BLOCK 256

typedef struct wkv4_task {
    float *aa, *bb, *pp, *y;
    const float *u, *w, *k, *v;
    int T, C;
} wkv4_task;

/* Unit b: channels [b·WKV4_BLOCK, ...) over every token. */
static void wkv4_unit(void *arg, int b, int ith) {
    const wkv4_task *wt = arg;
    const int c0 = b * WKV4_BLOCK, c1 = c0 + WKV4_BLOCK < wt->C ? c0 + WKV4_BLOCK : wt->C;
    float *aa = wt->aa, *bb = wt->bb, *pp = wt->pp;
    for (int t = 0; t < wt->T; t++) {
        const float *kt = wt->k + (size_t)t * wt->C, *vt = wt->v + (size_t)t * wt->C;
        float *yt = wt->y + (size_t)t * wt->C;
        for (int i = c0; i < c1; i++) {
            float ww = wt->u[i] + kt[i];
            float p = fmaxf(pp[i], ww);
            float e1 = expf(pp[i] - p), e2 = expf(ww - p);
            yt[i] = (e1 * aa[i] + e2 * vt[i]) / (e1 * bb[i] + e2);
            ww = wt->w[i] + pp[i];
            p = fmaxf(ww, kt[i]);
            e1 = expf(ww - p);
            e2 = expf(kt[i] - p);
            aa[i] = e1 * aa[i] + e2 * vt[i];
            bb[i] = e1 * bb[i] + e2;
            pp[i] = p;
        }
    }
    (void)ith;
}

void rwkv_op_wkv4(rwkv_ctx *ctx, float *aa, float *bb, float *pp, const float *u, const float *w,
                  const float *k, const float *v, float *y, int T, int C) {
    wkv4_task wt = {.aa = aa, .bb = bb, .pp = pp, .y = y, .u = u, .w = w, .k = k, .v = v, .T = T, .C = C};
    rwkv_ctx_run(ctx, wkv4_unit, &wt, (C + WKV4_BLOCK - 1) / WKV4_BLOCK);
}
