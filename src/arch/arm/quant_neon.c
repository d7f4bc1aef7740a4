/* quant_neon.c — NEON integer-dot kernels for the block-quantized weights (contract in
 * ops_quant.h). Not written yet: rwkv_qkernels_neon() returns NULL, so aarch64 uses the float
 * reference path of ops_quant.c. */
#include "ops_quant.h"

const rwkv_qkernels *rwkv_qkernels_neon(void) { return NULL; }
