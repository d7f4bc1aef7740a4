/* select.c — the choice of the CPU kernel tables (float and quantized) for the running CPU and
 * the context's parameters. The only file that names every instruction set's tables. */
#include "kernels.h"
#include "ops_quant.h"

const rwkv_kernels *rwkv_kernels_best(int force_scalar, int allow_amx) {
    const rwkv_kernels *k = NULL;
    if (force_scalar) return rwkv_kernels_scalar();
#if defined(__x86_64__)
    if (allow_amx) k = rwkv_kernels_amx();
    if (!k) k = rwkv_kernels_avx512();
    if (!k) k = rwkv_kernels_avx2();
#elif defined(__aarch64__)
    k = rwkv_kernels_neon();
#endif
    (void)allow_amx;
    return k ? k : rwkv_kernels_scalar();
}

const rwkv_qkernels *rwkv_qkernels_best(void) {
    const rwkv_qkernels *k = NULL;
#if defined(__x86_64__)
    k = rwkv_qkernels_avx512();
    if (!k) k = rwkv_qkernels_avx2();
#elif defined(__aarch64__)
    k = rwkv_qkernels_neon();
#endif
    return k;
}
