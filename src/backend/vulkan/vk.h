/* vk.h — internals of the Vulkan backend shared by its files (vk_device.c: loader, device, memory,
 * submission; vk_ops.c: weights, plan and the forward ops). Not installed; the backend's entry
 * points are in backend/backend.h and backend/vulkan/vulkan.h.
 *
 * Design in one paragraph: memory is addressed by buffer device addresses (rwkv_ptr.a), which the
 * shaders read through GL_EXT_buffer_reference from push constants, so there are no descriptor
 * sets and no limit on how much one dispatch can see. Every forward op appends a record (pipeline,
 * grid, 128 bytes of push constants, whether a barrier precedes it) to an op list; data that
 * changes from step to step while the shapes stay the same (token ids, the segments' state
 * addresses) goes to a host-visible "step data" buffer instead, so that the op list of a decode
 * step is the same every time. sync compares the list with the lists of the last command buffers
 * it recorded and resubmits a match, else records a new one; then it waits for the fence. */
#ifndef RWKV_VK_H
#define RWKV_VK_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "backend/backend.h"
#include "backend/vulkan/vulkan.h"

#include <pthread.h>

/* Every Vulkan function the backend calls, loaded at run time from libvulkan.so.1 (the library
 * does not link against the loader, so the CPU backend works where it is absent). */
#define VK_INSTANCE_FUNCS(X)                                                                      \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)           \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2)                             \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceQueueFamilyProperties)            \
    X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkEnumerateDeviceExtensionProperties)
#define VK_DEVICE_FUNCS(X)                                                                        \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)                   \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory)    \
    X(vkMapMemory) X(vkGetBufferDeviceAddress) X(vkCreateShaderModule) X(vkDestroyShaderModule)   \
    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateComputePipelines)              \
    X(vkDestroyPipeline) X(vkCreateCommandPool) X(vkDestroyCommandPool)                           \
    X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)                     \
    X(vkResetCommandBuffer) X(vkCmdBindPipeline) X(vkCmdPushConstants) X(vkCmdDispatch)           \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) X(vkCmdResetQueryPool)          \
    X(vkCmdWriteTimestamp) X(vkCreateQueryPool) X(vkDestroyQueryPool) X(vkGetQueryPoolResults)    \
    X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) X(vkWaitForFences) X(vkQueueSubmit)       \
    X(vkDeviceWaitIdle)

#define VK_DECLARE_FN(name) PFN_##name name;
typedef struct vk_fns {
    VK_INSTANCE_FUNCS(VK_DECLARE_FN)
    VK_DEVICE_FUNCS(VK_DECLARE_FN)
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} vk_fns;

/* A free range of a memory block. */
typedef struct vk_range {
    uint64_t off, len;
} vk_range;

/* One VkDeviceMemory with one VkBuffer over all of it: either a dedicated allocation or a block
 * that small allocations are carved from (free: its free ranges, sorted by offset). */
typedef struct vk_mem {
    uint64_t addr, size;            /* device address and bytes */
    VkBuffer buf;
    VkDeviceMemory mem;
    unsigned char *map;             /* persistent host mapping, or NULL */
    int block;                      /* 1: a block of sub-allocations */
    int counted;                    /* 1: counts against the memory limit */
    vk_range *free;
    int nfree, capfree;
} vk_mem;

/* A live sub-allocation (addr → bytes), so mem_free knows its size. */
typedef struct vk_sub {
    uint64_t addr, len;
} vk_sub;

/* Shaders: the index of each module in the generated vk_spirv[] table is looked up by name. */
typedef struct vk_pipe {
    int shader;                     /* index in vk_spirv[] */
    int spec[4];                    /* specialization constants 0..3 */
    VkPipeline pipe;
} vk_pipe;

#define VK_PC_BYTES 128

enum { VK_OP_DISPATCH = 1, VK_OP_COPY = 2 };

/* One recorded operation. Compared byte for byte between steps (zeroed before filling). */
typedef struct vk_op {
    uint32_t kind;                  /* VK_OP_* */
    uint32_t barrier;               /* 1: a memory barrier before this op */
    uint32_t pipe;                  /* dispatch: index in pipes */
    uint32_t grid[3];
    union {
        unsigned char pc[VK_PC_BYTES]; /* dispatch: push constants */
        struct {
            VkBuffer src, dst;
            VkDeviceSize src_off, dst_off, bytes;
        } copy;
    } u;
} vk_op;

/* A recorded command buffer and the op list it was recorded from. */
typedef struct vk_cached {
    VkCommandBuffer cb;
    vk_op *ops;
    size_t n, cap;
    uint64_t hash;
    uint64_t used;                  /* the submit count when last used (LRU) */
    int valid;
} vk_cached;

