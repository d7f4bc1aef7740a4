/* test_state_file.c — state files and serialization: save → load → continue is bit-identical to an
 * uninterrupted run, buffer round trips, state tuning through rwkv_state_load, damaged files
 * (truncated at every length, byte flips, wrong model, wrong magic/version) are refused, and a
 * save killed half-way never leaves a damaged file under the final name. */
#include "common/test.h"
#include "rwkv.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

/* Path of a file in the test's temporary directory (static buffer rotated over 4 slots). */
static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static int write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Little CRC-32 (reflected 0xEDB88320) to forge files with a valid checksum. */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void refresh_crc(unsigned char *p, size_t len) {
    uint32_t c = crc32_of(p, len - 4);
    for (int i = 0; i < 4; i++) p[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

static int32_t prompt[19];
static size_t n_prompt;

/* Feeds prompt[from..to) one call, returning the logits after the last token in logits. */
static rwkv_status feed(rwkv_model *m, rwkv_state *s, size_t from, size_t to, float *logits) {
    return rwkv_eval(m, s, prompt + from, to - from, logits, 0);
}

static void test_save_load_continue(rwkv_model *m) {
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    size_t V = (size_t)info.n_vocab;
    float *ref = malloc(V * sizeof(float)), *got = malloc(V * sizeof(float));
    float *mid = malloc(V * sizeof(float));
    rwkv_state *a = NULL, *b = NULL, *c = NULL;
    CHECK(rwkv_state_new(m, &a) == RWKV_OK && rwkv_state_new(m, &b) == RWKV_OK, "state_new");
    /* Uninterrupted: 10 tokens, then the remaining 9. */
    CHECK(feed(m, a, 0, 10, mid) == RWKV_OK, "eval");
    CHECK(feed(m, a, 10, n_prompt, ref) == RWKV_OK, "eval");
    /* Interrupted: 10 tokens, save, load into a fresh state, the remaining 9. */
    CHECK(feed(m, b, 0, 10, got) == RWKV_OK, "eval");
    const char text[] = "User: hi\n\nAssistant: hello \xc3\xa9\n\n";
    rwkv_state_extra ex = {got, text, sizeof text - 1};
    const char *path = tmp_path("a.state");
    rwkv_status st = rwkv_state_save(b, &ex, path);
    CHECK(st == RWKV_OK, "save: %s", rwkv_last_error());
    rwkv_state_free(b);
    CHECK(rwkv_state_new(m, &c) == RWKV_OK, "state_new");
    rwkv_state_loaded ld;
    st = rwkv_state_load(c, path, &ld);
    CHECK(st == RWKV_OK, "load: %s", rwkv_last_error());
    CHECK(ld.from_tuning == 0, "not tuning");
    CHECK(ld.n_tokens == 10 && rwkv_state_n_tokens(c) == 10, "n_tokens %llu",
          (unsigned long long)ld.n_tokens);
    CHECK(ld.n_logits == V && ld.logits && !memcmp(ld.logits, mid, V * sizeof(float)),
          "stored logits are bit-identical");
    CHECK(ld.text_len == sizeof text - 1 && ld.text && !memcmp(ld.text, text, sizeof text),
          "text round trip (NUL-terminated)");
    rwkv_state_loaded_free(&ld);
    CHECK(ld.text == NULL && ld.logits == NULL, "loaded_free zeroes");
    CHECK(feed(m, c, 10, n_prompt, got) == RWKV_OK, "eval");
    CHECK(!memcmp(got, ref, V * sizeof(float)), "save/load/continue is bit-identical (max diff %g)",
          (double)test_max_abs_diff(got, ref, V));
    CHECK(rwkv_state_n_tokens(c) == n_prompt, "n_tokens continues");
    /* loaded may be NULL; extra may be NULL. */
    CHECK(rwkv_state_save(c, NULL, path) == RWKV_OK, "save without extras");
    CHECK(rwkv_state_load(a, path, NULL) == RWKV_OK, "load without out struct");
    CHECK(!memcmp(rwkv_state_data(a), rwkv_state_data(c), rwkv_state_n_floats(c) * sizeof(float)),
          "same data");
    CHECK(rwkv_state_load(a, path, &ld) == RWKV_OK && !ld.logits && !ld.text, "no optional blocks");
    rwkv_state_loaded_free(&ld);
    rwkv_state_free(a);
    rwkv_state_free(c);
    free(ref);
    free(got);
    free(mid);
}

static void test_buffer_round_trip(rwkv_model *m) {
    rwkv_state *a = NULL, *b = NULL;
    rwkv_state_new(m, &a);
    rwkv_state_new(m, &b);
    CHECK(feed(m, a, 0, n_prompt, NULL) == RWKV_OK, "eval");
    size_t need = rwkv_state_serialized_size(a, NULL);
    CHECK(need == 128 + rwkv_state_n_floats(a) * 4 + 4, "size %zu", need);
    CHECK(rwkv_state_serialized_size(NULL, NULL) == 0, "NULL state size 0");
    unsigned char *buf = malloc(need), *buf2 = malloc(need);
    size_t n = 0;
    CHECK(rwkv_state_serialize(a, NULL, buf, need - 1, &n) == RWKV_ERR_INVALID_ARG && n == need,
          "too small a buffer tells the size");
    CHECK(rwkv_state_serialize(a, NULL, buf, need, &n) == RWKV_OK && n == need, "serialize");
    CHECK(!memcmp(buf, "RWKVSTAT", 8), "magic");
    CHECK(rwkv_state_deserialize(b, buf, n, NULL) == RWKV_OK, "deserialize: %s", rwkv_last_error());
    CHECK(!memcmp(rwkv_state_data(a), rwkv_state_data(b), rwkv_state_n_floats(a) * 4), "same data");
    CHECK(rwkv_state_n_tokens(b) == n_prompt, "n_tokens");
    CHECK(rwkv_state_serialize(b, NULL, buf2, need, &n) == RWKV_OK && !memcmp(buf, buf2, need),
          "re-serialization is byte-identical");
    /* Many sessions: serialize several states, restore them in another order into one state. */
    enum { SESS = 4 };
    unsigned char *sess[SESS];
    size_t slen[SESS];
    rwkv_state_reset(a);
    for (int i = 0; i < SESS; i++) {
        feed(m, a, (size_t)i, (size_t)i + 1, NULL);
        slen[i] = rwkv_state_serialized_size(a, NULL);
        sess[i] = malloc(slen[i]);
        rwkv_state_serialize(a, NULL, sess[i], slen[i], NULL);
    }
    int ok = 1;
    for (int i = SESS - 1; i >= 0; i--) {
        ok &= rwkv_state_deserialize(b, sess[i], slen[i], NULL) == RWKV_OK;
        ok &= rwkv_state_n_tokens(b) == (uint64_t)i + 1;
        free(sess[i]);
    }
    CHECK(ok, "sessions restored");
    rwkv_state_free(a);
    rwkv_state_free(b);
    free(buf);
    free(buf2);
}

static void test_tuning(rwkv_model *m) {
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    size_t V = (size_t)info.n_vocab;
    size_t flen = 0;
    float *fix = test_read_file(test_shared("fixtures/tiny-7v0-834K/logits-all-quick_fox-from-state.bin"), &flen);
    CHECK(fix && flen == n_prompt * V * 4, "fixture");
    rwkv_state *s = NULL, *t = NULL;
    rwkv_state_new(m, &s);
    rwkv_state_new(m, &t);
    rwkv_state_loaded ld;
    rwkv_status st = rwkv_state_load(s, test_shared("models/tiny-rwkv-7v0-834K-state.pth"), &ld);
    CHECK(st == RWKV_OK, "load tuning .pth: %s", rwkv_last_error());
    CHECK(ld.from_tuning == 1 && ld.n_tokens == 0 && !ld.text, "from_tuning");
    rwkv_state_loaded_free(&ld);
    size_t nf = rwkv_state_n_floats(s);
    float *init = malloc(nf * 4);
    memcpy(init, rwkv_state_data(s), nf * 4);
    float *all = malloc(n_prompt * V * 4);
    CHECK(rwkv_eval(m, s, prompt, n_prompt, all, RWKV_EVAL_SERIAL | RWKV_EVAL_ALL_LOGITS) == RWKV_OK,
          "eval");
    if (fix && flen == n_prompt * V * 4) {
        float d = test_max_abs_diff(all, fix, n_prompt * V);
        CHECK(d <= 1e-4f, "from-state fixture: max diff %g", (double)d);
    }
    /* The initial (tuned) state travels with a saved state: reset returns to it after a load. */
    const char *path = tmp_path("tuned.state");
    CHECK(rwkv_state_save(s, NULL, path) == RWKV_OK, "save");
    CHECK(rwkv_state_load(t, path, NULL) == RWKV_OK, "load");
    CHECK(!memcmp(rwkv_state_data(t), rwkv_state_data(s), nf * 4), "same data");
    rwkv_state_reset(t);
    CHECK(!memcmp(rwkv_state_data(t), init, nf * 4) && rwkv_state_n_tokens(t) == 0,
          "reset after load returns to the tuned state");
    /* And a state without an initial state clears it. */
    rwkv_state *z = NULL;
    rwkv_state_new(m, &z);
    CHECK(rwkv_state_save(z, NULL, path) == RWKV_OK && rwkv_state_load(t, path, NULL) == RWKV_OK, "load");
    feed(m, t, 0, 3, NULL);
    rwkv_state_reset(t);
    CHECK(!memcmp(rwkv_state_data(t), rwkv_state_data(z), nf * 4), "reset to zero");
    /* A damaged state-tuning .pth is refused, the state unchanged. */
    size_t plen = 0;
    unsigned char *pth = test_read_file(test_shared("models/tiny-rwkv-7v0-834K-state.pth"), &plen);
    if (pth && plen > 100) {
        const char *bad = tmp_path("bad-tuning.pth");
        write_bytes(bad, pth, plen / 2);
        memcpy(init, rwkv_state_data(t), nf * 4);
        CHECK(rwkv_state_load(t, bad, NULL) != RWKV_OK, "truncated .pth refused");
        CHECK(!memcmp(rwkv_state_data(t), init, nf * 4), "state unchanged");
    }
    free(pth);
    rwkv_state_free(z);
    rwkv_state_free(s);
    rwkv_state_free(t);
    free(init);
    free(all);
    free(fix);
}

static void test_damage(rwkv_model *m) {
    rwkv_model_info info;
    rwkv_model_get_info(m, &info);
    size_t V = (size_t)info.n_vocab;
    rwkv_state *a = NULL, *b = NULL;
    rwkv_state_new(m, &a);
    rwkv_state_new(m, &b);
    float *logits = malloc(V * 4);
    feed(m, a, 0, n_prompt, logits);
    const char text[] = "some conversation";
    rwkv_state_extra ex = {logits, text, sizeof text - 1};
    size_t len = rwkv_state_serialized_size(a, &ex);
    unsigned char *buf = malloc(len), *bad = malloc(len);
    CHECK(rwkv_state_serialize(a, &ex, buf, len, NULL) == RWKV_OK, "serialize");
    size_t nf = rwkv_state_n_floats(b);
    float *before = malloc(nf * 4);
    feed(m, b, 0, 2, NULL);
    memcpy(before, rwkv_state_data(b), nf * 4);
    uint64_t tokens_before = rwkv_state_n_tokens(b);

    /* Truncated at every length. */
    size_t wrong = 0, not_format = 0;
    for (size_t n = 0; n < len; n++) {
        rwkv_state_loaded ld;
        rwkv_status st = rwkv_state_deserialize(b, buf, n, &ld);
        if (st == RWKV_OK) wrong++;
        else if (st != RWKV_ERR_FORMAT) not_format++;
        if (ld.text || ld.logits) wrong++;
    }
    CHECK(wrong == 0 && not_format == 0, "truncation at every one of %zu lengths refused as a format "
          "error (%zu accepted, %zu other status)", len, wrong, not_format);
    CHECK(!memcmp(rwkv_state_data(b), before, nf * 4) && rwkv_state_n_tokens(b) == tokens_before,
          "state unchanged by refused loads");
    /* Through files: a sample of truncations, with the message naming the file. */
    const char *path = tmp_path("trunc.state");
    size_t cuts[] = {0, 1, 7, 8, 64, 127, 128, 129, 1000, len / 2, len - 5, len - 4, len - 1};
    wrong = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(path, buf, cuts[i]);
        rwkv_status st = rwkv_state_load(b, path, NULL);
        if (st != RWKV_ERR_FORMAT || !strstr(rwkv_last_error(), "trunc.state")) wrong++;
    }
    CHECK(wrong == 0, "truncated files refused with a message naming them");
    {
        write_bytes(path, buf, len / 2);
        rwkv_state_load(b, path, NULL);
        CHECK(strstr(rwkv_last_error(), "truncated") != NULL, "message says truncated: %s",
              rwkv_last_error());
    }

    /* Every single-byte flip in the header (two patterns), and a sample of the payload. */
    wrong = 0;
    for (size_t i = 0; i < 128; i++) {
        for (int pat = 0; pat < 2; pat++) {
            memcpy(bad, buf, len);
            bad[i] ^= pat ? 0xff : 0x01;
            rwkv_status st = rwkv_state_deserialize(b, bad, len, NULL);
            if (st != RWKV_ERR_FORMAT) wrong++;
        }
    }
    CHECK(wrong == 0, "%zu header flips accepted or not reported as damage", wrong);
    wrong = 0;
    size_t step = (len - 128) / 400 + 1, tried = 0;
    for (size_t i = 128; i < len; i += step) {
        memcpy(bad, buf, len);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        if (rwkv_state_deserialize(b, bad, len, NULL) != RWKV_ERR_FORMAT) wrong++;
        tried++;
    }
    for (size_t i = len - 8; i < len; i++) { /* the text end and the checksum itself */
        memcpy(bad, buf, len);
        bad[i] ^= 0x80;
        if (rwkv_state_deserialize(b, bad, len, NULL) != RWKV_ERR_FORMAT) wrong++;
        tried++;
    }
    CHECK(wrong == 0, "%zu of %zu payload flips accepted", wrong, tried);
    memcpy(bad, buf, len);
    bad[200] ^= 4;
    rwkv_state_deserialize(b, bad, len, NULL);
    CHECK(strstr(rwkv_last_error(), "checksum") != NULL, "message names the checksum: %s",
          rwkv_last_error());
    /* An extra byte at the end. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    CHECK(rwkv_state_deserialize(b, longer, len + 1, NULL) == RWKV_ERR_FORMAT, "trailing byte");
    free(longer);
    CHECK(!memcmp(rwkv_state_data(b), before, nf * 4), "state unchanged by refused loads");

    /* Wrong magic, version 0, a newer version (with a valid checksum: not damage but new). */
    memcpy(bad, buf, len);
    memcpy(bad, "RWKVSTAX", 8);
    refresh_crc(bad, len);
    CHECK(rwkv_state_deserialize(b, bad, len, NULL) == RWKV_ERR_FORMAT &&
          strstr(rwkv_last_error(), "not a state file"), "wrong magic: %s", rwkv_last_error());
    memcpy(bad, buf, len);
    bad[8] = 2;
    refresh_crc(bad, len);
    CHECK(rwkv_state_deserialize(b, bad, len, NULL) == RWKV_ERR_UNSUPPORTED &&
          strstr(rwkv_last_error(), "version 2"), "newer version: %s", rwkv_last_error());
    memcpy(bad, buf, len);
    bad[8] = 0;
    refresh_crc(bad, len);
    CHECK(rwkv_state_deserialize(b, bad, len, NULL) == RWKV_ERR_FORMAT, "version 0");
    /* A valid file whose header names another shape (forged, checksum fixed): mismatch. */
    memcpy(bad, buf, len);
    bad[32] ^= 1; /* n_layer */
    refresh_crc(bad, len);
    CHECK(rwkv_state_deserialize(b, bad, len, NULL) == RWKV_ERR_MISMATCH, "other n_layer: %s",
          rwkv_last_error());
    memcpy(bad, buf, len);
    bad[50] ^= 1; /* fingerprint */
    refresh_crc(bad, len);
    CHECK(rwkv_state_deserialize(b, bad, len, NULL) == RWKV_ERR_MISMATCH &&
          strstr(rwkv_last_error(), "fingerprint"), "other fingerprint: %s", rwkv_last_error());
    /* Not a file / empty / random. */
    CHECK(rwkv_state_load(b, tmp_path("does-not-exist"), NULL) == RWKV_ERR_IO, "missing file");
    write_bytes(path, "", 0);
    CHECK(rwkv_state_load(b, path, NULL) == RWKV_ERR_FORMAT, "empty file");
    CHECK(rwkv_state_load(b, tmpdir, NULL) != RWKV_OK, "a directory");
    CHECK(rwkv_state_deserialize(NULL, buf, len, NULL) == RWKV_ERR_INVALID_ARG, "NULL state");
    CHECK(rwkv_state_deserialize(b, NULL, 5, NULL) == RWKV_ERR_INVALID_ARG, "NULL buffer");
    CHECK(!memcmp(rwkv_state_data(b), before, nf * 4), "state unchanged by refused loads");

    /* Wrong model: the fp16 copy (same shape, other fingerprint) and other generations. */
    const char *fp16 = test_shared("models/tiny-rwkv-7v0-834K-fp16.pth");
    rwkv_model *m16 = NULL;
    if (rwkv_model_load(fp16, NULL, &m16) == RWKV_OK) {
        rwkv_state *c = NULL;
        rwkv_state_new(m16, &c);
        CHECK(rwkv_state_deserialize(c, buf, len, NULL) == RWKV_ERR_MISMATCH &&
              strstr(rwkv_last_error(), "fingerprint"), "fp16 model: %s", rwkv_last_error());
        rwkv_state_free(c);
        rwkv_model_free(m16);
    } else {
        CHECK(0, "cannot load %s: %s", fp16, rwkv_last_error());
    }
    const char *others[] = {"models/tiny-rwkv-5v2-730K.pth", "models/tiny-rwkv-6v0-3m-Q5_1.pth",
                            "models/tiny-rwkv-4v0-660K.pth"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        rwkv_model *mo = NULL;
        if (rwkv_model_load(test_shared(others[i]), NULL, &mo) != RWKV_OK) {
            fprintf(stderr, "note: %s not loadable here (%s): mismatch test skipped\n", others[i],
                    rwkv_last_error());
            continue;
        }
        rwkv_state *c = NULL;
        rwkv_state_new(mo, &c);
        CHECK(rwkv_state_deserialize(c, buf, len, NULL) == RWKV_ERR_MISMATCH, "v7 state into %s: %s",
              others[i], rwkv_last_error());
        const char *opath = tmp_path("other.state");
        CHECK(rwkv_state_save(c, NULL, opath) == RWKV_OK, "save %s state", others[i]);
        CHECK(rwkv_state_load(b, opath, NULL) == RWKV_ERR_MISMATCH, "%s state into v7: %s",
              others[i], rwkv_last_error());
        rwkv_state_free(c);
        rwkv_model_free(mo);
    }
    CHECK(!memcmp(rwkv_state_data(b), before, nf * 4), "state unchanged by refused loads");
    free(before);
    free(buf);
    free(bad);
    free(logits);
    rwkv_state_free(a);
    rwkv_state_free(b);
}

/* Counts files in tmpdir whose name contains ".tmp.". */
static int count_temp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* Removes leftover temporary files. */
static void remove_temp_files(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) {
            char full[1024];
            snprintf(full, sizeof full, "%s/%s", tmpdir, e->d_name);
            unlink(full);
        }
    closedir(d);
}

