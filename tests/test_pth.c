/* test_pth.c — the .pth reader: real checkpoints of every generation, value agreement between
 * fp32/fp16/bf16 files, and robustness against truncated, corrupted and hand-crafted files. */
#include "common/test.h"
#include "base/internal.h"
#include "io/tensor_file.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

/* Every prefix of the state file is parsed at full speed (~1 s); sanitizer builds take every 53rd
 * length plus every length near the start, the directories and the end (TEST_PTH_STEP=n
 * overrides). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_PTH_DEFAULT_STEP 53
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_PTH_DEFAULT_STEP 53
#endif
#endif
#ifndef TEST_PTH_DEFAULT_STEP
#define TEST_PTH_DEFAULT_STEP 1
#endif

/* ---- small helpers ----------------------------------------------------------------------- */

/* A growable byte buffer for building pickles and zips. */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

/* Appends n bytes to b (aborts the test program on allocation failure). */
static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* Appends one byte. */
static void put8(buf *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

/* Appends a little-endian value of nbytes bytes. */
static void putle(buf *b, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++) put8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

/* ---- pickle writer ------------------------------------------------------------------------ */

/* p4 = 1 emits the protocol-4 forms (SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE) instead;
 * meta = 1 adds a BUILD of {'_metadata': OrderedDict()} on the top dict, as a module's
 * state_dict() carries; param = 1 wraps each tensor in _rebuild_parameter (nn.Parameter). */
typedef struct pkw {
    buf b;
    int p4, meta, param;
} pkw;

/* A string object. */
static void pk_str(pkw *w, const char *s) {
    size_t n = strlen(s);
    if (w->p4 && n < 256) {
        put8(&w->b, 0x8c);
        put8(&w->b, (unsigned)n);
        put(&w->b, s, n);
        put8(&w->b, 0x94); /* MEMOIZE */
    } else {
        put8(&w->b, 'X');
        putle(&w->b, n, 4);
        put(&w->b, s, n);
    }
}

/* A GLOBAL module.name. */
static void pk_global(pkw *w, const char *mod, const char *name) {
    if (w->p4) {
        pk_str(w, mod);
        pk_str(w, name);
        put8(&w->b, 0x93);
        put8(&w->b, 0x94);
    } else {
        put8(&w->b, 'c');
        put(&w->b, mod, strlen(mod));
        put8(&w->b, '\n');
        put(&w->b, name, strlen(name));
        put8(&w->b, '\n');
    }
}

/* An integer (BININT1, BININT or LONG1 by magnitude). */
static void pk_int(pkw *w, int64_t v) {
    if (v >= 0 && v < 256) {
        put8(&w->b, 'K');
        put8(&w->b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put8(&w->b, 'J');
        putle(&w->b, (uint64_t)v, 4);
    } else {
        put8(&w->b, 0x8a);
        put8(&w->b, 8);
        putle(&w->b, (uint64_t)v, 8);
    }
}

/* One tensor of a crafted checkpoint. */
typedef struct tspec {
    const char *name;
    const char *cls;  /* "FloatStorage", ... */
    const char *key;  /* storage key */
    int64_t storage_numel;
    int64_t offset;
    int nd;
    int64_t size[6], stride[6];
} tspec;

/* Writes an OrderedDict of _rebuild_tensor_v2 calls as torch.save does. */
static void pk_tensor_dict(pkw *w, const tspec *ts, int n) {
    put8(&w->b, 0x80);
    put8(&w->b, w->p4 ? 4 : 2);
    if (w->p4) {
        put8(&w->b, 0x95);
        putle(&w->b, 0, 8);
    }
    pk_global(w, "collections", "OrderedDict");
    put8(&w->b, ')');
    put8(&w->b, 'R');
    put8(&w->b, 'q');
    put8(&w->b, 200);
    put8(&w->b, '(');
    for (int i = 0; i < n; i++) {
        const tspec *t = &ts[i];
        pk_str(w, t->name);
        if (w->param) {
            pk_global(w, "torch._utils", "_rebuild_parameter");
            put8(&w->b, '(');
        }
        pk_global(w, "torch._utils", "_rebuild_tensor_v2");
        put8(&w->b, '(');
        put8(&w->b, '(');
        pk_str(w, "storage");
        pk_global(w, "torch", t->cls);
        pk_str(w, t->key);
        pk_str(w, "cpu");
        pk_int(w, t->storage_numel);
        put8(&w->b, 't');
        put8(&w->b, 'Q');
        pk_int(w, t->offset);
        put8(&w->b, '(');
        for (int d = 0; d < t->nd; d++) pk_int(w, t->size[d]);
        put8(&w->b, 't');
        put8(&w->b, '(');
        for (int d = 0; d < t->nd; d++) pk_int(w, t->stride[d]);
        put8(&w->b, 't');
        put8(&w->b, 0x89);
        pk_global(w, "collections", "OrderedDict");
        put8(&w->b, ')');
        put8(&w->b, 'R');
        put8(&w->b, 't');
        put8(&w->b, 'R');
        if (w->param) {
            put8(&w->b, 0x88);
            pk_global(w, "collections", "OrderedDict");
            put8(&w->b, ')');
            put8(&w->b, 'R');
            put8(&w->b, 't');
            put8(&w->b, 'R');
        }
    }
    put8(&w->b, 'u');
    if (w->meta) {
        put8(&w->b, '}');
        put8(&w->b, '(');
        pk_str(w, "_metadata");
        pk_global(w, "collections", "OrderedDict");
        put8(&w->b, ')');
        put8(&w->b, 'R');
        put8(&w->b, 'u');
        put8(&w->b, 'b');
    }
    put8(&w->b, '.');
}

/* ---- zip writer --------------------------------------------------------------------------- */

typedef struct zentry {
    const char *name;
    const void *data;
    size_t len;
    int method;
} zentry;

/* Builds a zip of stored entries; zip64 = 1 puts every size/offset in ZIP64 extra fields. */
static buf zip_build(const zentry *e, int n, int zip64) {
    buf z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        size_t off = z.n, nl = strlen(e[i].name);
        putle(&z, 0x04034b50u, 4);
        putle(&z, 20, 2);
        putle(&z, 0, 2);
        putle(&z, (uint64_t)e[i].method, 2);
        putle(&z, 0, 4); /* time, date */
        putle(&z, 0, 4); /* crc (not checked) */
        putle(&z, e[i].len, 4);
        putle(&z, e[i].len, 4);
        putle(&z, nl, 2);
        putle(&z, 0, 2);
        put(&z, e[i].name, nl);
        put(&z, e[i].data, e[i].len);
        putle(&cd, 0x02014b50u, 4);
        putle(&cd, 45, 2);
        putle(&cd, 45, 2);
        putle(&cd, 0, 2);
        putle(&cd, (uint64_t)e[i].method, 2);
        putle(&cd, 0, 4);
        putle(&cd, 0, 4);
        putle(&cd, zip64 ? 0xffffffffu : e[i].len, 4);
        putle(&cd, zip64 ? 0xffffffffu : e[i].len, 4);
        putle(&cd, nl, 2);
        putle(&cd, zip64 ? 28 : 0, 2);
        putle(&cd, 0, 2);
        putle(&cd, 0, 2);
        putle(&cd, 0, 2);
        putle(&cd, 0, 4);
        putle(&cd, zip64 ? 0xffffffffu : off, 4);
        put(&cd, e[i].name, nl);
        if (zip64) {
            putle(&cd, 1, 2);
            putle(&cd, 24, 2);
            putle(&cd, e[i].len, 8);
            putle(&cd, e[i].len, 8);
            putle(&cd, off, 8);
        }
    }
    size_t cd_off = z.n;
    put(&z, cd.p, cd.n);
    putle(&z, 0x06054b50u, 4);
    putle(&z, 0, 4);
    putle(&z, (uint64_t)n, 2);
    putle(&z, (uint64_t)n, 2);
    putle(&z, cd.n, 4);
    putle(&z, cd_off, 4);
    putle(&z, 0, 2);
    free(cd.p);
    return z;
}

/* Builds archive/data.pkl + archive/data/<key> entries + archive/version. */
static buf make_ckpt(const buf *pkl, const char **keys, const void **data, const size_t *lens,
                     int n_storage, int method, int zip64) {
    zentry e[16];
    char names[16][64];
    int n = 0;
    e[n++] = (zentry){"archive/data.pkl", pkl->p, pkl->n, 0};
    for (int i = 0; i < n_storage && n < 15; i++) {
        snprintf(names[i], sizeof names[i], "archive/data/%s", keys[i]);
        e[n++] = (zentry){names[i], data[i], lens[i], method};
    }
    e[n++] = (zentry){"archive/version", "3\n", 2, 0};
    return zip_build(e, n, zip64);
}

/* Parses a crafted single-storage checkpoint from tensor specs; returns the status. The
 * archive is an exact-size malloc'd copy (so ASan sees reads past its end) returned in *keep:
 * the tensors point into it, so the caller frees it after rwkv_tensor_file_close(). */
static rwkv_status parse_specs(const tspec *ts, int n, const void *storage, size_t slen, int style,
                               int method, int zip64, rwkv_tensor_file *tf, void **keep) {
    /* style bit 0: protocol-4 opcodes; bit 1: state_dict metadata and Parameter wrappers */
    pkw w = {{0}, style & 1, (style >> 1) & 1, (style >> 1) & 1};
    pk_tensor_dict(&w, ts, n);
    const char *keys[1] = {"0"};
    const void *datas[1] = {storage};
    size_t lens[1] = {slen};
    buf z = make_ckpt(&w.b, keys, datas, lens, 1, method, zip64);
    void *copy = malloc(z.n);
    memcpy(copy, z.p, z.n);
    rwkv_status st = rwkv_pth_parse(copy, z.n, NULL, tf);
    free(z.p);
    free(w.b.p);
    *keep = copy;
    return st;
}

/* Parses a hand-written pickle (as data.pkl) with one 40-byte storage "0". */
static rwkv_status parse_pickle_bytes(const void *pkl, size_t n, rwkv_tensor_file *tf) {
    buf p = {0};
    put(&p, pkl, n);
    float storage[10] = {0};
    const char *keys[1] = {"0"};
    const void *datas[1] = {storage};
    size_t lens[1] = {sizeof storage};
    buf z = make_ckpt(&p, keys, datas, lens, 1, 0, 0);
    rwkv_status st = rwkv_pth_parse(z.p, z.n, NULL, tf);
    rwkv_tensor_file_close(tf);
    free(z.p);
    free(p.p);
    return st;
}

/* True when the last error mentions s. */
static int err_has(const char *s) { return strstr(rwkv_last_error(), s) != NULL; }

/* ---- real files -------------------------------------------------------------------------- */

/* Checks that every tensor of tf lies inside its mapping. */
static void check_in_mapping(const rwkv_tensor_file *tf, const char *what) {
    const char *lo = tf->map.data, *hi = lo + tf->map.size;
    size_t bad = 0;
    for (size_t i = 0; i < tf->n_tensors; i++) {
        const rwkv_tensor *t = &tf->tensors[i];
        const char *d = t->data;
        if (d < lo || d > hi || t->nbytes > (size_t)(hi - d) ||
            t->nbytes != t->numel * rwkv_dtype_size(t->dtype))
            bad++;
    }
    CHECK(bad == 0, "%s: %zu tensors outside the mapping", what, bad);
}

/* Opens a real model and checks its tensor count. */
static int open_real(const char *rel, size_t n_expected, rwkv_tensor_file *tf) {
    rwkv_status st = rwkv_pth_open(test_shared(rel), tf);
    CHECK(st == RWKV_OK, "%s: %s", rel, rwkv_last_error());
    if (st != RWKV_OK) return 0;
    CHECK(tf->n_tensors == n_expected, "%s: %zu tensors, expected %zu", rel, tf->n_tensors, n_expected);
    CHECK(tf->format && strcmp(tf->format, "pth") == 0, "%s: format", rel);
    check_in_mapping(tf, rel);
    return 1;
}

/* Checks tensor name has dtype and shape (nd dims). */
static void check_tensor(const rwkv_tensor_file *tf, const char *name, rwkv_dtype dt, int nd,
                         int64_t d0, int64_t d1, int64_t d2) {
    const rwkv_tensor *t = rwkv_tensor_file_find(tf, name);
    CHECK(t != NULL, "tensor %s missing", name);
    if (!t) return;
    int64_t want[3] = {d0, d1, d2};
    int ok = t->dtype == dt && t->n_dims == nd;
    size_t numel = 1;
    for (int i = 0; i < nd && ok; i++) {
        ok = t->shape[i] == want[i];
        numel *= (size_t)want[i];
    }
    CHECK(ok && t->numel == numel, "tensor %s: dtype %s, %d dims [%lld,%lld,%lld]", name,
          rwkv_dtype_name(t->dtype), t->n_dims, (long long)t->shape[0], (long long)t->shape[1],
          (long long)t->shape[2]);
}

/* Compares every value of a reduced-precision file with the fp32 file. rel_tol is the relative
 * rounding error of the format; abs_tol covers its subnormals. */
static void compare_precision(const rwkv_tensor_file *f32, const rwkv_tensor_file *lo, rwkv_dtype dt,
                              double rel_tol, double abs_tol, const char *what) {
    CHECK(lo->n_tensors == f32->n_tensors, "%s: tensor count", what);
    size_t bad_meta = 0, bad_val = 0, n_vals = 0;
    for (size_t i = 0; i < f32->n_tensors; i++) {
        const rwkv_tensor *a = &f32->tensors[i];
        const rwkv_tensor *b = rwkv_tensor_file_find(lo, a->name);
        if (!b || b->dtype != dt || b->n_dims != a->n_dims || b->numel != a->numel ||
            memcmp(a->shape, b->shape, sizeof a->shape) != 0) {
            bad_meta++;
            continue;
        }
        for (size_t j = 0; j < a->numel; j++) {
            double x = rwkv_load_elem(RWKV_DT_F32, a->data, j);
            double y = rwkv_load_elem(dt, b->data, j);
            if (!(fabs(x - y) <= fabs(x) * rel_tol + abs_tol)) bad_val++;
            n_vals++;
        }
    }
    CHECK(bad_meta == 0, "%s: %zu tensors differ in name/shape/dtype", what, bad_meta);
    CHECK(bad_val == 0, "%s: %zu of %zu values outside the format's precision", what, bad_val, n_vals);
    CHECK(n_vals > 800000, "%s: only %zu values compared", what, n_vals);
}

static void test_real_files(void) {
    rwkv_tensor_file f32, f16, bf16, tf;
    int ok32 = open_real("models/tiny-rwkv-7v0-834K.pth", 399, &f32);
    if (ok32) {
        check_tensor(&f32, "emb.weight", RWKV_DT_F32, 2, 256, 64, 0);
        check_tensor(&f32, "blocks.0.att.r_k", RWKV_DT_F32, 2, 1, 64, 0);
        check_tensor(&f32, "blocks.0.att.x_r", RWKV_DT_F32, 3, 1, 1, 64);
        check_tensor(&f32, "blocks.0.ln0.weight", RWKV_DT_F32, 1, 64, 0, 0);
        check_tensor(&f32, "head.weight", RWKV_DT_F32, 2, 256, 64, 0);
        check_tensor(&f32, "blocks.11.ffn.key.weight", RWKV_DT_F32, 2, 256, 64, 0);
        CHECK(rwkv_tensor_file_find(&f32, "no.such.tensor") == NULL, "find of a missing name");
        CHECK(rwkv_tensor_file_find(&f32, "emb.weigh") == NULL, "find of a prefix");
        const rwkv_tensor *ln = rwkv_tensor_file_find(&f32, "ln_out.weight");
        float s = 0;
        for (size_t i = 0; ln && i < ln->numel; i++) s += fabsf(rwkv_load_elem(ln->dtype, ln->data, i));
        CHECK(ln && s > 1.0f && isfinite(s), "ln_out.weight looks like real weights (sum |w| = %g)", s);
        CHECK(ln && f32.tensors[0].name && strcmp(f32.tensors[0].name, "emb.weight") == 0,
              "first tensor is emb.weight (file order kept)");
    }
    if (open_real("models/tiny-rwkv-7v0-834K-fp16.pth", 399, &f16)) {
        check_tensor(&f16, "emb.weight", RWKV_DT_F16, 2, 256, 64, 0);
        if (ok32) compare_precision(&f32, &f16, RWKV_DT_F16, 1.0 / 2048, 6e-8, "fp16");
        rwkv_tensor_file_close(&f16);
    }
    if (open_real("models/tiny-rwkv-7v0-834K-bf16.pth", 399, &bf16)) {
        check_tensor(&bf16, "blocks.0.att.x_r", RWKV_DT_BF16, 3, 1, 1, 64);
        if (ok32) compare_precision(&f32, &bf16, RWKV_DT_BF16, 1.0 / 256, 1e-38, "bf16");
        rwkv_tensor_file_close(&bf16);
    }
    if (ok32) rwkv_tensor_file_close(&f32);
    CHECK(f32.tensors == NULL && f32.n_tensors == 0 && f32.map.data == NULL, "close zeroes the struct");
    rwkv_tensor_file_close(&f32); /* twice is fine */

    if (open_real("models/tiny-rwkv-7v0-834K-state.pth", 12, &tf)) {
        check_tensor(&tf, "blocks.0.att.time_state", RWKV_DT_F32, 3, 1, 64, 64);
        check_tensor(&tf, "blocks.11.att.time_state", RWKV_DT_F32, 3, 1, 64, 64);
        rwkv_tensor_file_close(&tf);
    }
    if (open_real("models/tiny-rwkv-4v0-660K.pth", 78, &tf)) {
        check_tensor(&tf, "emb.weight", RWKV_DT_F32, 2, 256, 128, 0);
        rwkv_tensor_file_close(&tf);
    }
    if (open_real("models/tiny-rwkv-5v1-730K.pth", 246, &tf)) {
        check_tensor(&tf, "emb.weight", RWKV_DT_F32, 2, 256, 64, 0);
        rwkv_tensor_file_close(&tf);
    }
    if (open_real("models/tiny-rwkv-5v2-730K.pth", 270, &tf)) {
        check_tensor(&tf, "blocks.0.ln1.weight", RWKV_DT_F32, 1, 64, 0, 0);
        rwkv_tensor_file_close(&tf);
    }
    if (open_real("models/tiny-rwkv-6v0-3m-Q5_1.pth", 342, &tf)) {
        check_tensor(&tf, "emb.weight", RWKV_DT_F32, 2, 256, 128, 0);
        rwkv_tensor_file_close(&tf);
    }

    /* files that are not checkpoints */
    rwkv_status st = rwkv_pth_open(test_shared("models/does-not-exist.pth"), &tf);
    CHECK(st == RWKV_ERR_IO, "missing file: %d %s", st, rwkv_last_error());
    st = rwkv_pth_open(test_shared("models/README.md"), &tf);
    CHECK(st == RWKV_ERR_FORMAT && err_has("no zip signature"), "README: %s", rwkv_last_error());
    st = rwkv_pth_open(test_shared("models/tiny-rwkv-7v0-834K-FP32.bin"), &tf);
    CHECK(st == RWKV_ERR_FORMAT && err_has("not a PyTorch checkpoint"), "ggml .bin: %s", rwkv_last_error());
    char tmp[] = "/tmp/test_pth_emptyXXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        close(fd);
        st = rwkv_pth_open(tmp, &tf);
        CHECK(st == RWKV_ERR_FORMAT && err_has("no zip signature") && err_has(tmp), "empty file: %s",
              rwkv_last_error());
        CHECK(tf.tensors == NULL && tf.map.data == NULL, "failed open leaves nothing");
        unlink(tmp);
    }
    st = rwkv_pth_parse(NULL, 0, NULL, &tf);
    CHECK(st == RWKV_ERR_FORMAT, "NULL data: %s", rwkv_last_error());
}

