/* devices.c — rwkv_devices: the devices a model can run on (the Vulkan backend's list, or a clear
 * error in builds without it). */
#include "backend/backend.h"
#if defined(RWKV_VULKAN)
#include "backend/vulkan/vulkan.h"
#endif

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
