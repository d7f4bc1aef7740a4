/* test_formats.c — quantized types, rwkv.cpp .bin files, GGUF read/write (issue 4). */
#include "common/test.h"
#include "io/gguf.h"
#include "base/internal.h"
#include "io/tensor_file.h"
#include "backend/cpu/ops_quant.h"
#include "types/quant.h"

#include <math.h>
#include <unistd.h>

static const char *FOX_REF = "fixtures/tiny-7v0-834K/logits-all-quick_fox.bin";

/* Max abs logit difference of model file path to the fixture ref (all 19 quick_fox tokens),
 * serial (flags RWKV_EVAL_SERIAL) or sequence mode; -1 on a load/eval failure. */
/* Max abs logit diff over the quick_fox prompt against ref_rel, loading with quant_dot
 * (RWKV_QUANT_DOT_*); *agree (may be NULL) receives the positions whose argmax equals the
 * reference's, out of the prompt length. */
static float fox_diff_q(const char *path, const char *ref_rel, unsigned mode, int quant_dot, int *agree,
                        int *positions) {
    size_t plen, rlen;
    unsigned char *prompt = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    float *ref = test_read_file(test_shared(ref_rel), &rlen);
    rwkv_model *m = NULL;
    rwkv_state *s = NULL;
    float d = -1.0f;
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.quant_dot = quant_dot;
    if (!prompt || !ref || rwkv_model_load(path, &mp, &m) != RWKV_OK || rwkv_state_new(m, &s) != RWKV_OK) {
        fprintf(stderr, "fox_diff(%s): %s\n", path, rwkv_last_error());
        goto out;
    }
    int32_t tok[64];
    for (size_t i = 0; i < plen && i < 64; i++) tok[i] = prompt[i];
    float *lg = malloc(plen * 256 * sizeof *lg);
    if (lg && rlen == plen * 256 * 4 && rwkv_eval(m, s, tok, plen, lg, RWKV_EVAL_ALL_LOGITS | mode) == RWKV_OK) {
        d = test_max_abs_diff(lg, ref, plen * 256);
        int same = 0;
        for (size_t t = 0; t < plen; t++) {
            int a = 0, b = 0;
            for (int v = 1; v < 256; v++) {
                if (lg[t * 256 + v] > lg[t * 256 + a]) a = v;
                if (ref[t * 256 + v] > ref[t * 256 + b]) b = v;
            }
            same += a == b;
        }
        if (agree) *agree = same;
        if (positions) *positions = (int)plen;
    }
    free(lg);
out:
    rwkv_state_free(s);
    rwkv_model_free(m);
    free(prompt);
    free(ref);
    return d;
}

/* The same with the default quantized product path (RWKV_QUANT_DOT_AUTO). */
static float fox_diff(const char *path, const char *ref_rel, unsigned mode) {
    return fox_diff_q(path, ref_rel, mode, RWKV_QUANT_DOT_AUTO, NULL, NULL);
}

