/* test_pth_write.c — the .pth writer (src/io/pth_write.c), random-weight models
 * (rwkv_model_init_random) and the `rwkv init` / `rwkv bench` commands. */
#include "common/test.h"
#include "base/internal.h"
#include "io/tensor_file.h"
#include "io/pth_write.h"
#include "rwkv.h"
#include "io/zip.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

/* Path of name inside the test's temporary directory (static buffer rotated over 8 slots). */
static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks the zip structure of a written file: every entry stored, its data 64-byte aligned,
 * the CRC-32 in the local header and in the central directory equal to the data's; the
 * NAME/version, NAME/byteorder and NAME/data.pkl entries present. Returns the entry count. */
static size_t check_zip(const char *path, const char *label) {
    rwkv_mapping map = {0};
    CHECK(rwkv_map_file(path, &map) == RWKV_OK, "%s: map: %s", label, rwkv_last_error());
    if (!map.data) return 0;
    rwkv_zip z;
    rwkv_status st = rwkv_zip_open(map.data, map.size, label, &z);
    CHECK(st == RWKV_OK, "%s: zip: %s", label, rwkv_last_error());
    size_t n = st == RWKV_OK ? z.n_entries : 0;
    int bad_align = 0, bad_crc = 0, bad_method = 0;
    for (size_t i = 0; i < n; i++) {
        const rwkv_zip_entry *e = &z.entries[i];
        const void *data;
        size_t size;
        if (e->method != 0 || rwkv_zip_entry_data(&z, e, &data, &size) != RWKV_OK) {
            bad_method++;
            continue;
        }
        if (((const unsigned char *)data - (const unsigned char *)map.data) % 64 != 0) bad_align++;
        uint32_t crc = rwkv_crc32(0, data, size);
        const unsigned char *central = (const unsigned char *)e->name - 46;
        const unsigned char *local = (const unsigned char *)map.data + e->local_offset;
        if (rd32(central + 16) != crc || rd32(local + 14) != crc) bad_crc++;
    }
    CHECK(bad_method == 0, "%s: %d entries not stored/readable", label, bad_method);
    CHECK(bad_align == 0, "%s: %d entries not 64-byte aligned", label, bad_align);
    CHECK(bad_crc == 0, "%s: %d entries with a wrong CRC-32", label, bad_crc);
    if (n) {
        const rwkv_zip_entry *v = rwkv_zip_find(&z, "archive/version", 15);
        const rwkv_zip_entry *b = rwkv_zip_find(&z, "archive/byteorder", 17);
        const rwkv_zip_entry *p = rwkv_zip_find(&z, "archive/data.pkl", 16);
        const void *d;
        size_t s;
        CHECK(v && rwkv_zip_entry_data(&z, v, &d, &s) == RWKV_OK && s == 2 && !memcmp(d, "3\n", 2),
              "%s: version entry", label);
        CHECK(b && rwkv_zip_entry_data(&z, b, &d, &s) == RWKV_OK && s == 6 && !memcmp(d, "little", 6),
              "%s: byteorder entry", label);
        CHECK(p && rwkv_zip_entry_data(&z, p, &d, &s) == RWKV_OK && s > 2 &&
                  !memcmp(d, "\x80\x02" "ccollections\nOrderedDict\n", 27) && ((const char *)d)[s - 1] == '.',
              "%s: data.pkl is protocol 2 starting with OrderedDict", label);
    }
    rwkv_zip_free(&z);
    rwkv_unmap(&map);
    return n;
}

