/* fuzz_gguf.c — libFuzzer target: any byte string given to the gguf reader must be either accepted
 * (every tensor's bytes inside the input or in a buffer owned by the table) or rejected with a
 * message, never crash. */
#include "base/internal.h"
#include "io/tensor_file.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tensor_file tf;
    if (rwkv_gguf_parse(data, size, NULL, &tf) == RWKV_OK) {
        for (size_t i = 0; i < tf.n_tensors; i++) {
            const rwkv_tensor *t = &tf.tensors[i];
            const uint8_t *p = t->data;
            int inside = p >= data && p <= data + size && t->nbytes <= (size_t)(data + size - p);
            if (!inside && tf.n_owned == 0) abort(); /* converted tensors live in owned buffers */
            if (!t->name || t->n_dims < 1 || t->n_dims > RWKV_MAX_DIMS) abort();
            /* touch the data: dequantize / convert the first row */
            if (t->numel > 0 && t->n_dims >= 1) {
                size_t inner = (size_t)t->shape[t->n_dims - 1];
                float *row = malloc(inner * sizeof *row);
                if (row) rwkv_convert_to_f32(t->dtype, t->data, row, inner);
                free(row);
            }
        }
    } else if (!rwkv_last_error()[0]) {
        abort(); /* a failure must say why */
    }
    rwkv_tensor_file_close(&tf);
    return 0;
}