static void test_hand_blocks(void) {
    float x[64];
    /* q8_0: amax 127 -> d = 1 (fp16 0x3c00); roundf rounds halves away from zero */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = -127.0f; x[1] = 1.4f; x[2] = 2.5f; x[3] = -2.5f; x[4] = 100.6f;
    rwkv_block_q8_0 b8;
    rwkv_quantize_row(RWKV_DT_Q8_0, x, &b8, 32);
    CHECK(b8.d == 0x3c00 && b8.qs[0] == -127 && b8.qs[1] == 1 && b8.qs[2] == 3 && b8.qs[3] == -3 &&
              b8.qs[4] == 101 && b8.qs[5] == 0, "q8_0 block d=%04x qs=%d %d %d %d %d", b8.d, b8.qs[0],
          b8.qs[1], b8.qs[2], b8.qs[3], b8.qs[4]);
    /* q4_0: signed max -8 -> d = 1, q = min(15, (int8)(x + 8.5)) */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = -8.0f; x[1] = 7.0f; x[2] = 3.2f; x[3] = -0.6f; x[16] = 6.9f; x[17] = -7.6f;
    rwkv_block_q4_0 b4;
    rwkv_quantize_row(RWKV_DT_Q4_0, x, &b4, 32);
    CHECK(b4.d == 0x3c00 && b4.qs[0] == (0 | 15 << 4) && b4.qs[1] == (15 | 0 << 4) &&
              b4.qs[2] == (11 | 8 << 4) && b4.qs[3] == (7 | 8 << 4) && b4.qs[4] == (8 | 8 << 4),
          "q4_0 block d=%04x qs=%02x %02x %02x %02x", b4.d, b4.qs[0], b4.qs[1], b4.qs[2], b4.qs[3]);
    /* q4_0 with a positive max 8: d = -1 (0xbc00); -8 -> 16.5 -> clamped to 15 */
    x[0] = 8.0f; x[1] = -8.0f;
    rwkv_quantize_row(RWKV_DT_Q4_0, x, &b4, 32);
    CHECK(b4.d == 0xbc00 && (b4.qs[0] & 15) == 0 && (b4.qs[1] & 15) == 15, "q4_0 positive max d=%04x", b4.d);
    /* q4_1: min 0, max 15 -> d = 1, m = 0 */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 15.0f; x[1] = 3.4f; x[2] = 14.6f; x[16] = 7.5f;
    rwkv_block_q4_1 b41;
    rwkv_quantize_row(RWKV_DT_Q4_1, x, &b41, 32);
    CHECK(b41.d == 0x3c00 && b41.m == 0 && b41.qs[0] == (15 | 8 << 4) && b41.qs[1] == 3 && b41.qs[2] == 15,
          "q4_1 block d=%04x m=%04x qs=%02x %02x %02x", b41.d, b41.m, b41.qs[0], b41.qs[1], b41.qs[2]);
    /* q5_0: signed max -16 -> d = 1; q = min(31, (int8)(x + 16.5)); bit 4 in qh */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = -16.0f; x[1] = 15.0f; x[17] = -3.0f;
    rwkv_block_q5_0 b5;
    rwkv_quantize_row(RWKV_DT_Q5_0, x, &b5, 32);
    uint32_t qh = (uint32_t)b5.qh[0] | (uint32_t)b5.qh[1] << 8 | (uint32_t)b5.qh[2] << 16 | (uint32_t)b5.qh[3] << 24;
    /* values: [0]=0, [1]=31, others 16, [17]=13 -> bit4 set for all but 0 and 17 */
    CHECK(b5.d == 0x3c00 && b5.qs[0] == (0 | 0 << 4) && b5.qs[1] == (15 | 13 << 4) && b5.qs[2] == 0 &&
              qh == (0xffffffffu & ~1u & ~(1u << 17)),
          "q5_0 block d=%04x qs=%02x %02x qh=%08x", b5.d, b5.qs[0], b5.qs[1], qh);
    /* q5_1: min 0, max 31 -> d = 1 */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 31.0f; x[1] = 17.2f; x[16] = 2.5f;
    rwkv_block_q5_1 b51;
    rwkv_quantize_row(RWKV_DT_Q5_1, x, &b51, 32);
    qh = (uint32_t)b51.qh[0] | (uint32_t)b51.qh[1] << 8 | (uint32_t)b51.qh[2] << 16 | (uint32_t)b51.qh[3] << 24;
    CHECK(b51.d == 0x3c00 && b51.m == 0 && b51.qs[0] == (15 | 3 << 4) && b51.qs[1] == 1 && qh == 3u,
          "q5_1 block d=%04x qs=%02x %02x qh=%08x", b51.d, b51.qs[0], b51.qs[1], qh);
    /* nf4: absmax 2; levels by nearest value */
    for (int j = 0; j < 64; j++) x[j] = 0.0f;
    x[0] = 2.0f; x[1] = -2.0f; x[2] = 2.0f * 0.16093020141124725f; x[32] = -0.19f;
    rwkv_block_nf4 bn;
    rwkv_quantize_row(RWKV_DT_NF4, x, &bn, 64);
    CHECK(bn.d == 0x4000 && bn.qs[0] == (15 | 6 << 4) && bn.qs[1] == (0 | 7 << 4) && bn.qs[2] == (9 | 7 << 4),
          "nf4 block d=%04x qs=%02x %02x %02x", bn.d, bn.qs[0], bn.qs[1], bn.qs[2]);
    /* iq4_nl: ggml's levels; values on the levels of the scale -max/127 are coded exactly */
    for (int j = 0; j < 32; j++) x[j] = 0.25f * (float)rwkv_iq4nl_levels[(j * 7) % 16];
    x[5] = 0.25f * -127.0f;
    rwkv_block_iq4_nl bi;
    rwkv_quantize_row(RWKV_DT_IQ4_NL, x, &bi, 32);
    float xi[32];
    rwkv_dequantize_row(RWKV_DT_IQ4_NL, &bi, xi, 32);
    CHECK(bi.d == 0x3400 && (bi.qs[0] & 15) == 0 && bi.qs[1] >> 4 == (17 * 7) % 16 &&
              test_max_abs_diff(x, xi, 32) == 0.0f,
          "iq4_nl block d=%04x qs=%02x %02x, error %g", bi.d, bi.qs[0], bi.qs[1], test_max_abs_diff(x, xi, 32));
    /* round trips: dequantize(quantize(x)) within half a step */
    const rwkv_dtype types[] = {RWKV_DT_Q8_0, RWKV_DT_Q4_0, RWKV_DT_Q4_1, RWKV_DT_Q5_0, RWKV_DT_Q5_1, RWKV_DT_NF4,
                                RWKV_DT_IQ4_NL};
    const float tol[] = {0.6f / 127, 1.0f / 8, 0.5f / 15 * 2, 1.0f / 16, 0.5f / 31 * 2, 0.2f, 0.2f};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        float y[64], z[64];
        unsigned char buf[128];
        for (int j = 0; j < 64; j++) y[j] = sinf((float)j * 0.7f + (float)k);
        rwkv_quantize_row(types[k], y, buf, 64);
        rwkv_dequantize_row(types[k], buf, z, 64);
        CHECK(test_max_abs_diff(y, z, 64) <= tol[k] * 1.01f, "%s round trip error %g", rwkv_dtype_name(types[k]),
              test_max_abs_diff(y, z, 64));
        CHECK(rwkv_dtype_row_bytes(types[k], 64) == 64 / rwkv_dtype_block(types[k]) * rwkv_dtype_block_bytes(types[k]),
              "row bytes");
    }
    CHECK(rwkv_dtype_row_bytes(RWKV_DT_Q8_0, 33) == 0, "partial block rejected");
}