static void test_atomic(rwkv_model *m) {
    rwkv_state *old = NULL, *cur = NULL, *chk = NULL;
    rwkv_state_new(m, &old);
    rwkv_state_new(m, &cur);
    rwkv_state_new(m, &chk);
    feed(m, old, 0, 5, NULL);
    feed(m, cur, 0, 15, NULL);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("atomic.state"));
    CHECK(rwkv_state_save(old, NULL, path) == RWKV_OK, "save");
    /* A big text block makes each save take a while, so kills land in the middle of writes. */
    size_t big = 24u << 20;
    char *text = malloc(big);
    memset(text, 'x', big);
    rwkv_state_extra ex = {NULL, text, big};
    int bad = 0, saw_old = 0, saw_new = 0, kills = 0;
    for (int round = 0; round < 12; round++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            for (;;) rwkv_state_save(cur, &ex, path);
        }
        if (pid < 0) {
            CHECK(0, "fork failed");
            break;
        }
        static const long delay_ms[12] = {1, 2, 4, 8, 15, 30, 60, 100, 150, 200, 300, 400};
        struct timespec ts = {delay_ms[round] / 1000, (delay_ms[round] % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) kills++;
        rwkv_state_loaded ld;
        rwkv_status st = rwkv_state_load(chk, path, &ld);
        if (st != RWKV_OK) {
            bad++;
            fprintf(stderr, "round %d: %s\n", round, rwkv_last_error());
        } else if (rwkv_state_n_tokens(chk) == 5 && !ld.text) {
            saw_old++;
        } else if (rwkv_state_n_tokens(chk) == 15 && ld.text_len == big) {
            saw_new++;
        } else {
            bad++;
        }
        rwkv_state_loaded_free(&ld);
        remove_temp_files();
    }
    CHECK(bad == 0 && kills == 12, "after a kill mid-save the file is the old or the new one "
          "(%d bad, old %d, new %d)", bad, saw_old, saw_new);
    fprintf(stderr, "atomic: %d kills, final file old %d times, new %d times\n", kills, saw_old, saw_new);
    free(text);

    /* A save that cannot complete (the target is a directory; a missing directory) leaves the
     * old file and no temporary file. */
    CHECK(rwkv_state_save(old, NULL, path) == RWKV_OK, "save");
    const char *dirpath = tmp_path("adir");
    mkdir(dirpath, 0755);
    CHECK(rwkv_state_save(cur, NULL, dirpath) == RWKV_ERR_IO, "save over a directory refused");
    CHECK(rwkv_state_save(cur, NULL, tmp_path("nodir/x.state")) == RWKV_ERR_IO, "missing dir");
    CHECK(count_temp_files() == 0, "no temporary file left");
    CHECK(rwkv_state_load(chk, path, NULL) == RWKV_OK && rwkv_state_n_tokens(chk) == 5, "old intact");
    rmdir(dirpath);
    /* A relative path (no directory part) works too. */
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
        CHECK(rwkv_state_save(cur, NULL, "rel.state") == RWKV_OK, "relative save");
        CHECK(rwkv_state_load(chk, "rel.state", NULL) == RWKV_OK && rwkv_state_n_tokens(chk) == 15,
              "relative load");
        unlink("rel.state");
        CHECK(chdir(cwd) == 0, "chdir back");
    }
    rwkv_state_free(old);
    rwkv_state_free(cur);
    rwkv_state_free(chk);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_state_file");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv-test-state-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_summary("test_state_file");
    }
    size_t plen = 0;
    unsigned char *p = test_read_file(test_shared("fixtures/prompts/quick_fox.bin"), &plen);
    CHECK(p && plen == 19, "prompt");
    for (size_t i = 0; p && i < plen && i < 19; i++) prompt[i] = p[i];
    n_prompt = 19;
    free(p);
    rwkv_model *m = NULL;
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.n_threads = 1; /* the test is about files, not speed */
    rwkv_status st = rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K.pth"), &mp, &m);
    CHECK(st == RWKV_OK, "load model: %s", rwkv_last_error());
    if (m) {
        test_save_load_continue(m);
        test_buffer_round_trip(m);
        test_tuning(m);
        test_damage(m);
        test_atomic(m);
        rwkv_model_free(m);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary("test_state_file");
}
