/* cpu.h — run-time detection of the instruction-set features the kernels use. */
#ifndef RWKV_CPU_H
#define RWKV_CPU_H

#include <stdbool.h>

typedef struct rwkv_cpu {
    bool avx2, fma, f16c;               /* x86: AVX2 + FMA3 + F16C (with OS support for ymm) */
    bool avx512f, avx512bw, avx512vl, avx512dq; /* x86: with OS support for zmm/opmask state */
    bool avx512bf16, avx512vnni;
    bool amx_bf16;                      /* x86: AMX tiles + bf16 (the OS must still grant the tile
                                         * state: rwkv_cpu_amx_granted) */
    bool neon;                          /* aarch64: Advanced SIMD (always present) */
    bool neon_fp16;                     /* aarch64: FEAT_FP16 arithmetic (informational) */
} rwkv_cpu;

/* The features of the CPU this process runs on (detected once; thread-safe). */
const rwkv_cpu *rwkv_cpu_get(void);

/* Asks the OS (once per process, on first call) for the AMX tile state; true when granted and
 * the CPU has AMX-BF16. Only contexts that may use the tiles call it. */
bool rwkv_cpu_amx_granted(void);

/* A short description, e.g. "avx512 avx512bf16 avx512vnni avx2 fma f16c". Static string. */
const char *rwkv_cpu_describe(void);

#endif