/* ---- robustness on a real file ----------------------------------------------------------- */

/* Parses an exact-size copy of data[0..n); on success checks the tensors stay inside. */
static rwkv_status parse_copy(const unsigned char *data, size_t n, int *escaped) {
    unsigned char *c = malloc(n ? n : 1);
    if (n) memcpy(c, data, n);
    rwkv_tensor_file tf;
    rwkv_status st = rwkv_pth_parse(c, n, NULL, &tf);
    if (st == RWKV_OK) {
        for (size_t i = 0; i < tf.n_tensors; i++) {
            const rwkv_tensor *t = &tf.tensors[i];
            const unsigned char *d = t->data;
            if (d < c || d > c + n || t->nbytes > (size_t)(c + n - d)) (*escaped)++;
            if (t->n_dims < 0 || t->n_dims > RWKV_MAX_DIMS || !t->name) (*escaped)++;
        }
    } else if (rwkv_last_error()[0] == 0) {
        (*escaped)++; /* failures must say why */
    }
    rwkv_tensor_file_close(&tf);
    free(c);
    return st;
}

static void test_truncation_and_flips(void) {
    size_t n = 0;
    unsigned char *d = test_read_file(test_shared("models/tiny-rwkv-7v0-834K-state.pth"), &n);
    CHECK(d && n > 100000, "read state .pth");
    if (!d) return;
    int escaped = 0;
    CHECK(parse_copy(d, n, &escaped) == RWKV_OK, "whole file parses: %s", rwkv_last_error());
    /* central directory start: from the EOCD (ZIP64 values are in the ZIP64 record) */
    size_t cd = n > 200 ? n - 1300 : 0;
    size_t tested = 0, accepted = 0;
    const char *env_step = getenv("TEST_PTH_STEP");
    size_t step = env_step ? (size_t)atol(env_step) : TEST_PTH_DEFAULT_STEP;
    if (step == 0) step = 1;
    for (size_t len = 0; len < n; len++) {
        int dense = len < 4096 || len + 4096 >= n || (len + 1500 >= cd && len < cd + 1500);
        if (!dense && len % step != 0) continue;
        if (parse_copy(d, len, &escaped) == RWKV_OK) accepted++;
        tested++;
    }
    CHECK(accepted == 0, "%zu of %zu truncated prefixes were accepted", accepted, tested);
    CHECK(escaped == 0, "%d truncated parses escaped their buffer or gave no message", escaped);
    CHECK(tested > 10000, "only %zu prefixes tested", tested);
    printf("truncation: %zu prefixes of %zu bytes rejected\n", tested, n);

    /* wrong magic */
    unsigned char *c = malloc(n);
    memcpy(c, d, n);
    c[1] = 'X';
    rwkv_tensor_file tf;
    CHECK(rwkv_pth_parse(c, n, NULL, &tf) == RWKV_ERR_FORMAT && err_has("no zip signature"), "bad magic: %s",
          rwkv_last_error());

    /* random byte flips in the pickle and the directories (where they matter) */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t ok = 0, iters = 4000;
    escaped = 0;
    for (size_t it = 0; it < iters; it++) {
        memcpy(c, d, n);
        int flips = 1 + (int)(it % 6);
        for (int f = 0; f < flips; f++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            size_t pos = (rng >> 8) % 2 ? (size_t)((rng >> 16) % 1400) : n - 1 - (size_t)((rng >> 16) % 1400);
            unsigned char v = (unsigned char)(rng >> 40);
            c[pos] = (it & 1) ? v : (unsigned char)(c[pos] ^ (1u << ((rng >> 50) & 7)));
        }
        if (parse_copy(c, n, &escaped) == RWKV_OK) ok++;
    }
    CHECK(escaped == 0, "%d corrupted parses escaped their buffer or gave no message", escaped);
    CHECK(ok < iters, "every corruption was accepted?");
    printf("flips: %zu of %zu corrupted files still parsed\n", ok, iters);
    free(c);
    free(d);
}