#define VK_CACHE 4

/* Address ranges an op reads and writes, for the barrier decisions (vk_ops.c: hazards). */
typedef struct vk_span {
    uint64_t a, n;
} vk_span;

#define VK_MAX_PENDING 256

typedef struct vk_backend {
    rwkv_backend base;
    pthread_mutex_t lock;           /* every entry point holds it (recursive): states are made, freed
                                       and copied from other threads than the one evaluating */
    vk_fns f;
    rwkv_vk_options opt;

    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfamily;
    VkPhysicalDeviceProperties props;
    uint32_t subgroup_min, subgroup_max; /* subgroup sizes the device may use */
    char device_desc[400];          /* rwkv_backend_info.device */

    /* memory */
    uint32_t dev_type, host_type;   /* memory type indices */
    int dev_mapped;                 /* device memory is host-visible and mapped */
    uint64_t mem_limit, mem_used;   /* bytes of VkDeviceMemory allowed / allocated */
    uint64_t block_bytes;           /* size of a sub-allocation block */
    uint64_t max_alloc;             /* largest single VkDeviceMemory */
    vk_mem *mems;                   /* sorted by addr */
    int nmems, capmems;
    vk_sub *subs;                   /* sorted by addr */
    int nsubs, capsubs;
    vk_mem *staging;                /* host-visible transfer buffer (not in mems), or NULL */
    vk_mem *step;                   /* host-visible step data (not in mems), or NULL */
    size_t step_used;

    /* pipelines */
    VkPipelineLayout layout;
    VkShaderModule *modules;        /* [number of shaders], lazily created */
    vk_pipe *pipes;
    int npipes, cappipes;

    /* commands */
    VkCommandPool pool;
    VkCommandBuffer xfer;           /* uploads and fills */
    VkFence fence;
    VkQueryPool timestamps;         /* 2 queries: start and end of the last op submit, or 0 */
    vk_cached cache[VK_CACHE];
    uint64_t submits;               /* every queue submission */
    uint64_t op_submits, op_records; /* op lists submitted, and recorded anew */
    double last_gpu_ms;             /* GPU time of the last op submit (timestamps), or 0 */
    int last_barriers;              /* barriers in the last op list submitted */

    /* the op list of the current step */
    vk_op *list;
    size_t nops, capops;
    vk_span pend_w[VK_MAX_PENDING]; /* written since the last barrier */
    vk_span pend_r[VK_MAX_PENDING]; /* read since the last barrier */
    int npend_w, npend_r;

    /* planning (plan_begin .. plan_end) */
    int planning;
    size_t plan_ops, plan_step;     /* this step so far */
    size_t plan_max_ops, plan_max_step;
    vk_op plan_op;                  /* what ops fill while planning */
    void *plan_scratch;             /* and their step data */
    size_t plan_scratch_len;

    /* errors: the first failure inside an op that cannot report it (sticky for a lost device) */
    rwkv_status err;
    char errmsg[256];
    int lost;
} vk_backend;

/* ---- vk_device.c ---- */

/* Records a failure inside an op (the first one is kept) for the next sync to report. */
void vk_set_error(vk_backend *b, rwkv_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The memory block holding [a, a + n), or NULL. */
vk_mem *vk_find(vk_backend *b, uint64_t a, uint64_t n);
/* Index of the pipeline for shader `name` with the specialization constants, created on first use;
 * -1 (and an error recorded) when it cannot be made. */
int vk_pipeline(vk_backend *b, const char *name, const int spec[4]);
/* Largest number of subgroups a workgroup of wg invocations can have. */
int vk_max_subgroups(const vk_backend *b, int wg);
/* Room for one more op and `step_bytes` of step data: submits the ops so far when either is full.
 * Returns the op (zeroed) or NULL when the op must be skipped (an error is recorded). */
vk_op *vk_op_new(vk_backend *b, size_t step_bytes, void **step_ptr, uint64_t *step_addr);
/* A step data buffer of at least `bytes` (submits what is pending first when it must grow). */
rwkv_status vk_step_reserve(vk_backend *b, size_t bytes);
/* Submits the op list and waits (sync). */
rwkv_status vk_flush(vk_backend *b);
/* Allocates `bytes` of device memory (zeroed). */
rwkv_status vk_alloc(vk_backend *b, size_t bytes, uint64_t *addr);
rwkv_status vk_upload_bytes(vk_backend *b, uint64_t dst, const void *src, size_t bytes);

/* ---- vk_ops.c ---- */

/* The forward ops, weight placement and planning in the ops table. */
void vk_fill_ops(rwkv_backend_ops *ops);

#endif
