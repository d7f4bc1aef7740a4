/* vulkan.h — the Vulkan backend's entry points beyond backend/backend.h: options (validation
 * layer, a memory cap, the staging path, a simulated device loss) that tests and tools set, and
 * what the backend can report about itself. Present in builds with RWKV_VULKAN. */
#ifndef RWKV_BACKEND_VULKAN_H
#define RWKV_BACKEND_VULKAN_H

#include "backend/backend.h"

typedef struct rwkv_vk_options {
    int validation;          /* 1: enable VK_LAYER_KHRONOS_validation and count its messages
                                (rwkv_vk_messages); the layer must be installed */
    uint64_t mem_limit;      /* most bytes of device memory the backend may allocate, 0 = the
                                device's largest device-local heap */
    int force_staging;       /* 1: never map device memory, even where the device allows it:
                                host copies go through the staging buffer (the discrete-GPU path) */
    int lose_after_submits;  /* > 0: behave as if the device were lost after that many submits
                                (VK_ERROR_DEVICE_LOST), to test the error paths */
    int full_barriers;       /* 1: a barrier between every two ops instead of only where an op
                                touches what an earlier one since the last barrier wrote (to check
                                the hazard tracking on a real GPU: results must not change) */
} rwkv_vk_options;

/* Options for every Vulkan backend made from now on, including those rwkv_model_load makes
 * (NULL: back to the defaults, all zero). Process-wide; call it before loading, not while
 * another thread loads a model. */
void rwkv_vk_set_options(const rwkv_vk_options *o);

/* Number of validation-layer messages of warning or error severity received by every Vulkan
 * backend of the process so far (each is also printed on stderr). */
unsigned rwkv_vk_messages(void);

/* GPU time of the last submitted op list in milliseconds (timestamp queries), or 0 where the
 * device has none. be must be a Vulkan backend. */
double rwkv_vk_last_gpu_ms(const rwkv_backend *be);

/* Op lists submitted so far, and how many of them had to be recorded into a command buffer (the
 * others reused one recorded earlier from an identical list). be must be a Vulkan backend. */
void rwkv_vk_counts(const rwkv_backend *be, uint64_t *submitted, uint64_t *recorded);

/* Barriers in the op list submitted last. be must be a Vulkan backend. */
int rwkv_vk_last_barriers(const rwkv_backend *be);

/* Bytes of device memory the backend holds. be must be a Vulkan backend. */
uint64_t rwkv_vk_mem_used(const rwkv_backend *be);

/* rwkv_devices for this build (vk_device.c). */
rwkv_status rwkv_vk_devices(rwkv_device_info *out, int cap, int *n);

#endif