/* Loads path and checks its info and that a short eval gives finite logits. */
static void check_model(const char *path, const char *dtype, int L, int C, int V) {
    rwkv_model *m = NULL;
    rwkv_status st = rwkv_model_load(path, NULL, &m);
    CHECK(st == RWKV_OK, "load %s: %s", path, rwkv_last_error());
    if (!m) return;
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    CHECK(!strcmp(info.generation, "7") && info.n_layer == L && info.n_embd == C && info.n_vocab == V &&
              info.head_size == 64 && info.n_ffn == 4 * C,
          "%s: info L%d C%d V%d N%d F%d", path, info.n_layer, info.n_embd, info.n_vocab, info.head_size, info.n_ffn);
    CHECK(!strcmp(info.weight_dtype, dtype), "%s: dtype %s, want %s", path, info.weight_dtype, dtype);
    rwkv_state *s = NULL;
    CHECK(rwkv_state_new(m, &s) == RWKV_OK, "state: %s", rwkv_last_error());
    int32_t tok[40];
    for (int i = 0; i < 40; i++) tok[i] = (i * 37 + 11) % V;
    float *logits = malloc((size_t)V * sizeof *logits);
    bool finite = s && logits && rwkv_eval(m, s, tok, 40, logits, 0) == RWKV_OK;
    for (int step = 0; finite && step < 8; step++) {
        for (int i = 0; i < V; i++) finite = finite && isfinite(logits[i]);
        int32_t t = (int32_t)step;
        finite = finite && rwkv_eval(m, s, &t, 1, logits, 0) == RWKV_OK;
    }
    for (int i = 0; finite && i < V; i++) finite = isfinite(logits[i]);
    CHECK(finite, "%s: eval gives finite logits (%s)", path, rwkv_last_error());
    free(logits);
    rwkv_state_free(s);
    rwkv_model_free(m);
}

/* True when the two files have identical bytes. */
static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *da = test_read_file(a, &na), *db = test_read_file(b, &nb);
    bool same = da && db && na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}

