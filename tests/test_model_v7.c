/* test_model_v7.c — RWKV-7 forward pass against the official reference outputs. */
#include "common/test.h"
#include "rwkv.h"

#include <math.h>
#include <unistd.h>

#define V 256

static rwkv_model *load(const char *rel, int chunk) {
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    p.seq_chunk = chunk;
    rwkv_model *m = NULL;
    rwkv_status st = rwkv_model_load(test_shared(rel), &p, &m);
    CHECK(st == RWKV_OK, "load %s: %s", rel, rwkv_last_error());
    return m;
}

/* Logits after every byte of the 19-byte quick_fox prompt, from a fresh state. */
static float *run_all(rwkv_model *m, const int32_t *tok, size_t n, unsigned flags, const char *state_file) {
    float *out = calloc(n * V, sizeof *out);
    rwkv_state *s = NULL;
    CHECK(rwkv_state_new(m, &s) == RWKV_OK, "state_new: %s", rwkv_last_error());
    if (state_file) CHECK(rwkv_state_load_tuning(s, test_shared(state_file)) == RWKV_OK, "tuning: %s", rwkv_last_error());
    CHECK(rwkv_eval(m, s, tok, n, out, flags | RWKV_EVAL_ALL_LOGITS) == RWKV_OK, "eval: %s", rwkv_last_error());
    rwkv_state_free(s);
    return out;
}

/* The same fp16 model as an all-f32 GGUF (the converter widens every float to fp32): the
 * loader keeps the low-rank factors, whose values all fit fp16, in 16 bits, and the kernels
 * widen 16-bit weights exactly, so the logits equal the fp16 .pth's bit for bit (sequence and
 * serial mode) while a decode step reads fewer bytes than the file's tensors hold. */
