/* registry.c — the one selector of backends (a device name → a backend) and the op check. To add a
 * backend: a folder src/backend/NAME/ with its constructor, one line in rwkv_backend_new. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rwkv_status rwkv_backend_new(const rwkv_backend_params *p, rwkv_backend **out) {
    *out = NULL;
    const char *dev = p->device && p->device[0] ? p->device : "cpu";
    if (!strcmp(dev, "cpu")) return rwkv_backend_cpu_new(p, out);
    if (!strncmp(dev, "vulkan", 6) && (dev[6] == 0 || dev[6] == ':')) {
        int index = -1; /* the first suitable device */
        if (dev[6] == ':') {
            char *end;
            long v = strtol(dev + 7, &end, 10);
            if (end == dev + 7 || *end || v < 0 || v > 255)
                return rwkv_fail(RWKV_ERR_INVALID_ARG, "device '%.64s': expected vulkan:N with N a device "
                                 "number (see `rwkv devices`)", dev);
            index = (int)v;
        }
#if defined(RWKV_VULKAN)
        return rwkv_backend_vulkan_new(p, index, out);
#else
        (void)index;
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "device '%.64s': this build of rwkv has no Vulkan backend "
                         "(build with the Vulkan headers and glslc installed)", dev);
#endif
    }
    return rwkv_fail(RWKV_ERR_INVALID_ARG, "unknown device '%.64s' (expected cpu, vulkan or vulkan:N)", dev);
}

void rwkv_backend_free(rwkv_backend *be) {
    if (be) be->ops->free(be);
}

rwkv_status rwkv_backend_check(const rwkv_backend *be, unsigned needs, const char *what) {
    const rwkv_backend_ops *o = be->ops;
    const struct {
        bool present, needed;
        const char *name;
    } ops[] = {
        {o->embed != NULL, true, "embed"},   {o->linear != NULL, true, "linear"},
        {o->norm != NULL, true, "norm"},     {o->l2norm != NULL, (needs & RWKV_NEED_WKV7) != 0, "l2norm"},
        {o->act != NULL, true, "act"},       {o->ew != NULL, true, "ew"},
        {o->shift != NULL, true, "shift"},   {o->wkv7 != NULL, (needs & RWKV_NEED_WKV7) != 0, "wkv7"},
        {o->wkv5 != NULL, (needs & RWKV_NEED_WKV5) != 0, "wkv5"},
        {o->wkv4 != NULL, (needs & RWKV_NEED_WKV4) != 0, "wkv4"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].needed && !ops[i].present) {
            rwkv_backend_info info;
            o->info(be, &info);
            return rwkv_fail(RWKV_ERR_UNSUPPORTED, "%s do not run on the %s backend yet (it has no %s operation)",
                             what, info.name, ops[i].name);
        }
    return RWKV_OK;
}
