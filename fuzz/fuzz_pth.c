/* fuzz_pth.c — libFuzzer target: any byte string given to the .pth reader must be either
 * accepted (with every tensor inside the input) or rejected with a message, never crash. */
#include "base/internal.h"
#include "io/tensor_file.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: parse, check the tensors stay inside the input, close. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tensor_file tf;
    if (rwkv_pth_parse(data, size, NULL, &tf) == RWKV_OK) {
        for (size_t i = 0; i < tf.n_tensors; i++) {
            const rwkv_tensor *t = &tf.tensors[i];
            const uint8_t *p = t->data;
            if (p < data || p > data + size || t->nbytes > (size_t)(data + size - p)) abort();
            if (!t->name || t->n_dims < 0 || t->n_dims > RWKV_MAX_DIMS) abort();
            (void)rwkv_tensor_file_find(&tf, t->name);
        }
    } else if (!rwkv_last_error()[0]) {
        abort(); /* a failure must say why */
    }
    rwkv_tensor_file_close(&tf);
    return 0;
}