/* ---- crafted files ----------------------------------------------------------------------- */

static void test_crafted(void) {
    float storage[10];
    for (int i = 0; i < 10; i++) storage[i] = (float)i + 0.5f;
    rwkv_tensor_file tf;
    rwkv_status st;
    void *keep = NULL;

    /* shared storage at two offsets, in both pickle styles, with ZIP64 extra fields, and with
     * state_dict metadata plus nn.Parameter wrappers (variants 3, 4) */
    tspec shared[2] = {
        {"a", "FloatStorage", "0", 10, 0, 2, {2, 3}, {3, 1}},
        {"b", "FloatStorage", "0", 10, 6, 1, {4}, {1}},
    };
    static const int style[5] = {0, 1, 0, 2, 3};
    for (int v = 0; v < 5; v++) {
        st = parse_specs(shared, 2, storage, sizeof storage, style[v], 0, v == 2, &tf, &keep);
        CHECK(st == RWKV_OK, "shared storage (variant %d): %s", v, rwkv_last_error());
        if (st != RWKV_OK) {
            free(keep);
            continue;
        }
        const rwkv_tensor *a = rwkv_tensor_file_find(&tf, "a"), *b = rwkv_tensor_file_find(&tf, "b");
        CHECK(a && b && tf.n_tensors == 2, "both tensors");
        if (a && b) {
            CHECK((const char *)b->data == (const char *)a->data + 24, "b is 6 floats after a");
            CHECK(a->numel == 6 && a->nbytes == 24 && b->numel == 4 && b->nbytes == 16, "sizes");
            CHECK(rwkv_load_elem(a->dtype, a->data, 5) == 5.5f &&
                      rwkv_load_elem(b->dtype, b->data, 3) == 9.5f,
                  "values");
        }
        rwkv_tensor_file_close(&tf);
        free(keep);
    }

    /* accepted oddities: 0-dim scalar, empty tensor, size-1 dims with any stride, fp16/bf16 */
    tspec odd[5] = {
        {"scalar", "FloatStorage", "0", 10, 9, 0, {0}, {0}},
        {"empty", "FloatStorage", "0", 10, 10, 2, {0, 5}, {7, 3}},
        {"ones", "FloatStorage", "0", 10, 2, 3, {1, 1, 4}, {99, 7, 1}},
        {"half", "HalfStorage", "0", 20, 0, 1, {20}, {1}},
        {"bf", "BFloat16Storage", "0", 20, 19, 1, {1}, {5}},
    };
    st = parse_specs(odd, 5, storage, sizeof storage, 0, 0, 0, &tf, &keep);
    CHECK(st == RWKV_OK && tf.n_tensors == 5, "odd tensors: %s", rwkv_last_error());
    if (st == RWKV_OK) {
        const rwkv_tensor *s = rwkv_tensor_file_find(&tf, "scalar");
        CHECK(s && s->n_dims == 0 && s->numel == 1 && rwkv_load_elem(s->dtype, s->data, 0) == 9.5f, "scalar");
        const rwkv_tensor *e = rwkv_tensor_file_find(&tf, "empty");
        CHECK(e && e->numel == 0 && e->nbytes == 0, "empty");
        const rwkv_tensor *h = rwkv_tensor_file_find(&tf, "half");
        CHECK(h && h->dtype == RWKV_DT_F16 && h->nbytes == 40, "half");
        const rwkv_tensor *o = rwkv_tensor_file_find(&tf, "ones");
        CHECK(o && o->n_dims == 3 && rwkv_load_elem(o->dtype, o->data, 0) == 2.5f, "ones");
        rwkv_tensor_file_close(&tf);
    }
    free(keep);

    /* rejected shapes and ranges */
    struct {
        tspec t;
        rwkv_status want;
        const char *msg;
    } bad[] = {
        {{"huge", "FloatStorage", "0", 10, 0, 2, {(int64_t)1 << 33, 1}, {1, 1}},
         RWKV_ERR_FORMAT, "out of range"},
        {{"neg", "FloatStorage", "0", 10, 0, 1, {-4}, {1}}, RWKV_ERR_FORMAT, "out of range"},
        {{"negstride", "FloatStorage", "0", 10, 0, 1, {4}, {-1}}, RWKV_ERR_FORMAT, "out of range"},
        {{"many", "FloatStorage", "0", 10, 0, 4, {1 << 30, 1 << 30, 1 << 30, 1 << 30}, {0, 0, 0, 1}},
         RWKV_ERR_FORMAT, "too many elements"},
        {{"past", "FloatStorage", "0", 10, 8, 1, {4}, {1}}, RWKV_ERR_FORMAT, "outside its storage"},
        {{"offneg", "FloatStorage", "0", 10, -1, 1, {4}, {1}}, RWKV_ERR_FORMAT, "out of range"},
        {{"bigstore", "FloatStorage", "0", 11, 0, 1, {4}, {1}}, RWKV_ERR_FORMAT, "exceeds its zip entry"},
        {{"hugestore", "FloatStorage", "0", (int64_t)1 << 45, 0, 1, {4}, {1}},
         RWKV_ERR_FORMAT, "out of range"},
        {{"noncontig", "FloatStorage", "0", 10, 0, 2, {2, 3}, {1, 2}},
         RWKV_ERR_UNSUPPORTED, "not contiguous"},
        {{"five", "FloatStorage", "0", 10, 0, 5, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}},
         RWKV_ERR_UNSUPPORTED, "dimensions"},
        {{"double", "DoubleStorage", "0", 5, 0, 1, {5}, {1}}, RWKV_ERR_UNSUPPORTED, "DoubleStorage"},
        {{"nokey", "FloatStorage", "7", 10, 0, 1, {4}, {1}}, RWKV_ERR_FORMAT, "missing from the zip"},
        {{"slashkey", "FloatStorage", "../0", 10, 0, 1, {4}, {1}}, RWKV_ERR_FORMAT, "storage key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st = parse_specs(&bad[i].t, 1, storage, sizeof storage, 0, 0, 0, &tf, &keep);
        CHECK(st == bad[i].want && err_has(bad[i].msg) && err_has(bad[i].t.name), "%s: %d %s", bad[i].t.name,
              st, rwkv_last_error());
        CHECK(tf.tensors == NULL && tf.n_tensors == 0, "%s: nothing left on failure", bad[i].t.name);
        rwkv_tensor_file_close(&tf);
        free(keep);
    }

    /* duplicate names, compressed entries */
    tspec dup[2] = {{"x", "FloatStorage", "0", 10, 0, 1, {2}, {1}},
                    {"x", "FloatStorage", "0", 10, 2, 1, {2}, {1}}};
    st = parse_specs(dup, 2, storage, sizeof storage, 0, 0, 0, &tf, &keep);
    CHECK(st == RWKV_ERR_FORMAT && err_has("twice"), "duplicate: %s", rwkv_last_error());
    free(keep);
    st = parse_specs(shared, 1, storage, sizeof storage, 0, 8, 0, &tf, &keep);
    CHECK(st == RWKV_ERR_UNSUPPORTED && err_has("compressed"), "deflate: %s", rwkv_last_error());
    free(keep);

    /* pickles that are not tensor dicts, or not valid */
#define PKS(lit) lit, sizeof(lit) - 1
    static const struct {
        const char *pkl;
        size_t len;
        const char *msg;
    } pk[] = {
        {PKS("\x80\x02]q\x00."), "not a tensor dict"},                              /* a list */
        {PKS("\x80\x02}q\x00(X\x01\x00\x00\x00" "aK\x01u."), "not a tensor dict"},    /* {'a': 1} */
        {PKS("\x80\x02}q\x00(K\x01K\x02u."), "not a tensor dict"},                /* {1: 2} */
        {PKS("\x80\x02}."), "no tensors"},                                         /* {} */
        {PKS("\x80\x02K\x01."), "not a tensor dict"},                              /* 1 */
        {PKS("\x80\x02I1\n."), "unsupported pickle opcode"},                       /* INT (protocol 0) */
        {PKS("\x80\x02s."), "stack underflow"},
        {PKS("\x80\x02}h\x05."), "memo key"},
        {PKS("\x80\x02}"), "no STOP"},
        {PKS("\x80\x09}."), "protocol"},
        {PKS("\x80\x02X\xff\xff\xff\xff."), "past end"},
        {PKS("\x80\x02(]t."), "not a tensor dict"},
        {PKS("\x80\x02}(K\x01u."), "odd number"},
        {PKS("\x80\x02(}u."), "no container"},
        {PKS("\x80\x02}(X\x01\x00\x00\x00" "a(t\x85u."), "not a tensor dict"}, /* {'a': ((),)} */
        {PKS("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00."), "integer too large"},
        {PKS("\x80\x02" "cos\nsystem\nq\x00."), "not a tensor dict"},
        {PKS("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R."), "not a tensor dict"},
        {PKS("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00lsR."), "not a tuple"},
    };
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        st = parse_pickle_bytes(pk[i].pkl, pk[i].len, &tf);
        CHECK(st == RWKV_ERR_FORMAT && err_has(pk[i].msg), "pickle %zu: %d %s", i, st, rwkv_last_error());
    }

    /* a zip without data.pkl, and one with a bad central directory offset */
    zentry only[1] = {{"archive/version", "3\n", 2, 0}};
    buf z = zip_build(only, 1, 0);
    st = rwkv_pth_parse(z.p, z.n, NULL, &tf);
    CHECK(st == RWKV_ERR_FORMAT && err_has("data.pkl"), "no data.pkl: %s", rwkv_last_error());
    z.p[z.n - 6] = 0xff; /* central directory offset -> beyond the file */
    z.p[z.n - 5] = 0xff;
    st = rwkv_pth_parse(z.p, z.n, NULL, &tf);
    CHECK(st == RWKV_ERR_FORMAT && err_has("central directory at offset") && err_has("beyond end of file"),
          "bad cd offset: %s", rwkv_last_error());
    free(z.p);
}

int main(void) {
    if (test_require_shared()) {
        test_real_files();
        test_truncation_and_flips();
    }
    test_crafted();
    return test_summary("test_pth");
}
