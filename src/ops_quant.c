/* ops_quant.c — products with block-quantized weight matrices (types in quant.h).
 *
 * Reference path: each weight row is dequantized to fp32 once and dotted with every token's
 * activations in a fixed order (8 partial sums), so results do not depend on T. */
#include "ops.h"
#include "quant.h"

#include <stdlib.h>

/* Σ a[i]·b[i] with 8 partial sums in a fixed order. */
static float dot8(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

void rwkv_linear_quant_rows(const struct rwkv_weight *W, int o0, int o1, const float *X, int T,
                            float *Y) {
    const size_t cols = (size_t)W->cols, rb = rwkv_dtype_row_bytes(W->dtype, cols);
    float stackbuf[1024];
    float *buf = cols <= 1024 ? stackbuf : malloc(cols * sizeof *buf);
    if (!buf || rb == 0) { /* cannot happen for a validated model; leave zeros, not garbage */
        for (int t = 0; t < T; t++)
            for (int o = o0; o < o1; o++) Y[(size_t)t * W->rows + o] = 0.0f;
        if (buf != stackbuf) free(buf);
        return;
    }
    for (int o = o0; o < o1; o++) {
        rwkv_dequantize_row(W->dtype, (const char *)W->data + (size_t)o * rb, buf, cols);
        for (int t = 0; t < T; t++)
            Y[(size_t)t * W->rows + o] = dot8(buf, X + (size_t)t * cols, W->cols);
    }
    if (buf != stackbuf) free(buf);
}