/* Number of entries in tmpdir whose name contains ".tmp." (left-over temporary files). */
static int leftover_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* The generic writer: tensors of several ranks and types read back through the .pth loader. */
static void test_writer_roundtrip(unsigned flags, const char *file) {
    const char *path = tmp_path(file);
    rwkv_pth_writer *w = NULL;
    CHECK(rwkv_pth_writer_open(path, "mystate", flags, &w) == RWKV_OK, "open: %s", rwkv_last_error());
    if (!w) return;
    float a[6] = {1, -2, 3.5f, 4, 5, 6};
    uint16_t h[4] = {0x3c00, 0xc000, 0x0000, 0x7bff}; /* fp16 1, -2, 0, 65504 */
    uint16_t bf[3] = {0x3f80, 0x4000, 0xbf80};        /* bf16 1, 2, -1 */
    float sc = 7.0f;
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s113[3] = {1, 1, 3};
    CHECK(rwkv_pth_writer_add(w, "a.matrix", RWKV_DT_F32, 2, s23, a) == RWKV_OK, "add a: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_add(w, "h.vector", RWKV_DT_F16, 1, s4, h) == RWKV_OK, "add h: %s", rwkv_last_error());
    /* streamed in two pieces */
    CHECK(rwkv_pth_writer_begin(w, "b.mix", RWKV_DT_BF16, 3, s113) == RWKV_OK, "begin b: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_write(w, bf, 2) == RWKV_OK && rwkv_pth_writer_write(w, bf + 1, 4) == RWKV_OK,
          "write b: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_end(w) == RWKV_OK, "end b: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_add(w, "scalar", RWKV_DT_F32, 0, NULL, &sc) == RWKV_OK, "add scalar: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_close(w) == RWKV_OK, "close: %s", rwkv_last_error());

    rwkv_tensor_file tf = {0};
    rwkv_status st = rwkv_pth_open(path, &tf);
    CHECK(st == RWKV_OK, "%s: read back: %s", file, rwkv_last_error());
    if (st != RWKV_OK) return;
    CHECK(tf.n_tensors == 4, "%s: %zu tensors", file, tf.n_tensors);
    const rwkv_tensor *ta = rwkv_tensor_file_find(&tf, "a.matrix"), *th = rwkv_tensor_file_find(&tf, "h.vector");
    const rwkv_tensor *tb = rwkv_tensor_file_find(&tf, "b.mix"), *ts = rwkv_tensor_file_find(&tf, "scalar");
    CHECK(ta && ta->dtype == RWKV_DT_F32 && ta->n_dims == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 &&
              ta->nbytes == 24 && !memcmp(ta->data, a, 24),
          "%s: a.matrix", file);
    CHECK(th && th->dtype == RWKV_DT_F16 && th->n_dims == 1 && th->shape[0] == 4 && !memcmp(th->data, h, 8),
          "%s: h.vector", file);
    CHECK(tb && tb->dtype == RWKV_DT_BF16 && tb->n_dims == 3 && tb->shape[2] == 3 && !memcmp(tb->data, bf, 6),
          "%s: b.mix", file);
    CHECK(ts && ts->n_dims == 0 && ts->numel == 1 && !memcmp(ts->data, &sc, 4), "%s: scalar", file);
    rwkv_tensor_file_close(&tf);

    /* zip structure (the archive name here is "mystate": check alignment and CRCs directly) */
    rwkv_mapping map = {0};
    rwkv_zip z;
    if (rwkv_map_file(path, &map) == RWKV_OK && rwkv_zip_open(map.data, map.size, file, &z) == RWKV_OK) {
        int bad = 0;
        for (size_t i = 0; i < z.n_entries; i++) {
            const void *d;
            size_t n;
            if (rwkv_zip_entry_data(&z, &z.entries[i], &d, &n) != RWKV_OK ||
                ((const unsigned char *)d - (const unsigned char *)map.data) % 64 ||
                rd32((const unsigned char *)z.entries[i].name - 46 + 16) != rwkv_crc32(0, d, n))
                bad++;
        }
        CHECK(z.n_entries == 7 && bad == 0, "%s: %zu entries, %d bad", file, z.n_entries, bad);
        if (flags & RWKV_PTH_FORCE_ZIP64) {
            const unsigned char *eocd = (const unsigned char *)map.data + map.size - 22;
            CHECK(rd32(eocd) == 0x06054b50u && rd32(eocd - 20) == 0x07064b50u && rd32(eocd + 16) == 0xffffffffu,
                  "%s: ZIP64 end records present", file);
        }
        rwkv_zip_free(&z);
    } else {
        CHECK(0, "%s: zip reopen: %s", file, rwkv_last_error());
    }
    rwkv_unmap(&map);
}

/* Misuse of the writer fails cleanly and leaves no file behind. */
static void test_writer_errors(void) {
    rwkv_pth_writer *w = NULL;
    const char *path = tmp_path("bad.pth");
    CHECK(rwkv_pth_writer_open(path, "bad/name", 0, &w) == RWKV_ERR_INVALID_ARG && !w, "bad archive name");
    CHECK(rwkv_pth_writer_open("/nonexistent-dir-rwkv/x.pth", NULL, 0, &w) == RWKV_ERR_IO && !w,
          "unwritable directory");
    CHECK(rwkv_pth_writer_open(path, NULL, 0, &w) == RWKV_OK, "open: %s", rwkv_last_error());
    if (!w) return;
    int64_t s2[1] = {2};
    float v[3] = {1, 2, 3};
    CHECK(rwkv_pth_writer_add(w, "x", RWKV_DT_F32, 1, s2, v) == RWKV_OK, "add x");
    CHECK(rwkv_pth_writer_add(w, "x", RWKV_DT_F32, 1, s2, v) == RWKV_ERR_INVALID_ARG, "duplicate name refused");
    CHECK(rwkv_pth_writer_begin(w, "y", RWKV_DT_F32, 1, s2) != RWKV_OK, "spoiled writer refuses more tensors");
    CHECK(rwkv_pth_writer_close(w) == RWKV_ERR_INVALID_ARG, "close of a spoiled writer fails");
    struct stat sb;
    CHECK(stat(path, &sb) != 0, "no file left after a failed close");

    CHECK(rwkv_pth_writer_open(path, NULL, 0, &w) == RWKV_OK, "open 2");
    CHECK(rwkv_pth_writer_begin(w, "z", RWKV_DT_F32, 1, s2) == RWKV_OK, "begin z");
    CHECK(rwkv_pth_writer_write(w, v, 12) == RWKV_ERR_INVALID_ARG, "too much data refused");
    rwkv_pth_writer_abort(w);
    CHECK(rwkv_pth_writer_open(path, NULL, 0, &w) == RWKV_OK, "open 3");
    CHECK(rwkv_pth_writer_begin(w, "z", RWKV_DT_F32, 1, s2) == RWKV_OK && rwkv_pth_writer_write(w, v, 4) == RWKV_OK,
          "begin/write z");
    CHECK(rwkv_pth_writer_end(w) == RWKV_ERR_INVALID_ARG, "short tensor refused");
    rwkv_pth_writer_abort(w);
    /* a type without a torch storage class (the block types) cannot be written */
    CHECK(rwkv_pth_writer_open(path, NULL, 0, &w) == RWKV_OK, "open 4");
    int64_t s32[1] = {32};
    unsigned char blk[34] = {0};
    CHECK(rwkv_pth_writer_add(w, "q", RWKV_DT_Q8_0, 1, s32, blk) == RWKV_ERR_INVALID_ARG &&
              strstr(rwkv_last_error(), "no .pth storage"),
          "q8_0 tensor refused: %s", rwkv_last_error());
    CHECK(rwkv_pth_writer_add(w, "r", (rwkv_dtype)99, 1, s32, blk) == RWKV_ERR_INVALID_ARG, "bad dtype refused");
    rwkv_pth_writer_abort(w);
    CHECK(stat(path, &sb) != 0, "no file left after abort");
    CHECK(leftover_tmp_files() == 0, "no temporary files left behind");
    CHECK(rwkv_crc32(0, "123456789", 9) == 0xcbf43926u, "CRC-32 check value");
}

/* Random models: load, info, finite eval, zip validity, determinism, errors. */
static void test_random_models(void) {
    static const char *const dtypes[] = {"fp32", "fp16", "bf16"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "rand-%s.pth", dtypes[i]);
        const char *path = tmp_path(name);
        rwkv_status st = rwkv_model_init_random("L2C128", dtypes[i], 42, 256, path);
        CHECK(st == RWKV_OK, "init %s: %s", dtypes[i], rwkv_last_error());
        if (st != RWKV_OK) continue;
        check_model(path, dtypes[i], 2, 128, 256);
        /* emb + 2 ln0 + per layer (4 ln + 6 mixes + 14 att + 4 proj + 2 ln_x + 3 ffn) + ln_out/head + 3 files */
        size_t n = check_zip(path, name);
        CHECK(n == 1 + 2 + 2 * 33 + 3 + 3, "%s: %zu zip entries", name, n);
    }
    const char *a = tmp_path("rand-a.pth"), *b = tmp_path("rand-b.pth"), *c = tmp_path("rand-c.pth");
    CHECK(rwkv_model_init_random("l2c128", "fp16", 7, 256, a) == RWKV_OK, "init a: %s", rwkv_last_error());
    CHECK(rwkv_model_init_random("L2C128", NULL, 7, 256, b) == RWKV_OK, "init b: %s", rwkv_last_error());
    CHECK(rwkv_model_init_random("L2C128", "fp16", 8, 256, c) == RWKV_OK, "init c: %s", rwkv_last_error());
    CHECK(same_file(a, b), "same seed gives identical bytes");
    CHECK(!same_file(a, c), "another seed gives different bytes");
    /* a layer-count / width change keeps the file loadable; vocab 0 means 65536 */
    const char *d = tmp_path("rand-d.pth");
    CHECK(rwkv_model_init_random("L1C64", "bf16", 1, 0, d) == RWKV_OK, "init vocab 65536: %s", rwkv_last_error());
    check_model(d, "bf16", 1, 64, 65536);

    const char *e = tmp_path("rand-e.pth");
    CHECK(rwkv_model_init_random("0.2b", "fp16", 1, 256, e) == RWKV_ERR_INVALID_ARG, "unknown shape refused");
    CHECK(rwkv_model_init_random("L2C100", "fp16", 1, 256, e) == RWKV_ERR_INVALID_ARG, "C not a multiple of 64");
    CHECK(rwkv_model_init_random("L2C", "fp16", 1, 256, e) == RWKV_ERR_INVALID_ARG, "malformed L<n>C<n>");
    CHECK(rwkv_model_init_random(NULL, "fp16", 1, 256, e) == RWKV_ERR_INVALID_ARG, "NULL shape");
    CHECK(rwkv_model_init_random("L2C128", "int8", 1, 256, e) == RWKV_ERR_INVALID_ARG, "unknown dtype refused");
    CHECK(rwkv_model_init_random("L2C128", "fp16", 1, -5, e) == RWKV_ERR_INVALID_ARG, "negative vocab refused");
    CHECK(rwkv_model_init_random("L2C128", "fp16", 1, 256, "/nonexistent-dir-rwkv/m.pth") == RWKV_ERR_IO,
          "unwritable path: %s", rwkv_last_error());
    struct stat sb;
    CHECK(stat(e, &sb) != 0, "no file written for bad arguments");
}

/* Runs cmd (stdout captured into out, up to cap bytes); returns the exit status. */
static int run_capture(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `rwkv init` then `rwkv bench --json` on the tiny shared model. */
static void test_cli(void) {
    const char *bin = test_rwkv_bin();
    if (access(bin, X_OK) != 0) {
        CHECK(0, "rwkv binary %s not built", bin);
        return;
    }
    char cmd[2048], out[8192];
    const char *m = tmp_path("cli.pth");
    snprintf(cmd, sizeof cmd, "%s init --shape L2C128 --vocab 256 --dtype bf16 --seed 5 %s 2>/dev/null", bin, m);
    CHECK(run_capture(cmd, out, sizeof out) == 0, "rwkv init exit status");
    const char *ref = tmp_path("ref.pth");
    CHECK(rwkv_model_init_random("L2C128", "bf16", 5, 256, ref) == RWKV_OK && same_file(m, ref),
          "rwkv init writes what rwkv_model_init_random writes");
    snprintf(cmd, sizeof cmd, "%s init --shape 7b %s 2>/dev/null", bin, tmp_path("no.pth"));
    CHECK(run_capture(cmd, out, sizeof out) == 2, "rwkv init with a bad shape is a usage error");
    snprintf(cmd, sizeof cmd, "%s init %s 2>/dev/null", bin, tmp_path("no.pth"));
    CHECK(run_capture(cmd, out, sizeof out) == 2, "rwkv init without --shape is a usage error");

    if (!test_require_shared()) return;
    snprintf(cmd, sizeof cmd,
             "%s bench -m %s --reps 1 --prompt 16 --gen 4 --json --bw-mb 16 --threads 1 2>/dev/null", bin,
             test_shared("models/tiny-rwkv-7v0-834K.pth"));
    int rc = run_capture(cmd, out, sizeof out);
    CHECK(rc == 0, "rwkv bench exit status %d", rc);
    size_t len = strlen(out);
    CHECK(len > 2 && out[0] == '{' && out[len - 2] == '}' && out[len - 1] == '\n' && !strchr(out, '\n')[1],
          "bench prints one JSON object line: %.200s", out);
    static const char *const keys[] = {"\"decode_tok_s\":", "\"prefill_tok_s\":", "\"peak_rss_mb\":",
                                       "\"bytes_per_token\":", "\"mem_bw_gbs\":", "\"decode_tok_s_min\":",
                                       "\"decode_tok_s_max\":", "\"prefill_tok_s_min\":", "\"cpu\":",
                                       "\"threads\":1", "\"logits_finite\":true"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK(strstr(out, keys[i]) != NULL, "bench JSON has %s", keys[i]);
    CHECK(!strstr(out, "nan") && !strstr(out, "inf"), "bench JSON numbers are finite: %.300s", out);
    snprintf(cmd, sizeof cmd, "%s bench --reps 0 %s 2>/dev/null", bin, test_shared("models/tiny-rwkv-7v0-834K.pth"));
    CHECK(run_capture(cmd, out, sizeof out) == 2, "bench --reps 0 is a usage error");
    snprintf(cmd, sizeof cmd, "%s bench %s 2>/dev/null", bin, tmp_path("missing.pth"));
    CHECK(run_capture(cmd, out, sizeof out) == 1, "bench of a missing model fails");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv_test_pth_write.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp failed");
        return test_summary("test_pth_write");
    }
    test_writer_roundtrip(0, "roundtrip.pth");
    test_writer_roundtrip(RWKV_PTH_FORCE_ZIP64, "roundtrip64.pth");
    test_writer_errors();
    test_random_models();
    test_cli();
    test_remove_dir(tmpdir);
    return test_summary("test_pth_write");
}