static void test_lora_exact16(const int32_t *tok) {
    char out[] = "/tmp/rwkv_test_v7_f32_XXXXXX";
    int fd = mkstemp(out);
    CHECK(fd >= 0, "temp file");
    if (fd < 0) return;
    close(fd);
    CHECK(rwkv_convert_file(test_shared("models/tiny-rwkv-7v0-834K-fp16.pth"), out, "f32", NULL, NULL, NULL, NULL) ==
              RWKV_OK,
          "convert to f32 GGUF: %s", rwkv_last_error());
    rwkv_model *a = load("models/tiny-rwkv-7v0-834K-fp16.pth", 0), *b = NULL;
    rwkv_model_params p;
    rwkv_model_params_default(&p);
    CHECK(rwkv_model_load(out, &p, &b) == RWKV_OK, "load f32 GGUF: %s", rwkv_last_error());
    if (a && b) {
        for (int serial = 0; serial < 2; serial++) {
            const unsigned fl = serial ? RWKV_EVAL_SERIAL : 0;
            float *la = run_all(a, tok, 19, fl, NULL), *lb = run_all(b, tok, 19, fl, NULL);
            CHECK(!memcmp(la, lb, 19 * V * sizeof(float)), "f32 GGUF of an fp16 model: logits differ (%s, max %g)",
                  serial ? "serial" : "sequence", test_max_abs_diff(la, lb, 19 * V));
            free(la);
            free(lb);
        }
        rwkv_model_info ib;
        rwkv_model_get_info(b, &ib);
        /* every tensor of the f32 file once, the embedding one row: what decode would read
         * without the 16-bit factors */
        const uint64_t C = (uint64_t)ib.n_embd, all = 4 * (ib.params - (uint64_t)ib.n_vocab * C + C);
        CHECK(ib.decode_bytes < all && ib.decode_bytes > all / 2, "decode bytes %llu of %llu: the factors are not counted at 16 bits",
              (unsigned long long)ib.decode_bytes, (unsigned long long)all);
        printf("f32 GGUF of the fp16 model: decode reads %llu of its %llu tensor bytes\n",
               (unsigned long long)ib.decode_bytes, (unsigned long long)all);
    }
    rwkv_model_free(a);
    rwkv_model_free(b);
    unlink(out);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_model_v7");
    size_t plen = 0, flen = 0;
    unsigned char *prompt = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    float *ref = test_read_file(test_shared("fixtures/tiny-7v0-834K/logits-all-quick_fox.bin"), &flen);
    CHECK(prompt && plen == 19 && ref && flen == 19 * V * 4, "fixtures readable");
    if (!prompt || !ref) return test_summary("test_model_v7");
    int32_t tok[19];
    for (int i = 0; i < 19; i++) tok[i] = prompt[i];

    rwkv_model *m = load("models/tiny-rwkv-7v0-834K.pth", 0);
    if (!m) return test_summary("test_model_v7");
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    CHECK(info.n_layer == 12 && info.n_embd == 64 && info.n_vocab == 256 && info.head_size == 64,
          "shape L%d C%d V%d N%d", info.n_layer, info.n_embd, info.n_vocab, info.head_size);
    CHECK(!strcmp(info.generation, "7") && !strcmp(info.weight_dtype, "fp32") && !strcmp(info.format, "pth"),
          "info strings");
    CHECK(info.state_bytes == 12 * (2 * 64 + 64 * 64) * 4, "state bytes %zu", info.state_bytes);

    /* sequence mode and serial mode against the official logits */
    float *seq = run_all(m, tok, 19, 0, NULL);
    float *ser = run_all(m, tok, 19, RWKV_EVAL_SERIAL, NULL);
    float dseq = test_max_abs_diff(seq, ref, 19 * V), dser = test_max_abs_diff(ser, ref, 19 * V);
    printf("fp32 sequence vs official: %.3g, serial vs official: %.3g, seq vs serial: %.3g\n", dseq, dser,
           test_max_abs_diff(seq, ser, 19 * V));
    CHECK(dseq <= 1e-4f, "sequence mode max abs diff %g", dseq);
    CHECK(dser <= 1e-4f, "serial mode max abs diff %g", dser);
    CHECK(test_max_abs_diff(seq, ser, 19 * V) <= 1e-5f, "sequence vs serial %g", test_max_abs_diff(seq, ser, 19 * V));

    /* last-token logits only */
    {
        size_t l1 = 0;
        float *last = test_read_file(test_shared("fixtures/tiny-7v0-834K/logits-quick_fox.bin"), &l1);
        float out[V];
        rwkv_state *s;
        rwkv_state_new(m, &s);
        CHECK(rwkv_eval(m, s, tok, 19, out, 0) == RWKV_OK, "eval last");
        CHECK(last && l1 == V * 4 && test_max_abs_diff(out, last, V) <= 1e-4f, "last-token logits");
        CHECK(rwkv_state_n_tokens(s) == 19, "token count");
        /* rwkv.cpp expected logits after "in */
        size_t l2 = 0;
        float *exp_in = test_read_file(test_shared("models/expected-logits-7v0-834K.bin"), &l2);
        const int32_t in[3] = {34, 105, 110};
        rwkv_state_reset(s);
        CHECK(rwkv_state_n_tokens(s) == 0, "reset clears count");
        CHECK(rwkv_eval(m, s, in, 3, out, 0) == RWKV_OK, "eval \"in");
        float d = exp_in && l2 == V * 4 ? test_max_abs_diff(out, exp_in, V) : 1e9f;
        printf("expected-logits-7v0-834K (\"in): %.3g\n", d);
        CHECK(d <= 1e-4f, "expected-logits-7v0-834K diff %g", d);
        /* out of range token leaves the state untouched */
        int32_t bad = 256;
        CHECK(rwkv_eval(m, s, &bad, 1, out, 0) == RWKV_ERR_RANGE, "token 256 rejected");
        CHECK(rwkv_state_n_tokens(s) == 3, "state untouched on error");
        bad = -1;
        CHECK(rwkv_eval(m, s, &bad, 1, out, 0) == RWKV_ERR_RANGE, "token -1 rejected");
        CHECK(rwkv_eval(m, s, tok, 0, out, 0) == RWKV_ERR_INVALID_ARG, "zero tokens rejected");
        CHECK(rwkv_eval(m, NULL, tok, 1, out, 0) == RWKV_ERR_INVALID_ARG, "NULL state rejected");
        CHECK(rwkv_eval(m, s, tok, 1, out, 0x100) == RWKV_ERR_INVALID_ARG, "unknown flag rejected");
        rwkv_state_free(s);
        free(last);
        free(exp_in);
    }

    /* split feeding and state copies: feed 7 tokens, clone, feed the rest to both */
    {
        rwkv_state *a, *b;
        float la[V], lb[V];
        rwkv_state_new(m, &a);
        rwkv_eval(m, a, tok, 7, NULL, 0);
        CHECK(rwkv_state_clone(a, &b) == RWKV_OK, "clone");
        rwkv_eval(m, a, tok + 7, 12, la, 0);
        rwkv_eval(m, b, tok + 7, 12, lb, RWKV_EVAL_SERIAL);
        CHECK(test_max_abs_diff(la, ref + 18 * V, V) <= 1e-4f, "split feed matches");
        CHECK(test_max_abs_diff(la, lb, V) <= 1e-5f, "clone continues identically");
        rwkv_state_reset(b);
        CHECK(rwkv_state_copy(b, a) == RWKV_OK && !memcmp(rwkv_state_data(a), rwkv_state_data(b),
                                                           rwkv_state_n_floats(a) * 4), "copy");
        rwkv_state_free(a);
        rwkv_state_free(b);
    }

    /* chunk sizes do not change results */
    int chunks[] = {1, 3, 5, 19, 32};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        rwkv_model *mc = load("models/tiny-rwkv-7v0-834K.pth", chunks[c]);
        if (!mc) continue;
        float *o = run_all(mc, tok, 19, 0, NULL);
        CHECK(test_max_abs_diff(o, seq, 19 * V) <= 1e-5f, "chunk %d vs default: %g", chunks[c],
              test_max_abs_diff(o, seq, 19 * V));
        free(o);
        rwkv_model_free(mc);
    }

    /* state tuning fixture */
    {
        size_t l = 0;
        float *sref = test_read_file(test_shared("fixtures/tiny-7v0-834K/logits-all-quick_fox-from-state.bin"), &l);
        float *o1 = run_all(m, tok, 19, 0, "models/tiny-rwkv-7v0-834K-state.pth");
        float *o2 = run_all(m, tok, 19, RWKV_EVAL_SERIAL, "models/tiny-rwkv-7v0-834K-state.pth");
        float d1 = sref ? test_max_abs_diff(o1, sref, 19 * V) : 1e9f, d2 = sref ? test_max_abs_diff(o2, sref, 19 * V) : 1e9f;
        printf("from state: sequence %.3g, serial %.3g\n", d1, d2);
        CHECK(l == 19 * V * 4 && d1 <= 1e-4f && d2 <= 1e-4f, "from-state fixture %g %g", d1, d2);
        /* reset returns to the tuned state */
        rwkv_state *s;
        rwkv_state_new(m, &s);
        rwkv_state_load_tuning(s, test_shared("models/tiny-rwkv-7v0-834K-state.pth"));
        float out[V];
        rwkv_eval(m, s, tok, 19, NULL, 0);
        rwkv_state_reset(s);
        rwkv_eval(m, s, tok, 19, out, 0);
        CHECK(sref && test_max_abs_diff(out, sref + 18 * V, V) <= 1e-4f, "reset goes back to the tuned state");
        /* a model file is not a state file */
        CHECK(rwkv_state_load_tuning(s, test_shared("models/tiny-rwkv-7v0-834K.pth")) == RWKV_ERR_SHAPE,
              "model as state file rejected: %s", rwkv_last_error());
        rwkv_state_free(s);
        free(sref);
        free(o1);
        free(o2);
    }

    /* fp16 / bf16 copies: bounded difference to the official fp32 logits */
    const char *half[2] = {"models/tiny-rwkv-7v0-834K-fp16.pth", "models/tiny-rwkv-7v0-834K-bf16.pth"};
    const float bound[2] = {1e-4f, 1e-4f}; /* measured: 9.5e-7 for both (the weights are exactly representable) */
    for (int h = 0; h < 2; h++) {
        rwkv_model *mh = load(half[h], 0);
        if (!mh) continue;
        rwkv_model_info hi;
        rwkv_model_get_info(mh, &hi);
        CHECK(!strcmp(hi.weight_dtype, h ? "bf16" : "fp16"), "dtype %s", hi.weight_dtype);
        float *o = run_all(mh, tok, 19, 0, NULL);
        float *os = run_all(mh, tok, 19, RWKV_EVAL_SERIAL, NULL);
        float d = test_max_abs_diff(o, ref, 19 * V);
        printf("%s vs official fp32: %.3g (bound %.3g)\n", half[h], d, bound[h]);
        CHECK(d <= bound[h], "%s diff %g", half[h], d);
        CHECK(test_max_abs_diff(o, os, 19 * V) <= 1e-5f, "%s seq vs serial", half[h]);
        free(o);
        free(os);
        rwkv_model_free(mh);
    }

    /* other files */
    {
        rwkv_model *x = NULL;
        CHECK(rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K-state.pth"), NULL, &x) != RWKV_OK && !x,
              "a state file is not a model");
        CHECK(rwkv_model_load("/nonexistent/model.pth", NULL, &x) == RWKV_ERR_IO, "missing file: %s", rwkv_last_error());
        CHECK(rwkv_model_load(test_shared("data/rwkv_vocab_v20230424.txt"), NULL, &x) == RWKV_ERR_FORMAT,
              "text file rejected: %s", rwkv_last_error());
        rwkv_model_params bad;
        rwkv_model_params_default(&bad);
        bad.n_threads = -3;
        CHECK(rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K.pth"), &bad, &x) == RWKV_ERR_INVALID_ARG,
              "negative threads rejected");
    }

    test_lora_exact16(tok);

    free(seq);
    free(ser);
    rwkv_model_free(m);
    free(prompt);
    free(ref);
    return test_summary("test_model_v7");
}