/* The type table: every row complete, its lookups lead back to it, its codes are its values. */
static void test_type_table(void) {
    int bad_rows = 0, bad_lookup = 0;
    for (int d = 0; d < RWKV_DT_COUNT; d++) {
        const rwkv_dtype dt = (rwkv_dtype)d;
        const rwkv_type *t = rwkv_type_of(dt);
        const bool block = t && t->block > 1;
        if (!t || !t->name || !t->to_f32 || !t->from_f32 || t->block < 1 || t->block > RWKV_MAX_BLOCK ||
            t->block_bytes < 1 || (block != (t->codes != NULL)) || (block && t->block % 32 != 0) ||
            rwkv_dtype_is_quant(dt) != block || rwkv_dtype_size(dt) != (block ? 0u : (size_t)t->block_bytes)) {
            bad_rows++;
            continue;
        }
        rwkv_dtype back;
        bad_lookup += !rwkv_dtype_from_name(t->name, &back) || back != dt || strcmp(rwkv_dtype_name(dt), t->name);
        bad_lookup += t->alias && (!rwkv_dtype_from_name(t->alias, &back) || back != dt);
        bad_lookup += t->ggml_id >= 0 && (!rwkv_dtype_of_ggml_id((uint32_t)t->ggml_id, &back) || back != dt ||
                                          rwkv_ggml_id_of(dt) != t->ggml_id);
        bad_lookup += t->bin_code >= 0 && (!rwkv_dtype_of_bin_code((uint32_t)t->bin_code, &back) || back != dt);
        bad_lookup += t->torch_storage && (!rwkv_dtype_of_torch_storage(t->torch_storage, strlen(t->torch_storage),
                                                                        &back) || back != dt);
    }
    CHECK(bad_rows == 0, "%d incomplete rows in the type table", bad_rows);
    CHECK(bad_lookup == 0, "%d lookups do not lead back to their row", bad_lookup);
    rwkv_dtype dt = RWKV_DT_F32;
    CHECK(!rwkv_type_of(RWKV_DT_COUNT) && !rwkv_type_of((rwkv_dtype)-1) && !strcmp(rwkv_dtype_name(RWKV_DT_COUNT), "unknown") &&
              rwkv_dtype_row_bytes(RWKV_DT_COUNT, 32) == 0 && !rwkv_dtype_from_name("q7_9", &dt) &&
              !rwkv_dtype_of_ggml_id(12345, &dt) && !rwkv_dtype_of_bin_code(4, &dt) &&
              !rwkv_dtype_of_torch_storage("IntStorage", 10, &dt) && dt == RWKV_DT_F32,
          "values that are not types are refused");
    char names[256];
    CHECK(!strcmp(rwkv_dtype_list(names, sizeof names, NULL, true),
                  "fp32 (f32), fp16 (f16), bf16, q8_0 (int8), q4_0, q4_1, q5_0, q5_1, nf4, iq4_nl"),
          "type list: %s", names);
    CHECK(!strcmp(rwkv_dtype_list(names, 12, NULL, false), "fp32, fp16,"), "cut type list: '%s'", names);
    /* a block type's codes are its values: c·d + m is to_f32's value (nf4: its int8 levels) */
    int bad_codes = 0;
    for (int d = 0; d < RWKV_DT_COUNT; d++) {
        const rwkv_type *t = rwkv_type_of((rwkv_dtype)d);
        if (t->block == 1) continue;
        float x[RWKV_MAX_BLOCK], y[RWKV_MAX_BLOCK];
        unsigned char blk[1024];
        for (int j = 0; j < t->block; j++) x[j] = sinf(0.37f * (float)j + (float)d) * 3.0f + 0.5f;
        t->from_f32(x, blk, (size_t)t->block);
        t->to_f32(blk, y, (size_t)t->block);
        int c[RWKV_MAX_BLOCK];
        float dw, mw;
        t->codes(blk, c, &dw, &mw);
        for (int j = 0; j < t->block; j++) {
            const float v = (float)c[j] * dw + mw;
            bad_codes += d == RWKV_DT_NF4 ? fabsf(v - y[j]) > 0.5f * fabsf(dw) + 1e-6f : v != y[j];
        }
    }
    CHECK(bad_codes == 0, "%d block values differ from their codes", bad_codes);
    /* an element of a block type is not read as a plain one */
    unsigned char q[34] = {0x00, 0x3c, 5};
    CHECK(isnan(rwkv_load_elem(RWKV_DT_Q8_0, q, 0)) && rwkv_load_elem(RWKV_DT_F16, q, 0) == 1.0f,
          "rwkv_load_elem of a block type is NaN");
}

