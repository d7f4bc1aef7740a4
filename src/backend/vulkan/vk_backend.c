/* vk_backend.c — the Vulkan backend's entry point: the ops table, assembled from the device
 * layer (vk_device.c: memory, transfers, sync) and the compute ops (vk_ops.c), every entry run
 * under the backend's lock, and rwkv_backend_vulkan_new. */
#include "backend/vulkan/vk.h"

/* The ops table: every entry point runs under the backend's lock (the implementations, in g_impl,
 * may call each other through be->ops: the lock is recursive). */
static rwkv_backend_ops g_ops, g_impl;
static pthread_once_t g_ops_once = PTHREAD_ONCE_INIT;

static vk_backend *lock(rwkv_backend *be) {
    vk_backend *b = (vk_backend *)be;
    pthread_mutex_lock(&b->lock);
    return b;
}
static void unlock(vk_backend *b) { pthread_mutex_unlock(&b->lock); }

#define LOCKED(name, params, args)                                                                 \
    static void locked_##name params {                                                             \
        vk_backend *b = lock(be);                                                                  \
        g_impl.name args;                                                                          \
        unlock(b);                                                                                 \
    }
#define LOCKED_ST(name, params, args)                                                              \
    static rwkv_status locked_##name params {                                                      \
        vk_backend *b = lock(be);                                                                  \
        const rwkv_status st = g_impl.name args;                                                   \
        unlock(b);                                                                                 \
        return st;                                                                                 \
    }
LOCKED_ST(alloc, (rwkv_backend * be, size_t n, rwkv_ptr *out), (be, n, out))
LOCKED(mem_free, (rwkv_backend * be, rwkv_ptr p), (be, p))
LOCKED_ST(upload, (rwkv_backend * be, rwkv_ptr dst, const void *src, size_t n), (be, dst, src, n))
LOCKED_ST(download, (rwkv_backend * be, void *dst, rwkv_ptr src, size_t n), (be, dst, src, n))
LOCKED(copy, (rwkv_backend * be, rwkv_ptr dst, rwkv_ptr src, size_t n), (be, dst, src, n))
LOCKED_ST(weight, (rwkv_backend * be, rwkv_weight *w), (be, w))
LOCKED(plan_begin, (rwkv_backend * be), (be))
LOCKED_ST(plan_end, (rwkv_backend * be), (be))
LOCKED(embed, (rwkv_backend * be, const rwkv_weight *e, const int32_t *tok, int T, rwkv_ptr x), (be, e, tok, T, x))
LOCKED(linear, (rwkv_backend * be, const rwkv_linear_job *j, int n, int T), (be, j, n, T))
LOCKED(norm, (rwkv_backend * be, rwkv_ptr x, rwkv_ptr y, rwkv_ptr g, rwkv_ptr b_, int T, int n, int gs, float eps),
       (be, x, y, g, b_, T, n, gs, eps))
LOCKED(l2norm, (rwkv_backend * be, rwkv_ptr x, rwkv_ptr y, int T, int n, int gs), (be, x, y, T, n, gs))
LOCKED(act, (rwkv_backend * be, rwkv_act k, rwkv_ptr x, rwkv_ptr bias, rwkv_ptr y, int T, int n),
       (be, k, x, bias, y, T, n))
LOCKED(ew, (rwkv_backend * be, rwkv_ew_kind k, int T, int n, rwkv_ptr y, int ldy, rwkv_operand a, rwkv_operand b_,
            rwkv_operand c, rwkv_operand d),
       (be, k, T, n, y, ldy, a, b_, c, d))
LOCKED(shift, (rwkv_backend * be, rwkv_ptr cur, rwkv_ptr prev, int T, int C, size_t off, const rwkv_seg *seg, int nseg),
       (be, cur, prev, T, C, off, seg, nseg))
LOCKED(wkv7, (rwkv_backend * be, size_t off, rwkv_ptr r, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v, rwkv_ptr kk, rwkv_ptr a,
              rwkv_ptr y, int T, int H, int N, rwkv_ptr ln_w, rwkv_ptr ln_b, float eps, rwkv_ptr r_k, rwkv_ptr g,
              const rwkv_seg *seg, int nseg),
       (be, off, r, w, k, v, kk, a, y, T, H, N, ln_w, ln_b, eps, r_k, g, seg, nseg))
LOCKED(wkv5, (rwkv_backend * be, size_t off, rwkv_ptr r, rwkv_ptr w, int wpt, rwkv_ptr k, rwkv_ptr v, rwkv_ptr u,
              rwkv_ptr y, int T, int H, int N, const rwkv_seg *seg, int nseg),
       (be, off, r, w, wpt, k, v, u, y, T, H, N, seg, nseg))
LOCKED(wkv4, (rwkv_backend * be, size_t off, rwkv_ptr u, rwkv_ptr w, rwkv_ptr k, rwkv_ptr v, rwkv_ptr y, int T, int C,
              const rwkv_seg *seg, int nseg),
       (be, off, u, w, k, v, y, T, C, seg, nseg))
LOCKED_ST(sync, (rwkv_backend * be), (be))

static void fill_ops(void) {
    vk_device_fill_ops(&g_impl);
    vk_fill_ops(&g_impl);
    g_ops = (rwkv_backend_ops){
        .free = g_impl.free,     .info = g_impl.info,       .set_threads = NULL,     .alloc = locked_alloc,
        .mem_free = locked_mem_free, .upload = locked_upload, .download = locked_download, .copy = locked_copy,
        .weight = locked_weight, .plan_begin = locked_plan_begin, .plan_end = locked_plan_end,
        .embed = locked_embed,   .linear = locked_linear,   .norm = locked_norm,     .l2norm = locked_l2norm,
        .act = locked_act,       .ew = locked_ew,           .shift = locked_shift,   .wkv7 = locked_wkv7,
        .wkv5 = locked_wkv5,     .wkv4 = locked_wkv4,       .sync = locked_sync};
}

rwkv_status rwkv_backend_vulkan_new(const rwkv_backend_params *p, int device_index, rwkv_backend **out) {
    (void)p;
    pthread_once(&g_ops_once, fill_ops);
    return vk_device_open(device_index, &g_ops, out);
}
