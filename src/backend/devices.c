/* devices.c — rwkv_devices: the devices a model can run on (the Vulkan backend's list, or a clear
 * error in builds without it); rwkv_device_bandwidth: a device's copy bandwidth. */
#include "backend/backend.h"
#if defined(RWKV_VULKAN)
#include "backend/vulkan/vulkan.h"
#endif

#include <time.h>

rwkv_status rwkv_devices(rwkv_device_info *out, int cap, int *n) {
    if (!n || cap < 0 || (cap > 0 && !out)) return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_devices: bad arguments");
    *n = 0;
#if defined(RWKV_VULKAN)
    return rwkv_vk_devices(out, cap, n);
#else
    (void)out;
    return rwkv_fail(RWKV_ERR_UNSUPPORTED, "this build has no Vulkan backend (build it with glslc and the Vulkan "
                                           "headers installed: Debian glslc, libvulkan-dev)");
#endif
}

rwkv_status rwkv_device_bandwidth(const char *device, int mib, int reps, double *gb_per_s) {
    if (!device || !gb_per_s || mib < 1 || mib > (1 << 20) || reps < 1)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "rwkv_device_bandwidth: bad arguments");
    *gb_per_s = 0;
    const rwkv_backend_params p = {.device = device};
    rwkv_backend *be = NULL;
    rwkv_status st = rwkv_backend_new(&p, &be);
    if (st != RWKV_OK) return st;
    rwkv_backend_info info;
    be->ops->info(be, &info);
    if (info.host_memory) {
        rwkv_backend_free(be);
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "rwkv_device_bandwidth: the %s backend has no copy kernel to time",
                         info.name);
    }
    const size_t bytes = (size_t)mib << 20;
    rwkv_ptr src = {0}, dst = {0};
    st = be->ops->alloc(be, bytes, &src);
    if (st == RWKV_OK) st = be->ops->alloc(be, bytes, &dst);
    for (int r = -1; r < reps && st == RWKV_OK; r++) { /* r = -1: a warm-up */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        be->ops->copy(be, dst, src, bytes);
        st = be->ops->sync(be);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
#if defined(RWKV_VULKAN)
        if (!strcmp(info.name, "vulkan") && rwkv_vk_last_gpu_ms(be) > 0) ms = rwkv_vk_last_gpu_ms(be);
#endif
        const double gbs = ms > 0 ? 2.0 * (double)bytes / (ms * 1e6) : 0;
        if (r >= 0 && gbs > *gb_per_s) *gb_per_s = gbs;
    }
    rwkv_backend_free(be); /* frees its memory too */
    return st;
}