/* Our quantizer gives the same bytes as ggml's (through rwkv.cpp's Q5_0/Q5_1 files). */
static void test_bit_exact_vs_rwkvcpp(void) {
    rwkv_tensor_file f32, q;
    const char *types[2] = {"Q5_0", "Q5_1"};
    const rwkv_dtype dts[2] = {RWKV_DT_Q5_0, RWKV_DT_Q5_1};
    CHECK(rwkv_bin_open(test_shared("models/tiny-rwkv-7v0-834K-FP32.bin"), &f32) == RWKV_OK, "%s", rwkv_last_error());
    for (int k = 0; k < 2; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/tiny-rwkv-7v0-834K-%s.bin", types[k]);
        CHECK(rwkv_bin_open(test_shared(rel), &q) == RWKV_OK, "%s", rwkv_last_error());
        size_t n_cmp = 0, n_same = 0;
        for (size_t i = 0; i < q.n_tensors; i++) {
            const rwkv_tensor *t = &q.tensors[i];
            if (t->dtype != dts[k]) continue;
            const rwkv_tensor *src = rwkv_tensor_file_find(&f32, t->name);
            if (!src || src->dtype != RWKV_DT_F32 || src->numel != t->numel) continue;
            unsigned char *buf = malloc(t->nbytes);
            size_t cols = (size_t)t->shape[t->n_dims - 1], rb = rwkv_dtype_row_bytes(dts[k], cols);
            float *row = malloc(cols * sizeof *row);
            for (size_t r = 0; r < t->numel / cols; r++) {
                memcpy(row, (const char *)src->data + r * cols * 4, cols * 4);
                rwkv_quantize_row(dts[k], row, buf + r * rb, cols);
            }
            free(row);
            n_cmp++;
            n_same += memcmp(buf, t->data, t->nbytes) == 0;
            free(buf);
        }
        CHECK(n_cmp == 72 && n_same == n_cmp, "%s: %zu of %zu quantized tensors identical to rwkv.cpp's", types[k],
              n_same, n_cmp);
        rwkv_tensor_file_close(&q);
    }
    rwkv_tensor_file_close(&f32);
}

