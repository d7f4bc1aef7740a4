/* quant_avx512.c — the AVX-512 VNNI twin of quant_avx2.c (contract in ops_quant.h): the same
 * kernels, included from quant_avx2.c with QX_VNNI defined, so the integer dots are vpdpbusd
 * (ymm, AVX512VL+VNNI encoding) instead of vpmaddubsw + vpmaddwd. Results equal the AVX2 table's
 * bit for bit (both sums are exact). Compiled with the AVX-512 flags (Makefile) and only called
 * after the run-time check in rwkv_qkernels_avx512().
 * Note: the Makefile does not know this file includes quant_avx2.c; touch both when editing. */
#include "cpu.h"
#include "ops_quant.h"
#include "quant.h"

#include <immintrin.h>
#include <string.h>

#define QX_VNNI 1
#define QX(name) name##_avx512
#include "quant_avx2.c"

static const rwkv_qkernels avx512_qtable = {
    .name = "avx512vnni",
    .quantize_x = quantize_x_avx512,
    .dot = dot_avx512,
    .dotf = dotf_avx512,
};

const rwkv_qkernels *rwkv_qkernels_avx512(void) {
    const rwkv_cpu *c = rwkv_cpu_get();
    return c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni && c->avx2 && c->fma && c->f16c
               ? &avx512_qtable
               : NULL;
}
