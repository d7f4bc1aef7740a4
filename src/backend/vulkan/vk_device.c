/* vk_device.c — the Vulkan backend's plumbing: loading libvulkan at run time, instance and device
 * selection, memory (dedicated allocations and blocks carved into small ones, all addressed by
 * buffer device addresses), pipelines, the op list and its submission with reuse of recorded
 * command buffers, host copies (mapped or through a staging buffer), and device enumeration. */
#include "vk.h"
#include "vk_spirv.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define ALIGN 256u                      /* of every allocation (and of the 16-byte shader loads) */
#define BLOCK_BYTES (64ull << 20)       /* sub-allocation block */
#define STAGING_BYTES (32ull << 20)     /* most staging memory for one transfer piece */
#define NSHADERS (sizeof vk_spirv / sizeof vk_spirv[0])

/* ---- the loader --------------------------------------------------------------------------- */

static void *g_lib;
static PFN_vkGetInstanceProcAddr g_gipa;
static pthread_once_t g_lib_once = PTHREAD_ONCE_INIT;

static void lib_open(void) {
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    for (size_t i = 0; i < 2 && !g_lib; i++) g_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (g_lib) g_gipa = (PFN_vkGetInstanceProcAddr)dlsym(g_lib, "vkGetInstanceProcAddr");
}

static rwkv_status lib_load(void) {
    pthread_once(&g_lib_once, lib_open);
    if (!g_gipa)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: the Vulkan loader (libvulkan.so.1) is not installed");
    return RWKV_OK;
}

/* One instance made at the first successful vkCreateInstance and never destroyed: it keeps the
 * drivers the loader opened resident for the life of the process, so each backend's own instance
 * does not load and unload them again (lavapipe brings LLVM; its unload also drops memory its
 * globals still point to, which LeakSanitizer reports as leaked). */
static pthread_mutex_t g_anchor_lock = PTHREAD_MUTEX_INITIALIZER;
static VkInstance g_anchor;

static void anchor_drivers(const VkInstanceCreateInfo *ici) {
    pthread_mutex_lock(&g_anchor_lock);
    if (!g_anchor) {
        PFN_vkCreateInstance create = (PFN_vkCreateInstance)g_gipa(NULL, "vkCreateInstance");
        VkInstanceCreateInfo plain = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                      .pApplicationInfo = ici->pApplicationInfo};
        if (create && create(&plain, NULL, &g_anchor) != VK_SUCCESS) g_anchor = VK_NULL_HANDLE;
    }
    pthread_mutex_unlock(&g_anchor_lock);
}

/* ---- options and validation messages ------------------------------------------------------ */

static rwkv_vk_options g_opts;
static unsigned g_messages;

void rwkv_vk_set_options(const rwkv_vk_options *o) {
    if (o)
        g_opts = *o;
    else
        memset(&g_opts, 0, sizeof g_opts);
}

unsigned rwkv_vk_messages(void) { return __atomic_load_n(&g_messages, __ATOMIC_SEQ_CST); }

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    (void)user;
    if (sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        __atomic_add_fetch(&g_messages, 1, __ATOMIC_SEQ_CST);
        fprintf(stderr, "vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no text)");
    }
    return VK_FALSE;
}

/* ---- errors ------------------------------------------------------------------------------- */

static rwkv_status flush_in_op(vk_backend *b);
static void vk_mem_free(rwkv_backend *be, rwkv_ptr p);
static void barrier(vk_backend *b, VkCommandBuffer cb, int host);
static rwkv_status submit_wait(vk_backend *b, VkCommandBuffer cb);

void vk_set_error(vk_backend *b, rwkv_status st, const char *fmt, ...) {
    if (b->err != RWKV_OK) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
    va_end(ap);
    b->err = st;
}

static const char *vk_result_name(VkResult r) {
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case VK_ERROR_DEVICE_LOST: return "device lost";
    case VK_ERROR_INITIALIZATION_FAILED: return "initialization failed";
    case VK_ERROR_LAYER_NOT_PRESENT: return "layer not present";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "extension not present";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "feature not present";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "incompatible driver";
    case VK_ERROR_TOO_MANY_OBJECTS: return "too many objects";
    case VK_TIMEOUT: return "timeout";
    default: return "error";
    }
}

/* The status and message of a failed call (a lost device makes the backend unusable). */
static rwkv_status vk_check(vk_backend *b, VkResult r, const char *what) {
    if (r == VK_SUCCESS) return RWKV_OK;
    if (r == VK_ERROR_DEVICE_LOST) b->lost = 1;
    rwkv_status st = r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? RWKV_ERR_NOMEM : RWKV_ERR_IO;
    if (b->lost)
        return rwkv_fail(RWKV_ERR_IO, "Vulkan device '%s' was lost (VK_ERROR_DEVICE_LOST during %s): results are "
                                      "undefined; free the model and load it again", b->props.deviceName, what);
    return rwkv_fail(st, "Vulkan: %s failed: %s (VkResult %d)", what, vk_result_name(r), (int)r);
}

/* ---- physical devices ---------------------------------------------------------------------- */

/* What we need from a device, and what it has. */
typedef struct dev_caps {
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceDriverProperties driver;
    VkPhysicalDeviceSubgroupProperties subgroup;
    VkPhysicalDeviceSubgroupSizeControlProperties sgsize;
    VkPhysicalDeviceMaintenance3Properties maint3;
    int bda, fp16, int8, coopmat, sgsize_ctl;
    uint32_t qfamily;
    uint64_t memory;                /* largest device-local heap */
    const char *why_not;            /* NULL when usable */
} dev_caps;