static void test_bin_models(void) {
    static const struct { const char *file, *ref; float tol; } cases[] = {
        {"models/tiny-rwkv-7v0-834K-FP32.bin", "fixtures/tiny-7v0-834K/logits-all-quick_fox.bin", 1e-4f},
        {"models/tiny-rwkv-7v0-834K-FP16.bin", "fixtures/tiny-7v0-834K/logits-all-quick_fox.bin", 1e-4f},
        {"models/tiny-rwkv-6v0-3m-Q5_1.bin", "fixtures/tiny-6v0-3m/logits-all-quick_fox.bin", 1e-4f},
        {"models/tiny-rwkv-5v2-730K-FP32.bin", "fixtures/tiny-5v2-730K/logits-all-quick_fox.bin", 1e-4f},
        {"models/tiny-rwkv-5v1-730K-FP32.bin", "fixtures/tiny-5v1-730K/logits-all-quick_fox.bin", 1e-4f},
        {"models/tiny-rwkv-4v0-660K-FP32.bin", "fixtures/tiny-4v0-660K/logits-all-quick_fox.bin", 1e-4f},
        /* fp16 files store transformed decays in fp16: measured 0.0026-0.0077 */
        {"models/tiny-rwkv-5v2-730K-FP16.bin", "fixtures/tiny-5v2-730K/logits-all-quick_fox.bin", 0.02f},
        {"models/tiny-rwkv-5v1-730K-FP16.bin", "fixtures/tiny-5v1-730K/logits-all-quick_fox.bin", 0.02f},
        {"models/tiny-rwkv-4v0-660K-FP16.bin", "fixtures/tiny-4v0-660K/logits-all-quick_fox.bin", 0.02f},
    };
    /* The fixtures are the official fp32 computation with these (dequantized) weights: the
     * exact product path must reproduce them within the stated tolerance. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (unsigned mode = 0; mode <= RWKV_EVAL_SERIAL; mode += RWKV_EVAL_SERIAL) {
            float d = fox_diff_q(test_shared(cases[i].file), cases[i].ref, mode, RWKV_QUANT_DOT_EXACT, NULL, NULL);
            CHECK(d >= 0 && d <= cases[i].tol, "%s (%s, exact products): max diff %g", cases[i].file,
                  mode ? "serial" : "sequence", d);
        }
    /* The integer path (activations rounded to int8 per block of 32, as ggml/rwkv.cpp compute
     * these files; the default on AVX-512 VNNI) is a different computation: measured 0.16 max abs
     * logit diff on the 6v0 Q5_1 file, the argmax of every position unchanged. Bounds: 0.25 and
     * at most one position's argmax changed. */
    for (unsigned mode = 0; mode <= RWKV_EVAL_SERIAL; mode += RWKV_EVAL_SERIAL) {
        int agree = -1, n = 0;
        float d = fox_diff_q(test_shared("models/tiny-rwkv-6v0-3m-Q5_1.bin"), "fixtures/tiny-6v0-3m/logits-all-quick_fox.bin",
                             mode, RWKV_QUANT_DOT_INT8, &agree, &n);
        printf("6v0 Q5_1 .bin, int8 activations (%s): max diff %.4f, argmax equal at %d of %d positions\n",
               mode ? "serial" : "sequence", d, agree, n);
        CHECK(d >= 0 && d <= 0.25f && n > 0 && agree >= n - 1, "6v0 Q5_1 int8 path: max diff %g, argmax %d/%d", d,
              agree, n);
    }
}

static void test_gguf(void) {
    char pth[512];
    snprintf(pth, sizeof pth, "%s", test_shared("models/tiny-rwkv-7v0-834K.pth"));
    char out[64], q[64];
    snprintf(out, sizeof out, "/tmp/test_formats_%ld.gguf", (long)getpid());
    snprintf(q, sizeof q, "/tmp/test_formats_%ld_q.gguf", (long)getpid());
    rwkv_convert_stats s;
    CHECK(rwkv_convert_file(pth, out, NULL, NULL, NULL, NULL, &s) == RWKV_OK, "%s", rwkv_last_error());
    CHECK(s.n_tensors == 342 && s.n_quantized == 0 && s.out_bytes > 0, "stats %d %d", s.n_tensors, s.n_quantized);
    float d = fox_diff(out, FOX_REF, 0);
    CHECK(d >= 0 && d <= 1e-4f, "pth -> gguf: max diff %g", d);
    d = fox_diff(out, FOX_REF, RWKV_EVAL_SERIAL);
    CHECK(d >= 0 && d <= 1e-4f, "pth -> gguf serial: max diff %g", d);
    rwkv_tokenizer *tok = NULL;
    CHECK(rwkv_tokenizer_from_model_file(out, &tok) == RWKV_ERR_UNSUPPORTED && !tok, "byte model has no vocab");
    /* every type, and the rwkv.cpp q5 files against our q5 (head q8_0 here, float in rwkv.cpp) */
    const char *types[] = {"f16", "bf16", "int8", "q5_0", "q5_1", "q4_0", "q4_1", "nf4", "iq4_nl"};
    const float tols[] = {1e-3f, 1e-2f, 0.03f, 0.05f, 0.05f, 0.1f, 0.1f, 0.1f, 0.1f};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        CHECK(rwkv_convert_file(pth, q, types[i], NULL, NULL, NULL, &s) == RWKV_OK, "%s", rwkv_last_error());
        d = fox_diff(q, FOX_REF, 0);
        printf("  logit diff to fp32, ours %-5s: %.4g (%llu bytes)\n", types[i], d, (unsigned long long)s.out_bytes);
        CHECK(d >= 0 && d <= tols[i], "%s: max diff %g", types[i], d);
    }
    for (int k = 0; k < 2; k++) {
        d = fox_diff(test_shared(k ? "models/tiny-rwkv-7v0-834K-Q5_1.bin" : "models/tiny-rwkv-7v0-834K-Q5_0.bin"), FOX_REF, 0);
        printf("  logit diff to fp32, rwkv.cpp %s .bin: %.4g\n", k ? "Q5_1" : "Q5_0", d);
        CHECK(d >= 0 && d <= 0.05f, "rwkv.cpp q5: %g", d);
    }
    /* .bin (quantized) -> gguf keeps the blocks */
    CHECK(rwkv_convert_file(test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), q, NULL, NULL, NULL, NULL, &s) == RWKV_OK,
          "%s", rwkv_last_error());
    CHECK(s.n_quantized == 72, "q5_1 kept: %d", s.n_quantized);
    d = fox_diff(q, FOX_REF, 0);
    CHECK(d >= 0 && d <= 0.05f, "bin q5_1 -> gguf %g", d);
    CHECK(rwkv_convert_file(pth, q, "q7_9", NULL, NULL, NULL, NULL) == RWKV_ERR_INVALID_ARG, "bad type");
    CHECK(rwkv_convert_file(test_shared("fixtures/prompts/quick_fox.bin"), q, NULL, NULL, NULL, NULL, NULL) != RWKV_OK,
          "not a model -> gguf fails");

    /* truncated and damaged files: every prefix of the header area, then a stride */
    size_t len;
    unsigned char *img = test_read_file(out, &len);
    CHECK(img != NULL, "read back");
    int bad_ok = 0, crashes = 0;
    for (size_t n = 0; img && n < len; n += n < 8192 ? 1 : 7919) {
        rwkv_tensor_file tf;
        rwkv_status st = rwkv_gguf_parse(img, n, NULL, &tf);
        if (st == RWKV_OK) {
            bad_ok++;
            rwkv_tensor_file_close(&tf);
        } else if (st != RWKV_ERR_FORMAT) {
            crashes++;
        }
    }
    CHECK(bad_ok == 0 && crashes == 0, "gguf prefixes: %d accepted, %d with other errors", bad_ok, crashes);
    for (size_t i = 0; img && i < 4096; i += 3) {
        unsigned char save = img[i];
        img[i] ^= 0xa5;
        rwkv_tensor_file tf;
        if (rwkv_gguf_parse(img, len, NULL, &tf) == RWKV_OK) rwkv_tensor_file_close(&tf);
        img[i] = save;
    }
    CHECK(1, "gguf flipped bytes survived");
    free(img);
    img = test_read_file(test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), &len);
    bad_ok = crashes = 0;
    for (size_t n = 0; img && n < len; n += n < 8192 ? 1 : 7919) {
        rwkv_tensor_file tf;
        rwkv_status st = rwkv_bin_parse(img, n, NULL, &tf);
        if (st == RWKV_OK) {
            bad_ok++;
            rwkv_tensor_file_close(&tf);
        } else if (st != RWKV_ERR_FORMAT) {
            crashes++;
        }
    }
    /* a prefix that ends exactly between two tensors is a valid (smaller) file */
    CHECK(crashes == 0, "bin prefixes: %d with unexpected errors", crashes);
    for (size_t i = 0; img && i < 4096; i += 3) {
        unsigned char save = img[i];
        img[i] ^= 0x5a;
        rwkv_tensor_file tf;
        if (rwkv_bin_parse(img, len, NULL, &tf) == RWKV_OK) rwkv_tensor_file_close(&tf);
        img[i] = save;
    }
    free(img);
    unlink(out);
    unlink(q);
}

/* All-token logits of model file path over the quick_fox prompt (*n = tokens, 256 logits each)
 * and its generation into gen; NULL on a load/eval failure. */
static float *fox_logits(const char *path, size_t *n, const char **gen) {
    size_t plen;
    unsigned char *prompt = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    rwkv_model *m = NULL;
    rwkv_state *s = NULL;
    float *lg = NULL;
    if (!prompt || plen > 64 || rwkv_model_load(path, NULL, &m) != RWKV_OK || rwkv_state_new(m, &s) != RWKV_OK) {
        fprintf(stderr, "fox_logits(%s): %s\n", path, rwkv_last_error());
        goto out;
    }
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    *gen = info.generation;
    int32_t tok[64];
    for (size_t i = 0; i < plen; i++) tok[i] = prompt[i];
    lg = malloc(plen * 256 * sizeof *lg);
    if (lg && rwkv_eval(m, s, tok, plen, lg, RWKV_EVAL_ALL_LOGITS) != RWKV_OK) {
        free(lg);
        lg = NULL;
    }
    *n = plen * 256;
out:
    rwkv_state_free(s);
    rwkv_model_free(m);
    free(prompt);
    return lg;
}