static int has_ext(const vk_fns *f, VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (f->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    if (!e) return 0;
    int found = 0;
    if (f->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

static void query_caps(const vk_fns *f, VkPhysicalDevice pd, dev_caps *c) {
    memset(c, 0, sizeof *c);
    f->vkGetPhysicalDeviceProperties(pd, &c->props);
    const int v12 = c->props.apiVersion >= VK_API_VERSION_1_2;
    c->qfamily = UINT32_MAX;
    if (!v12) {
        c->why_not = "Vulkan 1.2 or later is needed";
        return;
    }
    c->sgsize_ctl = has_ext(f, pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) || c->props.apiVersion >= VK_API_VERSION_1_3;
    c->driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    c->subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    c->subgroup.pNext = &c->driver;
    c->sgsize.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES;
    c->maint3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    c->driver.pNext = &c->maint3;
    if (c->sgsize_ctl) c->maint3.pNext = &c->sgsize;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &c->subgroup};
    f->vkGetPhysicalDeviceProperties2(pd, &p2);
    if (!c->sgsize_ctl || c->sgsize.minSubgroupSize == 0) {
        c->sgsize.minSubgroupSize = c->subgroup.subgroupSize;
        c->sgsize.maxSubgroupSize = c->subgroup.subgroupSize;
    }

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    f->vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->bda = f12.bufferDeviceAddress;
    c->fp16 = f12.shaderFloat16;
    c->int8 = f12.shaderInt8;
    c->coopmat = has_ext(f, pd, "VK_KHR_cooperative_matrix");

    VkPhysicalDeviceMemoryProperties mp;
    f->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[i].size > c->memory)
            c->memory = mp.memoryHeaps[i].size;

    uint32_t nq = 0;
    f->vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (q) {
        f->vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
        /* a compute queue, preferring one that also does graphics (the main queue) */
        for (uint32_t i = 0; i < nq; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
                (c->qfamily == UINT32_MAX || ((q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
                                              !(q[c->qfamily].queueFlags & VK_QUEUE_GRAPHICS_BIT))))
                c->qfamily = i;
        free(q);
    }
    const VkSubgroupFeatureFlags need_sg = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    if (c->qfamily == UINT32_MAX)
        c->why_not = "no compute queue";
    else if (!c->bda)
        c->why_not = "no bufferDeviceAddress";
    else if ((c->subgroup.supportedOperations & need_sg) != need_sg ||
             !(c->subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
        c->why_not = "no subgroup arithmetic in compute shaders";
    else if (c->props.limits.maxComputeWorkGroupInvocations < 256 || c->props.limits.maxComputeWorkGroupSize[0] < 256)
        c->why_not = "workgroups of 256 invocations are not supported";
    else if (c->props.limits.maxComputeSharedMemorySize < 24576)
        c->why_not = "less than 24 KiB of shared memory";
    else if (c->props.limits.maxPushConstantsSize < VK_PC_BYTES)
        c->why_not = "less than 128 bytes of push constants";
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

/* Preference of a device type for "vulkan" without an index: discrete GPUs first, CPUs last. */
static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_OTHER: return 1;
    default: return 0;
    }
}

/* ---- instance ------------------------------------------------------------------------------ */

static int layer_present(const char *name) {
    PFN_vkEnumerateInstanceLayerProperties enum_layers =
        (PFN_vkEnumerateInstanceLayerProperties)g_gipa(NULL, "vkEnumerateInstanceLayerProperties");
    uint32_t n = 0;
    if (!enum_layers || enum_layers(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *l = calloc(n, sizeof *l);
    if (!l) return 0;
    int found = 0;
    if (enum_layers(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(l[i].layerName, name);
    free(l);
    return found;
}

/* Creates an instance (with the validation layer and a message counter when asked) and loads the
 * instance functions into f. */
static rwkv_status make_instance(int validation, vk_fns *f, VkInstance *inst, VkDebugUtilsMessengerEXT *msg) {
    rwkv_status st = lib_load();
    if (st != RWKV_OK) return st;
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)g_gipa(NULL, "vkCreateInstance");
    PFN_vkEnumerateInstanceVersion version = (PFN_vkEnumerateInstanceVersion)g_gipa(NULL, "vkEnumerateInstanceVersion");
    uint32_t v = VK_API_VERSION_1_0;
    if (!create || (version && version(&v) != VK_SUCCESS))
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: the Vulkan loader is unusable");
    if (v < VK_API_VERSION_1_2)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: the Vulkan loader is older than 1.2");
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (validation && !layer_present(layer))
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan validation was asked for but %s is not installed "
                                               "(Debian: vulkan-validationlayers)", layer);
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "rwkv.c",
                             .pEngineName = "rwkv.c", .apiVersion = VK_API_VERSION_1_2};
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    if (validation) {
        ici.enabledLayerCount = 1;
        ici.ppEnabledLayerNames = &layer;
        ici.enabledExtensionCount = 1;
        ici.ppEnabledExtensionNames = &ext;
        ici.pNext = &mci; /* messages of instance creation and destruction too */
    }
    VkResult r = create(&ici, NULL, inst);
    if (r == VK_SUCCESS) anchor_drivers(&ici);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: no Vulkan 1.2 driver is installed");
    if (r != VK_SUCCESS)
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: vkCreateInstance failed: %s", vk_result_name(r));
#define VK_LOAD_INSTANCE(name) f->name = (PFN_##name)g_gipa(*inst, #name);
    VK_INSTANCE_FUNCS(VK_LOAD_INSTANCE)
#undef VK_LOAD_INSTANCE
    PFN_vkDestroyInstance destroy = f->vkDestroyInstance;
#define VK_CHECK_INSTANCE(name) || !f->name
    if (!destroy VK_INSTANCE_FUNCS(VK_CHECK_INSTANCE)) {
        if (destroy) destroy(*inst, NULL);
        *inst = VK_NULL_HANDLE;
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: the loader lacks Vulkan 1.2 functions");
    }
#undef VK_CHECK_INSTANCE
    *msg = VK_NULL_HANDLE;
    if (validation) {
        f->vkCreateDebugUtilsMessengerEXT =
            (PFN_vkCreateDebugUtilsMessengerEXT)g_gipa(*inst, "vkCreateDebugUtilsMessengerEXT");
        f->vkDestroyDebugUtilsMessengerEXT =
            (PFN_vkDestroyDebugUtilsMessengerEXT)g_gipa(*inst, "vkDestroyDebugUtilsMessengerEXT");
        if (!f->vkCreateDebugUtilsMessengerEXT || !f->vkDestroyDebugUtilsMessengerEXT ||
            f->vkCreateDebugUtilsMessengerEXT(*inst, &mci, NULL, msg) != VK_SUCCESS) {
            f->vkDestroyInstance(*inst, NULL);
            *inst = VK_NULL_HANDLE;
            return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan validation: the debug messenger could not be created");
        }
    }
    return RWKV_OK;
}

static VkPhysicalDevice *list_devices(const vk_fns *f, VkInstance inst, uint32_t *n) {
    *n = 0;
    if (f->vkEnumeratePhysicalDevices(inst, n, NULL) != VK_SUCCESS || *n == 0) return NULL;
    VkPhysicalDevice *pd = calloc(*n, sizeof *pd);
    if (pd && f->vkEnumeratePhysicalDevices(inst, n, pd) < 0) {
        free(pd);
        pd = NULL;
        *n = 0;
    }
    return pd;
}

/* ---- device enumeration (rwkv_devices) ------------------------------------------------------ */

rwkv_status rwkv_vk_devices(rwkv_device_info *out, int cap, int *n_out) {
    *n_out = 0;
    vk_fns f;
    memset(&f, 0, sizeof f);
    VkInstance inst = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT msg;
    rwkv_status st = make_instance(0, &f, &inst, &msg);
    if (st != RWKV_OK) return st;
    uint32_t n = 0;
    VkPhysicalDevice *pd = list_devices(&f, inst, &n);
    for (uint32_t i = 0; i < n && (int)i < cap; i++) {
        dev_caps c;
        query_caps(&f, pd[i], &c);
        rwkv_device_info *d = &out[i];
        memset(d, 0, sizeof *d);
        snprintf(d->id, sizeof d->id, "vulkan:%u", i % 100000u);
        snprintf(d->name, sizeof d->name, "%s", c.props.deviceName);
        snprintf(d->type, sizeof d->type, "%s", type_name(c.props.deviceType));
        snprintf(d->driver, sizeof d->driver, "%.120s%s%.120s", c.driver.driverName, c.driver.driverInfo[0] ? " " : "",
                 c.driver.driverInfo);
        snprintf(d->api, sizeof d->api, "%u.%u.%u", VK_API_VERSION_MAJOR(c.props.apiVersion),
                 VK_API_VERSION_MINOR(c.props.apiVersion), VK_API_VERSION_PATCH(c.props.apiVersion));
        d->memory = c.memory;
        d->subgroup_min = (int)c.sgsize.minSubgroupSize;
        d->subgroup_max = (int)c.sgsize.maxSubgroupSize;
        d->shared_memory = (int)c.props.limits.maxComputeSharedMemorySize;
        d->fp16 = c.fp16;
        d->int8 = c.int8;
        d->coopmat = c.coopmat;
        d->usable = c.why_not == NULL;
        snprintf(d->why_not, sizeof d->why_not, "%s", c.why_not ? c.why_not : "");
    }
    *n_out = (int)n;
    free(pd);
    f.vkDestroyInstance(inst, NULL);
    return RWKV_OK;
}

/* ---- memory --------------------------------------------------------------------------------- */

static uint64_t round_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* Room for one more element in the array *p of *cap elements of `size` bytes, n of them used
 * (doubled when full, `first` elements at the start); 0 when memory is short. */
static int grow(void **p, int *cap, int n, size_t size, int first) {
    if (n < *cap) return 1;
    const int c = *cap ? 2 * *cap : first;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        const VkMemoryPropertyFlags fl = mp->memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (fl & want) == want && !(fl & avoid)) return (int)i;
    }
    return -1;
}

/* Destroys m (recorded command buffers may name its buffer: they are dropped). */
static void mem_destroy(vk_backend *b, vk_mem *m) {
    if (!m) return;
    for (int i = 0; i < VK_CACHE; i++) b->cache[i].valid = 0;
    if (m->buf) b->f.vkDestroyBuffer(b->dev, m->buf, NULL);
    if (m->mem) {
        b->f.vkFreeMemory(b->dev, m->mem, NULL);
        if (m->counted) b->mem_used -= m->size;
    }
    free(m->free);
    memset(m, 0, sizeof *m);
}

/* One VkDeviceMemory of `bytes` with a buffer over it, of memory type `type` (mapped when map;
 * counted: against the memory limit). */
static rwkv_status mem_create(vk_backend *b, uint64_t bytes, uint32_t type, int map, int counted, vk_mem *m) {
    memset(m, 0, sizeof *m);
    if (counted && b->mem_used + bytes > b->mem_limit)
        return rwkv_fail(RWKV_ERR_NOMEM,
                         "Vulkan: not enough device memory on '%s': %.1f MiB more needed, %.1f MiB of %.1f MiB in use",
                         b->props.deviceName, (double)bytes / 1048576.0, (double)b->mem_used / 1048576.0,
                         (double)b->mem_limit / 1048576.0);
    if (bytes > b->max_alloc)
        return rwkv_fail(RWKV_ERR_NOMEM, "Vulkan: %.1f MiB in one piece is more than '%s' allocates at once (%.1f MiB)",
                         (double)bytes / 1048576.0, b->props.deviceName, (double)b->max_alloc / 1048576.0);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    rwkv_status st = vk_check(b, b->f.vkCreateBuffer(b->dev, &bi, NULL, &m->buf), "vkCreateBuffer");
    if (st != RWKV_OK) return st;
    VkMemoryRequirements req;
    b->f.vkGetBufferMemoryRequirements(b->dev, m->buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        mem_destroy(b, m);
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: buffers cannot use the chosen memory type");
    }
    VkMemoryAllocateFlagsInfo fi = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                    .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &fi,
                               .allocationSize = req.size, .memoryTypeIndex = type};
    VkResult r = b->f.vkAllocateMemory(b->dev, &ai, NULL, &m->mem);
    if (r != VK_SUCCESS) {
        m->mem = VK_NULL_HANDLE;
        mem_destroy(b, m);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return rwkv_fail(RWKV_ERR_NOMEM, "Vulkan: the device '%s' has no room for %.1f MiB more (%.1f MiB in use)",
                             b->props.deviceName, (double)bytes / 1048576.0, (double)b->mem_used / 1048576.0);
        return vk_check(b, r, "vkAllocateMemory");
    }
    m->size = bytes;
    m->counted = counted;
    if (counted) b->mem_used += bytes;
    if ((st = vk_check(b, b->f.vkBindBufferMemory(b->dev, m->buf, m->mem, 0), "vkBindBufferMemory")) != RWKV_OK) {
        mem_destroy(b, m);
        return st;
    }
    if (map) {
        void *p = NULL;
        if ((st = vk_check(b, b->f.vkMapMemory(b->dev, m->mem, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory")) != RWKV_OK) {
            mem_destroy(b, m);
            return st;
        }
        m->map = p;
    }
    VkBufferDeviceAddressInfo dai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = m->buf};
    m->addr = b->f.vkGetBufferDeviceAddress(b->dev, &dai);
    return RWKV_OK;
}

/* Frees a host-visible memory (staging, step data). */
static void host_mem_free(vk_backend *b, vk_mem **pm) {
    if (!*pm) return;
    mem_destroy(b, *pm);
    free(*pm);
    *pm = NULL;
}

/* A host-visible, mapped memory of `bytes` (not counted against the limit). */
static rwkv_status host_mem_new(vk_backend *b, uint64_t bytes, vk_mem **pm) {
    vk_mem *m = calloc(1, sizeof *m);
    if (!m) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    rwkv_status st = mem_create(b, bytes, b->host_type, 1, 0, m);
    if (st != RWKV_OK) {
        free(m);
        return st;
    }
    *pm = m;
    return RWKV_OK;
}

vk_mem *vk_find(vk_backend *b, uint64_t a, uint64_t n) {
    int lo = 0, hi = b->nmems - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        vk_mem *m = &b->mems[mid];
        if (a < m->addr)
            hi = mid - 1;
        else if (a >= m->addr + m->size)
            lo = mid + 1;
        else
            return a + n <= m->addr + m->size ? m : NULL;
    }
    return NULL;
}

static rwkv_status mems_insert(vk_backend *b, const vk_mem *m, vk_mem **where) {
    if (!grow((void **)&b->mems, &b->capmems, b->nmems, sizeof *b->mems, 32))
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    int i = b->nmems;
    while (i > 0 && b->mems[i - 1].addr > m->addr) {
        b->mems[i] = b->mems[i - 1];
        i--;
    }
    b->mems[i] = *m;
    b->nmems++;
    if (where) *where = &b->mems[i];
    return RWKV_OK;
}

static int sub_index(const vk_backend *b, uint64_t a) {
    int lo = 0, hi = b->nsubs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (b->subs[mid].addr == a) return mid;
        if (b->subs[mid].addr < a)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -(lo + 1);
}

/* Adds a free range to a block, merging with its neighbours. */
static rwkv_status range_free(vk_mem *m, uint64_t off, uint64_t len) {
    int i = 0;
    while (i < m->nfree && m->free[i].off < off) i++;
    int merged = 0;
    if (i > 0 && m->free[i - 1].off + m->free[i - 1].len == off) {
        m->free[i - 1].len += len;
        merged = 1;
        if (i < m->nfree && m->free[i - 1].off + m->free[i - 1].len == m->free[i].off) {
            m->free[i - 1].len += m->free[i].len;
            memmove(&m->free[i], &m->free[i + 1], (size_t)(m->nfree - i - 1) * sizeof *m->free);
            m->nfree--;
        }
    } else if (i < m->nfree && off + len == m->free[i].off) {
        m->free[i].off = off;
        m->free[i].len += len;
        merged = 1;
    }
    if (merged) return RWKV_OK;
    if (!grow((void **)&m->free, &m->capfree, m->nfree, sizeof *m->free, 16))
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    memmove(&m->free[i + 1], &m->free[i], (size_t)(m->nfree - i) * sizeof *m->free);
    m->free[i] = (vk_range){off, len};
    m->nfree++;
    return RWKV_OK;
}

/* Zeroes [a, a + n) of m (mapped: memset; else a fill on the queue). */
static rwkv_status mem_zero(vk_backend *b, vk_mem *m, uint64_t a, uint64_t n) {
    if (m->map) {
        memset(m->map + (a - m->addr), 0, n);
        return RWKV_OK;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    rwkv_status st = vk_check(b, b->f.vkBeginCommandBuffer(b->xfer, &bi), "vkBeginCommandBuffer");
    if (st != RWKV_OK) return st;
    b->f.vkCmdFillBuffer(b->xfer, m->buf, a - m->addr, round_up(n, 4), 0);
    barrier(b, b->xfer, 1);
    if ((st = vk_check(b, b->f.vkEndCommandBuffer(b->xfer), "vkEndCommandBuffer")) != RWKV_OK) return st;
    return submit_wait(b, b->xfer);
}

rwkv_status vk_alloc(vk_backend *b, size_t bytes, uint64_t *addr) {
    if (b->lost) return rwkv_fail(RWKV_ERR_IO, "Vulkan device '%s' was lost", b->props.deviceName);
    if (bytes == 0) bytes = 1;
    const uint64_t n = round_up(bytes, ALIGN);
    rwkv_status st;
    if (n > b->block_bytes / 2) { /* a dedicated allocation */
        vk_mem m;
        if ((st = mem_create(b, n, b->dev_type, b->dev_mapped, 1, &m)) != RWKV_OK) return st;
        vk_mem *in;
        if ((st = mems_insert(b, &m, &in)) != RWKV_OK) {
            mem_destroy(b, &m);
            return st;
        }
        *addr = in->addr;
        if ((st = mem_zero(b, in, in->addr, n)) != RWKV_OK) vk_mem_free(&b->base, (rwkv_ptr){in->addr});
        return st;
    }
    if (!grow((void **)&b->subs, &b->capsubs, b->nsubs, sizeof *b->subs, 64))
        return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    vk_mem *blk = NULL;
    int fi = -1;
    for (int i = 0; i < b->nmems && !blk; i++) {
        vk_mem *m = &b->mems[i];
        if (!m->block) continue;
        for (int j = 0; j < m->nfree; j++)
            if (m->free[j].len >= n) {
                blk = m;
                fi = j;
                break;
            }
    }
    if (!blk) {
        vk_mem m;
        uint64_t size = b->block_bytes;
        if (b->mem_used + size > b->mem_limit && b->mem_used + n <= b->mem_limit) size = b->mem_limit - b->mem_used;
        size = size / ALIGN * ALIGN;
        if (size < n) size = n;
        if ((st = mem_create(b, size, b->dev_type, b->dev_mapped, 1, &m)) != RWKV_OK) return st;
        m.block = 1;
        if ((st = range_free(&m, 0, size)) != RWKV_OK || (st = mems_insert(b, &m, &blk)) != RWKV_OK) {
            mem_destroy(b, &m);
            return st;
        }
        fi = 0;
    }
    vk_range *r = &blk->free[fi];
    const uint64_t a = blk->addr + r->off;
    r->off += n;
    r->len -= n;
    if (r->len == 0) {
        memmove(r, r + 1, (size_t)(blk->nfree - fi - 1) * sizeof *r);
        blk->nfree--;
    }
    int si = -(sub_index(b, a) + 1);
    memmove(&b->subs[si + 1], &b->subs[si], (size_t)(b->nsubs - si) * sizeof *b->subs);
    b->subs[si] = (vk_sub){a, n};
    b->nsubs++;
    *addr = a;
    if ((st = mem_zero(b, blk, a, n)) != RWKV_OK) vk_mem_free(&b->base, (rwkv_ptr){a});
    return st;
}

static void vk_mem_free(rwkv_backend *be, rwkv_ptr p) {
    vk_backend *b = (vk_backend *)be;
    if (rwkv_ptr_is_null(p)) return;
    if (b->nops) flush_in_op(b); /* ops already called may still use it */
    int si = sub_index(b, p.a);
    vk_mem *m = vk_find(b, p.a, 1);
    if (!m) return;
    if (si >= 0 && m->block) {
        const vk_sub s = b->subs[si];
        memmove(&b->subs[si], &b->subs[si + 1], (size_t)(b->nsubs - si - 1) * sizeof *b->subs);
        b->nsubs--;
        if (range_free(m, s.addr - m->addr, s.len) != RWKV_OK) return; /* the range is lost, not reused */
        if (m->nfree == 1 && m->free[0].len == m->size) { /* an empty block goes back */
            int mi = (int)(m - b->mems);
            mem_destroy(b, m);
            memmove(&b->mems[mi], &b->mems[mi + 1], (size_t)(b->nmems - mi - 1) * sizeof *b->mems);
            b->nmems--;
        }
    } else if (!m->block && m->addr == p.a) {
        int mi = (int)(m - b->mems);
        mem_destroy(b, m);
        memmove(&b->mems[mi], &b->mems[mi + 1], (size_t)(b->nmems - mi - 1) * sizeof *b->mems);
        b->nmems--;
    }
}

static rwkv_status vk_alloc_op(rwkv_backend *be, size_t bytes, rwkv_ptr *out) {
    vk_backend *b = (vk_backend *)be;
    uint64_t a = 0;
    rwkv_status st = vk_alloc(b, bytes, &a);
    out->a = st == RWKV_OK ? a : 0;
    return st;
}

/* The staging buffer, at least `bytes` (up to STAGING_BYTES) large. Recorded command buffers that
 * use the old one are dropped. */
static rwkv_status staging_reserve(vk_backend *b, uint64_t bytes) {
    if (bytes > STAGING_BYTES) bytes = STAGING_BYTES;
    if (b->staging && b->staging->size >= bytes) return RWKV_OK;
    if (b->nops) {
        rwkv_status st = vk_flush(b);
        if (st != RWKV_OK) return st;
    }
    for (int i = 0; i < VK_CACHE; i++) b->cache[i].valid = 0;
    host_mem_free(b, &b->staging);
    return host_mem_new(b, round_up(bytes, 1 << 20), &b->staging);
}

/* ---- pipelines ------------------------------------------------------------------------------ */

int vk_max_subgroups(const vk_backend *b, int wg) {
    int sg = (int)b->subgroup_min;
    if (sg < 1) sg = 1;
    return (wg + sg - 1) / sg;
}

/* The shaders' indices sorted by name, for a binary search per op (fill_ops sorts them). */
static int g_by_name[NSHADERS];

static int cmp_shader_name(const void *a, const void *b) {
    return strcmp(vk_spirv[*(const int *)a].name, vk_spirv[*(const int *)b].name);
}

static int shader_index(const char *name) {
    int lo = 0, hi = (int)NSHADERS - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2, c = strcmp(name, vk_spirv[g_by_name[mid]].name);
        if (c == 0) return g_by_name[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

int vk_pipeline(vk_backend *b, const char *name, const int spec[4]) {
    const int shader = shader_index(name);
    if (shader < 0) {
        vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan: no shader '%s' in this build", name);
        return -1;
    }
    for (int i = 0; i < b->npipes; i++)
        if (b->pipes[i].shader == shader && !memcmp(b->pipes[i].spec, spec, sizeof b->pipes[i].spec)) return i;
    if (!grow((void **)&b->pipes, &b->cappipes, b->npipes, sizeof *b->pipes, 32)) {
        vk_set_error(b, RWKV_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (!b->modules[shader]) {
        VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                       .codeSize = vk_spirv[shader].bytes, .pCode = vk_spirv[shader].code};
        VkResult r = b->f.vkCreateShaderModule(b->dev, &mi, NULL, &b->modules[shader]);
        if (r != VK_SUCCESS) {
            b->modules[shader] = VK_NULL_HANDLE;
            vk_set_error(b, RWKV_ERR_UNSUPPORTED, "Vulkan: shader '%s' was refused: %s", name, vk_result_name(r));
            return -1;
        }
    }
    VkSpecializationMapEntry me[4];
    for (uint32_t i = 0; i < 4; i++) me[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {.mapEntryCount = 4, .pMapEntries = me, .dataSize = 16, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = b->modules[shader], .pName = "main", .pSpecializationInfo = &si},
        .layout = b->layout};
    vk_pipe *p = &b->pipes[b->npipes];
    VkResult r = b->f.vkCreateComputePipelines(b->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipe);
    if (r != VK_SUCCESS) {
        vk_set_error(b, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? RWKV_ERR_NOMEM
                                                                                               : RWKV_ERR_UNSUPPORTED,
                     "Vulkan: pipeline '%s' could not be created: %s", name, vk_result_name(r));
        return -1;
    }
    p->shader = shader;
    memcpy(p->spec, spec, sizeof p->spec);
    return b->npipes++;
}

/* ---- the op list and its submission ---------------------------------------------------------- */

/* A global memory barrier from every shader and transfer write to the shader and transfer accesses
 * that follow (and, with host, to host reads). Every command buffer ends with one (host
 * included): a barrier's second scope covers later submissions too, so the next submit sees what
 * this one wrote. */
static void barrier(vk_backend *b, VkCommandBuffer cb, int host) {
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    const VkAccessFlags access = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                 VK_ACCESS_TRANSFER_WRITE_BIT;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = access | (host ? VK_ACCESS_HOST_READ_BIT : 0)};
    b->f.vkCmdPipelineBarrier(cb, stages, stages | (host ? VK_PIPELINE_STAGE_HOST_BIT : 0), 0, 1, &mb, 0, NULL, 0,
                              NULL);
}

static rwkv_status record(vk_backend *b, VkCommandBuffer cb, const vk_op *ops, size_t n) {
    rwkv_status st = vk_check(b, b->f.vkResetCommandBuffer(cb, 0), "vkResetCommandBuffer");
    if (st != RWKV_OK) return st;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if ((st = vk_check(b, b->f.vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer")) != RWKV_OK) return st;
    if (b->timestamps) {
        b->f.vkCmdResetQueryPool(cb, b->timestamps, 0, 2);
        b->f.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, b->timestamps, 0);
    }
    uint32_t bound = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        const vk_op *op = &ops[i];
        if (op->barrier) barrier(b, cb, 0);
        if (op->kind == VK_OP_DISPATCH) {
            if (op->pipe != bound) {
                b->f.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, b->pipes[op->pipe].pipe);
                bound = op->pipe;
            }
            b->f.vkCmdPushConstants(cb, b->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PC_BYTES, op->u.pc);
            b->f.vkCmdDispatch(cb, op->grid[0], op->grid[1], op->grid[2]);
        } else {
            VkBufferCopy c = {op->u.copy.src_off, op->u.copy.dst_off, op->u.copy.bytes};
            b->f.vkCmdCopyBuffer(cb, op->u.copy.src, op->u.copy.dst, 1, &c);
        }
    }
    barrier(b, cb, 1);
    if (b->timestamps) b->f.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b->timestamps, 1);
    return vk_check(b, b->f.vkEndCommandBuffer(cb), "vkEndCommandBuffer");
}

/* Submits cb and waits for it. */
static rwkv_status submit_wait(vk_backend *b, VkCommandBuffer cb) {
    if (b->opt.lose_after_submits > 0 && b->submits >= (uint64_t)b->opt.lose_after_submits)
        return vk_check(b, VK_ERROR_DEVICE_LOST, "vkQueueSubmit");
    b->submits++;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    rwkv_status st = vk_check(b, b->f.vkResetFences(b->dev, 1, &b->fence), "vkResetFences");
    if (st != RWKV_OK) return st;
    if ((st = vk_check(b, b->f.vkQueueSubmit(b->queue, 1, &si, b->fence), "vkQueueSubmit")) != RWKV_OK) return st;
    return vk_check(b, b->f.vkWaitForFences(b->dev, 1, &b->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
}

/* Submits the op list, reusing a command buffer recorded from the same list, and waits. */
static rwkv_status submit_ops(vk_backend *b) {
    const size_t bytes = b->nops * sizeof *b->list;
    const uint64_t h = rwkv_fnv1a(RWKV_FNV_INIT, b->list, bytes);
    vk_cached *use = NULL, *lru = &b->cache[0];
    for (int i = 0; i < VK_CACHE && !use; i++) {
        vk_cached *c = &b->cache[i];
        if (c->valid && c->n == b->nops && c->hash == h && !memcmp(c->ops, b->list, bytes)) use = c;
        if (!c->valid || (lru->valid && c->used < lru->used)) lru = c;
    }
    rwkv_status st;
    b->op_submits++;
    b->last_barriers = 0;
    for (size_t i = 0; i < b->nops; i++) b->last_barriers += (int)b->list[i].barrier;
    if (!use) {
        b->op_records++;
        use = lru;
        use->valid = 0;
        if ((st = record(b, use->cb, b->list, b->nops)) != RWKV_OK) return st;
        if (use->cap < b->nops) {
            vk_op *p = realloc(use->ops, bytes);
            if (p) {
                use->ops = p;
                use->cap = b->nops;
            }
        }
        if (use->cap >= b->nops) { /* else used once, not kept */
            memcpy(use->ops, b->list, bytes);
            use->n = b->nops;
            use->hash = h;
            use->valid = 1;
        }
    }
    use->used = b->submits;
    if ((st = submit_wait(b, use->cb)) != RWKV_OK) return st;
    if (b->timestamps) {
        uint64_t ts[2];
        if (b->f.vkGetQueryPoolResults(b->dev, b->timestamps, 0, 2, sizeof ts, ts, sizeof ts[0],
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
            b->last_gpu_ms = (double)(ts[1] - ts[0]) * b->props.limits.timestampPeriod * 1e-6;
    }
    return RWKV_OK;
}

rwkv_status vk_flush(vk_backend *b) {
    rwkv_status st = RWKV_OK;
    if (b->lost)
        st = rwkv_fail(RWKV_ERR_IO, "Vulkan device '%s' was lost: free the model and load it again", b->props.deviceName);
    else if (b->err != RWKV_OK)
        st = rwkv_fail(b->err, "%s", b->errmsg);
    else if (b->nops)
        st = submit_ops(b);
    if (b->err != RWKV_OK && !b->lost) b->err = RWKV_OK; /* reported once */
    b->nops = 0;
    b->step_used = 0;
    b->npend_r = b->npend_w = 0;
    return st;
}

rwkv_status vk_step_reserve(vk_backend *b, size_t bytes) {
    if (b->step && b->step->size >= bytes) return RWKV_OK;
    rwkv_status st = b->nops ? vk_flush(b) : RWKV_OK;
    if (st != RWKV_OK) return st;
    for (int i = 0; i < VK_CACHE; i++) b->cache[i].valid = 0;
    host_mem_free(b, &b->step);
    return host_mem_new(b, round_up(bytes > 4096 ? bytes : 4096, 4096), &b->step);
}

/* vk_flush from inside an op, which cannot return the error: it is kept for the next sync. */
static rwkv_status flush_in_op(vk_backend *b) {
    rwkv_status st = vk_flush(b);
    if (st != RWKV_OK) vk_set_error(b, st, "%s", rwkv_last_error());
    return st;
}

vk_op *vk_op_new(vk_backend *b, size_t step_bytes, void **step_ptr, uint64_t *step_addr) {
    step_bytes = round_up(step_bytes, 16);
    if (b->planning) {
        b->plan_ops++;
        b->plan_step += step_bytes;
        /* the op and its step data are filled and thrown away */
        if (step_bytes > b->plan_scratch_len) {
            void *p = realloc(b->plan_scratch, step_bytes);
            if (!p) {
                vk_set_error(b, RWKV_ERR_NOMEM, "out of memory");
                return NULL;
            }
            b->plan_scratch = p;
            b->plan_scratch_len = step_bytes;
        }
        if (step_ptr) *step_ptr = b->plan_scratch;
        if (step_addr) *step_addr = 0;
        memset(&b->plan_op, 0, sizeof b->plan_op);
        return &b->plan_op;
    }
    if (b->lost) return NULL;
    if (b->nops == b->capops) {
        size_t cap = b->capops ? 2 * b->capops : 256;
        vk_op *p = realloc(b->list, cap * sizeof *p);
        if (p) {
            b->list = p;
            b->capops = cap;
        } else if (b->nops == 0 || flush_in_op(b) != RWKV_OK) {
            vk_set_error(b, RWKV_ERR_NOMEM, "out of memory for the Vulkan op list");
            return NULL;
        }
    }
    if (step_bytes) {
        if (!b->step || b->step_used + step_bytes > b->step->size) {
            if (b->nops && flush_in_op(b) != RWKV_OK) return NULL; /* the step data so far is used up */
            if (vk_step_reserve(b, step_bytes) != RWKV_OK) {
                vk_set_error(b, RWKV_ERR_NOMEM, "Vulkan: no memory for the step data (%s)", rwkv_last_error());
                return NULL;
            }
        }
        *step_ptr = b->step->map + b->step_used;
        *step_addr = b->step->addr + b->step_used;
        b->step_used += step_bytes;
    }
    vk_op *op = &b->list[b->nops++];
    memset(op, 0, sizeof *op);
    return op;
}

/* ---- host copies ------------------------------------------------------------------------------ */

/* Copies between a buffer and the staging buffer through the transfer command buffer. */
static rwkv_status staged_copy(vk_backend *b, VkBuffer src, uint64_t src_off, VkBuffer dst, uint64_t dst_off, uint64_t n) {
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    rwkv_status st = vk_check(b, b->f.vkBeginCommandBuffer(b->xfer, &bi), "vkBeginCommandBuffer");
    if (st != RWKV_OK) return st;
    VkBufferCopy c = {src_off, dst_off, n};
    b->f.vkCmdCopyBuffer(b->xfer, src, dst, 1, &c);
    barrier(b, b->xfer, 1);
    if ((st = vk_check(b, b->f.vkEndCommandBuffer(b->xfer), "vkEndCommandBuffer")) != RWKV_OK) return st;
    return submit_wait(b, b->xfer);
}

rwkv_status vk_upload_bytes(vk_backend *b, uint64_t dst, const void *src, size_t bytes) {
    rwkv_status st = vk_flush(b);
    if (st != RWKV_OK || bytes == 0) return st;
    vk_mem *m = vk_find(b, dst, bytes);
    if (!m) return rwkv_fail(RWKV_ERR_INVALID_ARG, "Vulkan upload: %zu bytes at 0x%llx are not backend memory", bytes,
                             (unsigned long long)dst);
    if (m->map) {
        memcpy(m->map + (dst - m->addr), src, bytes);
        return RWKV_OK;
    }
    if ((st = staging_reserve(b, bytes)) != RWKV_OK) return st;
    for (size_t done = 0; done < bytes;) {
        const size_t n = bytes - done < b->staging->size ? bytes - done : (size_t)b->staging->size;
        memcpy(b->staging->map, (const char *)src + done, n);
        if ((st = staged_copy(b, b->staging->buf, 0, m->buf, dst - m->addr + done, n)) != RWKV_OK) return st;
        done += n;
    }
    return RWKV_OK;
}

static rwkv_status vk_upload(rwkv_backend *be, rwkv_ptr dst, const void *src, size_t bytes) {
    return vk_upload_bytes((vk_backend *)be, dst.a, src, bytes);
}

static rwkv_status vk_download(rwkv_backend *be, void *dst, rwkv_ptr src, size_t bytes) {
    vk_backend *b = (vk_backend *)be;
    vk_mem *m = bytes ? vk_find(b, src.a, bytes) : NULL;
    if (bytes && !m)
        return rwkv_fail(RWKV_ERR_INVALID_ARG, "Vulkan download: %zu bytes at 0x%llx are not backend memory", bytes,
                         (unsigned long long)src.a);
    if (!m || m->map || b->planning) {
        rwkv_status st = vk_flush(b);
        if (st == RWKV_OK && m) memcpy(dst, m->map + (src.a - m->addr), bytes);
        return st;
    }
    rwkv_status st = staging_reserve(b, bytes);
    if (st != RWKV_OK) return st;
    for (size_t done = 0; done < bytes;) {
        const size_t n = bytes - done < b->staging->size ? bytes - done : (size_t)b->staging->size;
        /* the copy joins the op list, so a forward and its download are one command buffer */
        vk_op *op = vk_op_new(b, 0, NULL, NULL);
        if (op) {
            op->kind = VK_OP_COPY;
            op->barrier = 1;
            op->u.copy.src = m->buf;
            op->u.copy.src_off = src.a - m->addr + done;
            op->u.copy.dst = b->staging->buf;
            op->u.copy.bytes = n;
        }
        if ((st = vk_flush(b)) != RWKV_OK) return st;
        memcpy((char *)dst + done, b->staging->map, n);
        done += n;
    }
    return RWKV_OK;
}

static rwkv_status vk_sync(rwkv_backend *be) {
    vk_backend *b = (vk_backend *)be;
    if (b->planning) {
        if (b->plan_ops > b->plan_max_ops) b->plan_max_ops = b->plan_ops;
        if (b->plan_step > b->plan_max_step) b->plan_max_step = b->plan_step;
        b->plan_ops = b->plan_step = 0;
        return RWKV_OK;
    }
    return vk_flush(b);
}

/* ---- the backend ------------------------------------------------------------------------------ */

static void vk_free(rwkv_backend *be) {
    vk_backend *b = (vk_backend *)be;
    if (!b) return;
    if (b->dev) {
        b->f.vkDeviceWaitIdle(b->dev);
        for (int i = 0; i < b->nmems; i++) mem_destroy(b, &b->mems[i]);
        host_mem_free(b, &b->staging);
        host_mem_free(b, &b->step);
        for (int i = 0; i < b->npipes; i++) b->f.vkDestroyPipeline(b->dev, b->pipes[i].pipe, NULL);
        if (b->modules)
            for (size_t i = 0; i < NSHADERS; i++)
                if (b->modules[i]) b->f.vkDestroyShaderModule(b->dev, b->modules[i], NULL);
        if (b->layout) b->f.vkDestroyPipelineLayout(b->dev, b->layout, NULL);
        if (b->timestamps) b->f.vkDestroyQueryPool(b->dev, b->timestamps, NULL);
        if (b->fence) b->f.vkDestroyFence(b->dev, b->fence, NULL);
        if (b->pool) b->f.vkDestroyCommandPool(b->dev, b->pool, NULL);
        b->f.vkDestroyDevice(b->dev, NULL);
    }
    for (int i = 0; i < VK_CACHE; i++) free(b->cache[i].ops);
    if (b->messenger) b->f.vkDestroyDebugUtilsMessengerEXT(b->inst, b->messenger, NULL);
    if (b->inst) b->f.vkDestroyInstance(b->inst, NULL);
    free(b->mems);
    free(b->subs);
    free(b->pipes);
    free(b->modules);
    free(b->list);
    free(b->plan_scratch);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static void vk_info(const rwkv_backend *be, rwkv_backend_info *out) {
    const vk_backend *b = (const vk_backend *)be;
    memset(out, 0, sizeof *out);
    out->name = "vulkan";
    out->device = b->device_desc;
    out->quant_products = "exact";
    out->prefill_products = "fp32";
    out->default_chunk = 256;
    out->host_memory = 0;
}

double rwkv_vk_last_gpu_ms(const rwkv_backend *be) { return ((const vk_backend *)be)->last_gpu_ms; }
uint64_t rwkv_vk_mem_used(const rwkv_backend *be) { return ((const vk_backend *)be)->mem_used; }

int rwkv_vk_last_barriers(const rwkv_backend *be) { return ((const vk_backend *)be)->last_barriers; }

void rwkv_vk_counts(const rwkv_backend *be, uint64_t *submitted, uint64_t *recorded) {
    *submitted = ((const vk_backend *)be)->op_submits;
    *recorded = ((const vk_backend *)be)->op_records;
}

/* Picks the memory types: device-local for everything the shaders use (mapped when it is also
 * host-visible and coherent, as on integrated GPUs and lavapipe), host-visible coherent (cached if
 * possible) for staging and step data. */
static rwkv_status pick_memory(vk_backend *b) {
    VkPhysicalDeviceMemoryProperties mp;
    b->f.vkGetPhysicalDeviceMemoryProperties(b->phys, &mp);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    VkBuffer probe;
    rwkv_status st = vk_check(b, b->f.vkCreateBuffer(b->dev, &bi, NULL, &probe), "vkCreateBuffer");
    if (st != RWKV_OK) return st;
    VkMemoryRequirements req;
    b->f.vkGetBufferMemoryRequirements(b->dev, probe, &req);
    b->f.vkDestroyBuffer(b->dev, probe, NULL);
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int dev = find_type(&mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    if (dev < 0) dev = find_type(&mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (dev < 0) dev = find_type(&mp, req.memoryTypeBits, 0, 0);
    int host = find_type(&mp, req.memoryTypeBits, HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (host < 0) host = find_type(&mp, req.memoryTypeBits, HV, 0);
    if (dev < 0 || host < 0) return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: no usable memory types on '%s'", b->props.deviceName);
    b->dev_type = (uint32_t)dev;
    b->host_type = (uint32_t)host;
    b->dev_mapped = (mp.memoryTypes[dev].propertyFlags & HV) == HV && !b->opt.force_staging;
    const uint64_t heap = mp.memoryHeaps[mp.memoryTypes[dev].heapIndex].size;
    b->mem_limit = b->opt.mem_limit && b->opt.mem_limit < heap ? b->opt.mem_limit : heap;
    b->block_bytes = BLOCK_BYTES;
    if (b->block_bytes > b->mem_limit / 4) b->block_bytes = round_up(b->mem_limit / 4 + 1, ALIGN);
    return RWKV_OK;
}

static rwkv_status create_device(vk_backend *b, const dev_caps *c) {
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = c->qfamily,
                                  .queueCount = 1, .pQueuePriorities = &prio};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .bufferDeviceAddress = VK_TRUE};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2, .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    VkResult r = b->f.vkCreateDevice(b->phys, &di, NULL, &b->dev);
    if (r != VK_SUCCESS) {
        b->dev = VK_NULL_HANDLE;
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: vkCreateDevice failed on '%s': %s", c->props.deviceName,
                         vk_result_name(r));
    }
#define VK_LOAD_DEVICE(name) b->f.name = (PFN_##name)b->f.vkGetDeviceProcAddr(b->dev, #name);
    VK_DEVICE_FUNCS(VK_LOAD_DEVICE)
#undef VK_LOAD_DEVICE
#define VK_CHECK_DEVICE(name) || !b->f.name
    if (0 VK_DEVICE_FUNCS(VK_CHECK_DEVICE)) {
        PFN_vkDestroyDevice destroy = (PFN_vkDestroyDevice)b->f.vkGetDeviceProcAddr(b->dev, "vkDestroyDevice");
        if (destroy) destroy(b->dev, NULL);
        b->dev = VK_NULL_HANDLE;
        return rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan: the driver of '%s' lacks Vulkan 1.2 functions", c->props.deviceName);
    }
#undef VK_CHECK_DEVICE
    b->f.vkGetDeviceQueue(b->dev, c->qfamily, 0, &b->queue);
    b->qfamily = c->qfamily;
    return RWKV_OK;
}

static rwkv_status create_objects(vk_backend *b, const dev_caps *c) {
    rwkv_status st;
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PC_BYTES};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pr};
    if ((st = vk_check(b, b->f.vkCreatePipelineLayout(b->dev, &li, NULL, &b->layout), "vkCreatePipelineLayout")))
        return st;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, .queueFamilyIndex = b->qfamily};
    if ((st = vk_check(b, b->f.vkCreateCommandPool(b->dev, &pi, NULL, &b->pool), "vkCreateCommandPool"))) return st;
    VkCommandBuffer cbs[VK_CACHE + 1];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = b->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = VK_CACHE + 1};
    if ((st = vk_check(b, b->f.vkAllocateCommandBuffers(b->dev, &ai, cbs), "vkAllocateCommandBuffers"))) return st;
    for (int i = 0; i < VK_CACHE; i++) b->cache[i].cb = cbs[i];
    b->xfer = cbs[VK_CACHE];
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((st = vk_check(b, b->f.vkCreateFence(b->dev, &fi, NULL, &b->fence), "vkCreateFence"))) return st;
    uint32_t nq = 0;
    b->f.vkGetPhysicalDeviceQueueFamilyProperties(b->phys, &nq, NULL);
    VkQueueFamilyProperties qp[16];
    if (nq > 16) nq = 16;
    b->f.vkGetPhysicalDeviceQueueFamilyProperties(b->phys, &nq, qp);
    if (b->qfamily < nq && qp[b->qfamily].timestampValidBits > 0 && c->props.limits.timestampPeriod > 0) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2};
        if (b->f.vkCreateQueryPool(b->dev, &qi, NULL, &b->timestamps) != VK_SUCCESS) b->timestamps = VK_NULL_HANDLE;
    }
    b->modules = calloc(NSHADERS, sizeof *b->modules);
    if (!b->modules) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    return pick_memory(b);
}

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
    for (size_t i = 0; i < NSHADERS; i++) g_by_name[i] = (int)i;
    qsort(g_by_name, NSHADERS, sizeof g_by_name[0], cmp_shader_name);
    vk_fill_ops(&g_impl);
    g_impl.alloc = vk_alloc_op;
    g_impl.mem_free = vk_mem_free;
    g_impl.upload = vk_upload;
    g_impl.download = vk_download;
    g_impl.sync = vk_sync;
    g_ops = (rwkv_backend_ops){
        .free = vk_free,         .info = vk_info,           .set_threads = NULL,     .alloc = locked_alloc,
        .mem_free = locked_mem_free, .upload = locked_upload, .download = locked_download, .copy = locked_copy,
        .weight = locked_weight, .plan_begin = locked_plan_begin, .plan_end = locked_plan_end,
        .embed = locked_embed,   .linear = locked_linear,   .norm = locked_norm,     .l2norm = locked_l2norm,
        .act = locked_act,       .ew = locked_ew,           .shift = locked_shift,   .wkv7 = locked_wkv7,
        .wkv5 = locked_wkv5,     .wkv4 = locked_wkv4,       .sync = locked_sync};
}

rwkv_status rwkv_backend_vulkan_new(const rwkv_backend_params *p, int device_index, rwkv_backend **out) {
    (void)p;
    *out = NULL;
    pthread_once(&g_ops_once, fill_ops);
    vk_backend *b = calloc(1, sizeof *b);
    if (!b) return rwkv_fail(RWKV_ERR_NOMEM, "out of memory");
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    const int merr = pthread_mutex_init(&b->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    if (merr) {
        free(b);
        return rwkv_fail(RWKV_ERR_NOMEM, "Vulkan: no mutex for the backend");
    }
    b->base.ops = &g_ops;
    b->opt = g_opts;
    rwkv_status st = make_instance(b->opt.validation, &b->f, &b->inst, &b->messenger);
    if (st != RWKV_OK) {
        free(b);
        return st;
    }
    uint32_t n = 0;
    VkPhysicalDevice *pd = list_devices(&b->f, b->inst, &n);
    dev_caps best, c;
    int pick = -1;
    if (n == 0) {
        st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device: the Vulkan loader found no device (is a driver such "
                                             "as mesa-vulkan-drivers installed?)");
    } else if (device_index >= 0) {
        if ((uint32_t)device_index >= n) {
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "no Vulkan device %d: there %s %u (rwkv devices lists them)", device_index,
                           n == 1 ? "is" : "are", n);
        } else {
            query_caps(&b->f, pd[device_index], &best);
            if (best.why_not)
                st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "Vulkan device %d '%s' cannot run this backend: %s", device_index,
                               best.props.deviceName, best.why_not);
            else
                pick = device_index;
        }
    } else {
        const char *why = NULL;
        for (uint32_t i = 0; i < n; i++) {
            query_caps(&b->f, pd[i], &c);
            if (c.why_not) {
                why = c.why_not;
                continue;
            }
            if (pick < 0 || type_rank(c.props.deviceType) > type_rank(best.props.deviceType)) {
                pick = (int)i;
                best = c;
            }
        }
        if (pick < 0)
            st = rwkv_fail(RWKV_ERR_UNSUPPORTED, "no usable Vulkan device: %u found, none can run this backend (%s)", n,
                           why ? why : "?");
    }
    if (pick >= 0) {
        b->phys = pd[pick];
        b->props = best.props;
        b->subgroup_min = best.sgsize.minSubgroupSize;
        b->subgroup_max = best.sgsize.maxSubgroupSize;
        b->max_alloc = best.maint3.maxMemoryAllocationSize ? best.maint3.maxMemoryAllocationSize : (1ull << 30);
        snprintf(b->device_desc, sizeof b->device_desc, "%.200s (vulkan:%d, %s, Vulkan %u.%u, %.120s)", best.props.deviceName,
                 pick, type_name(best.props.deviceType), VK_API_VERSION_MAJOR(best.props.apiVersion),
                 VK_API_VERSION_MINOR(best.props.apiVersion), best.driver.driverName);
        st = create_device(b, &best);
        if (st == RWKV_OK) st = create_objects(b, &best);
    }
    free(pd);
    if (st != RWKV_OK) {
        vk_free(&b->base);
        return st;
    }
    *out = &b->base;
    return RWKV_OK;
}