/* RWKV-4/5.1/5.2/6 -> GGUF (rwkv.c's own "rwkvN-official" layout) -> the same model back. */
static void test_gguf_older(void) {
    static const struct { const char *file, *gen; } cases[] = {
        {"models/tiny-rwkv-4v0-660K.pth", "4"}, {"models/tiny-rwkv-5v1-730K.pth", "5.1"},
        {"models/tiny-rwkv-5v2-730K.pth", "5.2"}, {"models/tiny-rwkv-6v0-3m-Q5_1.pth", "6"}};
    static const char *const types[] = {"f32", "f16", "q8_0"};
    static const float tols[] = {1e-6f, 1e-2f, -1.0f}; /* q8_0: finite logits only */
    char out[64];
    snprintf(out, sizeof out, "/tmp/test_formats_%ld_old.gguf", (long)getpid());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n_ref = 0, n = 0;
        const char *gen = "", *ggen = "";
        float *ref = fox_logits(test_shared(cases[i].file), &n_ref, &gen);
        CHECK(ref && !strcmp(gen, cases[i].gen), "%s: reference logits, generation %s", cases[i].file, gen);
        for (size_t k = 0; ref && k < sizeof types / sizeof types[0]; k++) {
            rwkv_convert_stats s;
            CHECK(rwkv_convert_file(test_shared(cases[i].file), out, types[k], NULL, NULL, NULL, &s) == RWKV_OK,
                  "%s -> %s: %s", cases[i].file, types[k], rwkv_last_error());
            CHECK((s.n_quantized > 0) == (k == 2), "%s %s: %d quantized", cases[i].file, types[k], s.n_quantized);
            float *lg = fox_logits(out, &n, &ggen);
            CHECK(lg && n == n_ref && !strcmp(ggen, cases[i].gen), "%s %s: load back, generation %s", cases[i].file,
                  types[k], ggen);
            if (lg && n == n_ref) {
                float d = test_max_abs_diff(lg, ref, n);
                bool finite = true;
                for (size_t j = 0; j < n; j++) finite = finite && isfinite(lg[j]);
                printf("  %s as %s GGUF: logit diff %.4g\n", cases[i].file, types[k], d);
                CHECK(finite && (tols[k] < 0 || d <= tols[k]), "%s %s: max diff %g", cases[i].file, types[k], d);
            }
            free(lg);
        }
        /* the architecture tag */
        rwkv_tensor_file tf;
        if (rwkv_gguf_open(out, &tf) == RWKV_OK) {
            const char *want = cases[i].gen[0] == '4' ? "rwkv4-official" : cases[i].gen[0] == '5' ? "rwkv5-official"
                                                                                               : "rwkv6-official";
            const char *arch = tf.meta ? ((const rwkv_gguf_meta *)tf.meta)->arch : "";
            CHECK(!strcmp(arch, want), "%s: architecture '%s'", cases[i].file, arch);
            rwkv_tensor_file_close(&tf);
        } else {
            CHECK(0, "%s: reopen: %s", out, rwkv_last_error());
        }
        free(ref);
    }
    unlink(out);
}

/* Opening (tensor_file.c): the format is detected from the first bytes of the one mapping the
 * table keeps; tensors the reader did not convert point into that mapping, the others into
 * buffers the table owns; every tensor's first row is readable (under ASan: no dangling data). */
static void test_tensor_file_open(void) {
    char gguf[64];
    snprintf(gguf, sizeof gguf, "/tmp/test_formats_%ld_open.gguf", (long)getpid());
    CHECK(rwkv_convert_file(test_shared("models/tiny-rwkv-7v0-834K.pth"), gguf, "q8_0", NULL, NULL, NULL, NULL) ==
              RWKV_OK, "convert: %s", rwkv_last_error());
    const struct { const char *path, *format; } cases[] = {
        {test_shared("models/tiny-rwkv-7v0-834K.pth"), "pth"},
        {gguf, "gguf"},
        {test_shared("models/tiny-rwkv-6v0-3m-Q5_1.bin"), "bin"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s", cases[i].path);
        rwkv_tensor_file tf;
        if (rwkv_tensor_file_open(path, &tf) != RWKV_OK) {
            CHECK(0, "%s: %s", path, rwkv_last_error());
            continue;
        }
        const char *lo = tf.map.data, *hi = lo + tf.map.size;
        size_t inside = 0, outside = 0;
        float row[4096];
        for (size_t k = 0; k < tf.n_tensors; k++) {
            const rwkv_tensor *t = &tf.tensors[k];
            const char *d = t->data;
            if (d >= lo && d < hi && t->nbytes <= (size_t)(hi - d)) inside++;
            else outside++;
            const size_t inner = (size_t)t->shape[t->n_dims - 1];
            if (inner <= 4096) rwkv_convert_to_f32(t->dtype, t->data, row, inner);
        }
        CHECK(!strcmp(tf.format, cases[i].format) && inside > 0 && (outside == 0 || tf.n_owned > 0),
              "%s: format %s, %zu tensors in the mapping, %zu elsewhere (%zu owned buffers)", path, tf.format, inside,
              outside, tf.n_owned);
        rwkv_tensor_file_close(&tf);
        CHECK(tf.map.data == NULL && tf.tensors == NULL, "close leaves a zeroed table");
    }
    /* one format asked for: that reader's errors */
    rwkv_tensor_file tf;
    CHECK(rwkv_pth_open(gguf, &tf) == RWKV_ERR_FORMAT && strstr(rwkv_last_error(), "not a PyTorch checkpoint") &&
              !strcmp(tf.format, "pth"),
          "gguf as pth: %s", rwkv_last_error());
    CHECK(rwkv_bin_open(gguf, &tf) == RWKV_ERR_FORMAT && strstr(rwkv_last_error(), "not an rwkv.cpp .bin file"),
          "gguf as bin: %s", rwkv_last_error());
    CHECK(rwkv_gguf_open(test_shared("models/tiny-rwkv-7v0-834K.pth"), &tf) == RWKV_ERR_FORMAT &&
              strstr(rwkv_last_error(), "not a GGUF file"),
          "pth as gguf: %s", rwkv_last_error());
    CHECK(rwkv_tensor_file_open(test_shared("fixtures/prompts/quick_fox.bin"), &tf) == RWKV_ERR_FORMAT &&
              strstr(rwkv_last_error(), "unknown model file format") && tf.tensors == NULL && tf.map.data == NULL,
          "not a model: %s", rwkv_last_error());
    CHECK(rwkv_tensor_file_open("/nonexistent/model.pth", &tf) == RWKV_ERR_IO, "missing file: %s", rwkv_last_error());
    unlink(gguf);
}

/* rwkv_model_info.quant_products reports the path each quant_dot setting takes. */
static void test_quant_products(void) {
    static const struct { int q; const char *want; } cases[] = {
        {RWKV_QUANT_DOT_EXACT, "exact"}, {RWKV_QUANT_DOT_INT8, "int8"}, {RWKV_QUANT_DOT_AUTO, NULL}};
    const int simd = rwkv_qkernels_best() != NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rwkv_model_params mp;
        rwkv_model_params_default(&mp);
        mp.quant_dot = cases[i].q;
        rwkv_model *m = NULL;
        if (rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), &mp, &m) != RWKV_OK) {
            CHECK(0, "load Q5_1 .bin: %s", rwkv_last_error());
            continue;
        }
        rwkv_model_info info;
        rwkv_model_get_info(m, &info);
        const char *want = !simd                            ? "scalar"
                           : cases[i].want                    ? cases[i].want
                           : rwkv_qkernels_best()->int8_default ? "int8"
                                                              : "exact";
        CHECK(!strcmp(info.quant_products, want), "quant_dot %d: quant_products %s, want %s", cases[i].q,
              info.quant_products, want);
        rwkv_model_free(m);
        /* force_scalar takes the float reference whatever quant_dot says */
        mp.force_scalar = 1;
        if (rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), &mp, &m) != RWKV_OK) {
            CHECK(0, "load Q5_1 .bin (scalar): %s", rwkv_last_error());
            continue;
        }
        rwkv_model_get_info(m, &info);
        CHECK(!strcmp(info.quant_products, "scalar"), "quant_dot %d, force_scalar: quant_products %s", cases[i].q,
              info.quant_products);
        rwkv_model_free(m);
    }
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.quant_dot = 3;
    rwkv_model *m = NULL;
    CHECK(rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K-Q5_1.bin"), &mp, &m) == RWKV_ERR_INVALID_ARG && !m,
          "quant_dot 3 refused");
}

int main(void) {
    test_hand_blocks();
    test_type_table();
    if (test_require_shared()) {
        test_bit_exact_vs_rwkvcpp();
        test_bin_models();
        test_quant_products();
        test_tensor_file_open();
        test_gguf();
        test_gguf_older();
    }
    return test_summary("test_formats");
}
