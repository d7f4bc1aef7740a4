/* test_tokenizer.c — the World and byte tokenizers, vocab parsing, UTF-8 prefix helper. */
#include "base/internal.h"
#include "common/test.h"

#include <stdint.h>
#include <time.h>

/* Seconds on a monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- a reference encoder: binary search over the sorted token list ---------------------- */

typedef struct ref_tok {
    const char *p;
    size_t n;
    int32_t id;
} ref_tok;

/* memcmp-style order on byte strings. */
static int ref_cmp_bytes(const char *a, size_t na, const char *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    int c = memcmp(a, b, m);
    if (c) return c;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

static int ref_cmp(const void *a, const void *b) {
    const ref_tok *x = a, *y = b;
    return ref_cmp_bytes(x->p, x->n, y->p, y->n);
}

/* The id of the token with exactly these bytes, or -1. */
static int32_t ref_find(const ref_tok *t, size_t nt, const char *p, size_t n) {
    size_t lo = 0, hi = nt;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = ref_cmp_bytes(t[mid].p, t[mid].n, p, n);
        if (c == 0) return t[mid].id;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Greedy longest match by trying every length from the longest down; returns the id count or
 * (size_t)-1 when a byte has no token. */
static size_t ref_encode(const ref_tok *t, size_t nt, size_t maxlen, const char *s, size_t len,
                         int32_t *out) {
    size_t i = 0, n = 0;
    while (i < len) {
        size_t l = len - i < maxlen ? len - i : maxlen;
        int32_t id = -1;
        for (; l > 0; l--)
            if ((id = ref_find(t, nt, s + i, l)) >= 0) break;
        if (id < 0) return (size_t)-1;
        out[n++] = id;
        i += l;
    }
    return n;
}

/* ---- fixture parsing -------------------------------------------------------------------- */

/* Parses the "hex" string of one JSON line into a malloc'd buffer; NULL if absent/bad. */
static unsigned char *fixture_hex(const char *line, size_t *n) {
    const char *h = strstr(line, "\"hex\": \"");
    if (!h) return NULL;
    h += 8;
    const char *e = strchr(h, '"');
    if (!e || (e - h) % 2) return NULL;
    *n = (size_t)(e - h) / 2;
    unsigned char *b = malloc(*n + 1);
    for (size_t i = 0; b && i < *n; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) {
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)v;
    }
    return b;
}

/* Parses the "ids" array of one JSON line into a malloc'd array; NULL if absent/bad. */
static int32_t *fixture_ids(const char *line, size_t *n) {
    const char *p = strstr(line, "\"ids\": [");
    if (!p) return NULL;
    p += 8;
    size_t cap = 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    *n = 0;
    while (ids) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ']') return ids;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        p = end;
        if (*n == cap) {
            cap *= 2;
            int32_t *bigger = realloc(ids, cap * sizeof *ids);
            if (!bigger) break;
            ids = bigger;
        }
        ids[(*n)++] = (int32_t)v;
    }
    free(ids);
    return NULL;
}

/* Every fixture line encodes to its ids and decodes back to its bytes. */
static void test_fixture(const rwkv_tokenizer *tok) {
    size_t len;
    char *data = test_read_file(test_shared("fixtures/tokenizer_cases.jsonl"), &len);
    CHECK(data != NULL, "cannot read tokenizer_cases.jsonl");
    if (!data) return;
    int n_lines = 0, n_ok = 0;
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line) {
            n_lines++;
            size_t nb = 0, ni = 0;
            unsigned char *bytes = fixture_hex(line, &nb);
            int32_t *want = fixture_ids(line, &ni);
            CHECK(bytes && want, "fixture line %d unparsable", n_lines);
            if (bytes && want) {
                int32_t *got = malloc((nb + 1) * sizeof *got);
                char *back = malloc(nb + 1);
                size_t ng = 0, nback = 0;
                rwkv_status st = rwkv_tokenizer_encode(tok, (const char *)bytes, nb, got, &ng);
                int same = st == RWKV_OK && ng == ni && (ni == 0 || !memcmp(got, want, ni * sizeof *got));
                CHECK(same, "fixture line %d: encoding differs (%zu ids vs %zu)", n_lines, ng, ni);
                st = rwkv_tokenizer_decode(tok, want, ni, back, nb + 1, &nback);
                CHECK(st == RWKV_OK && nback == nb && !memcmp(back, bytes, nb),
                      "fixture line %d: decoding differs", n_lines);
                n_ok += same;
                free(got);
                free(back);
            }
            free(bytes);
            free(want);
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(n_lines >= 156, "only %d fixture lines", n_lines);
    printf("fixture: %d/%d lines encode exactly\n", n_ok, n_lines);
    free(data);
}

/* ---- the World vocabulary -------------------------------------------------------------- */

/* True when token id has exactly the n bytes at want. */
static int token_is(const rwkv_tokenizer *tok, int32_t id, const char *want, size_t n) {
    size_t len;
    const char *p = rwkv_tokenizer_token(tok, id, &len);
    return p && len == n && !memcmp(p, want, n);
}

static void test_entries(const rwkv_tokenizer *tok) {
    CHECK(rwkv_tokenizer_n_vocab(tok) == 65536, "n_vocab %d", rwkv_tokenizer_n_vocab(tok));
    CHECK(token_is(tok, 1, "\0", 1), "id 1 = '\\x00'");
    CHECK(token_is(tok, 129, "\x80", 1), "id 129 = b'\\x80' (one byte)");
    CHECK(token_is(tok, 2423, "\xc2\x80", 2), "id 2423 = '\\x80' = U+0080 (two bytes)");
    CHECK(token_is(tok, 2412, "\x82\xac", 2), "id 2412 = b'\\x82\\xac'");
    CHECK(token_is(tok, 9804, "\xe2\x80\x82", 3), "id 9804 = '\\u2002'");
    CHECK(token_is(tok, 3337, " \n ", 3), "id 3337 = ' \\n ' (spaces in the literal)");
    CHECK(token_is(tok, 93, "\\", 1), "id 93 = backslash");
    CHECK(token_is(tok, 40, "'", 1), "id 40 = \"'\"");
    CHECK(token_is(tok, 35, "\"", 1), "id 35 = '\"'");
    char sp[128];
    memset(sp, ' ', sizeof sp);
    CHECK(token_is(tok, 65529, sp, 128), "id 65529 = 128 spaces");
    size_t len = 99;
    CHECK(rwkv_tokenizer_token(tok, 0, &len) == NULL && len == 0, "id 0 has no bytes");
    len = 99;
    CHECK(rwkv_tokenizer_token(tok, 65530, &len) == NULL && len == 0, "id 65530 unused");
    CHECK(rwkv_tokenizer_token(tok, -1, &len) == NULL && len == 0, "id -1");
    CHECK(rwkv_tokenizer_token(tok, 65536, &len) == NULL && len == 0, "id 65536");
    /* every single byte is a token */
    int all = 1;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        int32_t id;
        size_t n;
        if (rwkv_tokenizer_encode(tok, &c, 1, &id, &n) != RWKV_OK || n != 1 || !token_is(tok, id, &c, 1))
            all = 0;
    }
    CHECK(all, "every byte encodes to a one-byte token");

    /* blank-or-digit tokens (pip penalty rule) */
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, 33), "' '");
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, 10), "'\\t'");
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, 49), "'0'");
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, 654), "'34' is a substring of ' \\t0123456789'");
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, 709), "'89'");
    /* pip's rule is a substring test: these are made of blanks/digits but are not substrings */
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 3547), "' 74'");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 65529), "128 spaces");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 11), "'\\n'");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 262), "'\\n '");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 98), "'a'");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 0), "id 0");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(tok, 70000), "out of range");
    CHECK(!rwkv_tokenizer_is_blank_or_digits(NULL, 33), "NULL tokenizer");
    int32_t ids[3];
    size_t n;
    CHECK(rwkv_tokenizer_encode(tok, "12", 2, ids, &n) == RWKV_OK && n == 1 &&
              rwkv_tokenizer_is_blank_or_digits(tok, ids[0]), "'12' is one blank/digit token");

    /* decode errors */
    char buf[16];
    int32_t bad[2] = {33, 65536};
    CHECK(rwkv_tokenizer_decode(tok, bad, 2, buf, sizeof buf, &n) == RWKV_ERR_RANGE, "id 65536");
    bad[1] = -5;
    CHECK(rwkv_tokenizer_decode(tok, bad, 2, buf, sizeof buf, &n) == RWKV_ERR_RANGE, "id -5");
    int32_t big[2] = {65529, 33};
    n = 0;
    CHECK(rwkv_tokenizer_decode(tok, big, 2, buf, sizeof buf, &n) == RWKV_ERR_INVALID_ARG && n == 129,
          "small capacity: n_out = %zu", n);
    int32_t with0[3] = {0, 98, 0};
    CHECK(rwkv_tokenizer_decode(tok, with0, 3, buf, sizeof buf, &n) == RWKV_OK && n == 1 && buf[0] == 'a',
          "id 0 decodes to nothing");
    CHECK(rwkv_tokenizer_decode(tok, NULL, 0, NULL, 0, &n) == RWKV_OK && n == 0, "empty decode");
    CHECK(rwkv_tokenizer_encode(tok, NULL, 0, NULL, &n) == RWKV_OK && n == 0, "empty encode");
}

/* Compares the encoder with the reference on real text and on random bytes; measures speed. */
static void test_against_reference(const rwkv_tokenizer *tok) {
    ref_tok *t = malloc(65536 * sizeof *t);
    size_t nt = 0, maxlen = 0;
    for (int32_t id = 0; t && id < 65536; id++) {
        size_t n;
        const char *p = rwkv_tokenizer_token(tok, id, &n);
        if (!p) continue;
        t[nt].p = p;
        t[nt].n = n;
        t[nt].id = id;
        nt++;
        if (n > maxlen) maxlen = n;
    }
    CHECK(nt == 65529, "%zu tokens", nt);
    qsort(t, nt, sizeof *t, ref_cmp);

    size_t len = 0;
    char *text = test_read_file(test_shared("data/lambada_test.jsonl"), &len);
    CHECK(text != NULL, "cannot read lambada_test.jsonl");
    if (text) {
        size_t nref = len < 300000 ? len : 300000;
        int32_t *a = malloc(len * sizeof *a), *b = malloc(nref * sizeof *b);
        size_t na = 0;
        if (a) memset(a, 0, len * sizeof *a); /* time the encoder, not the page faults */
        double t0 = now_s();
        rwkv_status st = rwkv_tokenizer_encode(tok, text, len, a, &na);
        double dt = now_s() - t0;
        CHECK(st == RWKV_OK, "encode lambada: %s", rwkv_last_error());
        printf("encode: %zu bytes -> %zu tokens in %.1f ms (%.1f MB/s)\n", len, na, dt * 1e3,
               (double)len / dt / 1e6);
        /* the reference (slow) on a prefix */
        size_t np = 0, nb = ref_encode(t, nt, maxlen, text, nref, b);
        st = rwkv_tokenizer_encode(tok, text, nref, a, &np);
        CHECK(st == RWKV_OK && nb == np && !memcmp(a, b, nb * sizeof *a),
              "lambada prefix: trie and reference disagree");
        st = rwkv_tokenizer_encode(tok, text, len, a, &na);
        size_t nback = 0;
        char *back = malloc(len);
        st = rwkv_tokenizer_decode(tok, a, na, back, len, &nback);
        CHECK(st == RWKV_OK && nback == len && !memcmp(back, text, len), "lambada round trip");
        free(back);
        free(a);
        free(b);
        free(text);
    }
    /* random bytes, biased to a few values so that multi-byte tokens occur */
    uint64_t x = 0x1234567;
    char rnd[4096];
    int32_t a[4096], b[4096];
    int agree = 1;
    for (int round = 0; round < 50; round++) {
        const char alpha[] = " \n\tabe0\xe4\xb8\x80\xc3\xa9";
        for (size_t i = 0; i < sizeof rnd; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(x >> 33);
            rnd[i] = round % 2 ? (char)r : alpha[r % (sizeof alpha - 1)];
        }
        size_t na = 0;
        size_t nb = ref_encode(t, nt, maxlen, rnd, sizeof rnd, b);
        if (rwkv_tokenizer_encode(tok, rnd, sizeof rnd, a, &na) != RWKV_OK || na != nb ||
            memcmp(a, b, na * sizeof *a))
            agree = 0;
    }
    CHECK(agree, "random text: trie and reference disagree");
    free(t);
}

/* ---- vocab snippets -------------------------------------------------------------------- */

/* Loads a snippet that must be rejected as a format error whose message names line want_line. */
static void expect_bad(const char *snippet, int want_line, const char *what) {
    rwkv_tokenizer *tok = (rwkv_tokenizer *)1;
    rwkv_status st = rwkv_tokenizer_load_mem(snippet, strlen(snippet), &tok);
    CHECK(st == RWKV_ERR_FORMAT && tok == NULL, "%s: status %d", what, (int)st);
    if (want_line > 0) {
        char needle[32];
        snprintf(needle, sizeof needle, "line %d:", want_line);
        CHECK(strstr(rwkv_last_error(), needle) != NULL && strstr(rwkv_last_error(), "vocab") != NULL,
              "%s: message '%s' lacks '%s'", what, rwkv_last_error(), needle);
    }
    if (st == RWKV_OK) rwkv_tokenizer_free(tok);
}

/* Loads a snippet that must succeed and checks that token id has the n bytes want. */
static void expect_good(const char *snippet, int32_t id, const char *want, size_t n,
                        const char *what) {
    rwkv_tokenizer *tok = NULL;
    rwkv_status st = rwkv_tokenizer_load_mem(snippet, strlen(snippet), &tok);
    CHECK(st == RWKV_OK, "%s: %s", what, rwkv_last_error());
    if (st == RWKV_OK) CHECK(token_is(tok, id, want, n), "%s: wrong bytes", what);
    rwkv_tokenizer_free(tok);
}

static void test_snippets(void) {
    expect_bad("1 'a' 2\n", 1, "length mismatch");
    expect_bad("1 'a' 1\n2 'bc' 3\n", 2, "length mismatch on line 2");
    expect_bad("1 'a'\n", 1, "missing BYTELEN");
    expect_bad("1\n", 1, "only an id");
    expect_bad("x 'a' 1\n", 1, "bad id");
    expect_bad("-1 'a' 1\n", 1, "negative id");
    expect_bad("0 'a' 1\n", 1, "id 0");
    expect_bad("65536 'a' 1\n", 1, "id 65536");
    expect_bad("99999999999 'a' 1\n", 1, "huge id");
    expect_bad("1 'a' 1\n2 'b' 1\n1 'c' 1\n", 3, "duplicate id");
    expect_bad("1 'a' 1\n2 'a' 1\n", 2, "duplicate bytes");
    expect_bad("1 'ab 2\n", 1, "unterminated literal");
    expect_bad("1 ' 1\n", 1, "lone quote");
    expect_bad("1 'a\" 1\n", 1, "mismatched quotes");
    expect_bad("1 'a'b' 3\n", 1, "unescaped quote inside");
    expect_bad("1 '\\' 1\n", 1, "escaped closing quote");
    expect_bad("1 a 1\n", 1, "no quotes");
    expect_bad("1 u'a' 1\n", 1, "u prefix");
    expect_bad("1 '\\q' 2\n", 1, "unknown escape");
    expect_bad("1 '\\x4' 1\n", 1, "short \\x");
    expect_bad("1 '\\xZZ' 1\n", 1, "non-hex \\x");
    expect_bad("1 '\\u12' 1\n", 1, "short \\u");
    expect_bad("1 '\\ud800' 3\n", 1, "surrogate \\u");
    expect_bad("1 '\\U00110000' 4\n", 1, "\\U above U+10FFFF");
    expect_bad("1 b'\\u0041' 1\n", 1, "\\u in bytes");
    expect_bad("1 b'\xc3\xa9' 2\n", 1, "non-ASCII in bytes");
    expect_bad("1 b'\\777' 1\n", 1, "octal above 255 in bytes");
    expect_bad("1 '\xff' 1\n", 1, "invalid UTF-8 in str");
    expect_bad("1 '\xc3' 1\n", 1, "truncated UTF-8 in str");
    expect_bad("1 '\xed\xa0\x80' 3\n", 1, "raw surrogate in str");
    expect_bad("1 '' 0\n", 1, "empty token");
    expect_bad("1 'a' 1\n\n2 'b' 1\n", 2, "empty line");
    expect_bad("1 'a' x\n", 1, "bad length");
    expect_bad("1 'a' \n", 1, "empty length");
    expect_bad("1 'a' 1 \n", 1, "trailing space");
    expect_bad("1 'a' -1\n", 1, "negative length");
    expect_bad("1 'a\rb' 3\n", 1, "carriage return inside");
    expect_bad("1 'a\r' 2\n", 1, "CR before the quote");
    expect_bad("", 0, "empty file");
    expect_bad("\n", 1, "only a newline");
    {
        const char nul[] = "1 'a\0' 2\n";
        rwkv_tokenizer *tok = NULL;
        CHECK(rwkv_tokenizer_load_mem(nul, sizeof nul - 1, &tok) == RWKV_ERR_FORMAT, "raw NUL");
        rwkv_tokenizer_free(tok);
    }

    expect_good("1 'a' 1\r\n2 'b' 1\r\n", 2, "b", 1, "CRLF");
    expect_good("1 'a' 1\n2 'b' 1", 2, "b", 1, "no final newline");
    expect_good("7 'a b' 3\n", 7, "a b", 3, "spaces inside");
    expect_good("7 '  ' 2\n", 7, "  ", 2, "only spaces");
    expect_good("7 '\\0' 1\n", 7, "\0", 1, "\\0");
    expect_good("7 '\\101\\7' 2\n", 7, "A\a", 2, "octal");
    expect_good("7 '\\777' 2\n", 7, "\xc7\xbf", 2, "octal U+01FF");
    expect_good("7 '\\a\\b\\f\\v\\n\\r\\t' 7\n", 7, "\a\b\f\v\n\r\t", 7, "letter escapes");
    expect_good("7 '\\x80' 2\n", 7, "\xc2\x80", 2, "\\x80 in str");
    expect_good("7 b'\\x80' 1\n", 7, "\x80", 1, "\\x80 in bytes");
    expect_good("7 b\"\\x80\\\"'\" 3\n", 7, "\x80\"'", 3, "double-quoted bytes");
    expect_good("7 \"it's\" 4\n", 7, "it's", 4, "double-quoted str");
    expect_good("7 '\\u20ac' 3\n", 7, "\xe2\x82\xac", 3, "\\u");
    expect_good("7 '\\U0001F600' 4\n", 7, "\xf0\x9f\x98\x80", 4, "\\U");
    expect_good("7 '\xf0\x9f\x98\x80' 4\n", 7, "\xf0\x9f\x98\x80", 4, "raw UTF-8");
    expect_good("65535 '\\\\\\'' 2\n", 65535, "\\'", 2, "id 65535, escaped backslash+quote");

    /* a vocab without some byte: encoding that byte fails instead of dropping it */
    rwkv_tokenizer *tok = NULL;
    const char *v = "1 'a' 1\n2 'ab' 2\n3 'abc' 3\n";
    CHECK(rwkv_tokenizer_load_mem(v, strlen(v), &tok) == RWKV_OK, "small vocab");
    if (tok) {
        int32_t ids[8];
        size_t n = 99;
        CHECK(rwkv_tokenizer_encode(tok, "abcaba", 6, ids, &n) == RWKV_OK && n == 3 && ids[0] == 3 &&
                  ids[1] == 2 && ids[2] == 1, "greedy longest match on a small vocab");
        CHECK(rwkv_tokenizer_encode(tok, "abx", 3, ids, &n) != RWKV_OK && n == 0, "byte 'x' has no token");
        CHECK(rwkv_tokenizer_n_vocab(tok) == 65536, "small vocab n_vocab");
        rwkv_tokenizer_free(tok);
    }
    /* a match that runs deeper in the trie than the final token must back off */
    v = "1 'a' 1\n2 'abcd' 4\n3 'b' 1\n4 'c' 1\n";
    tok = NULL;
    CHECK(rwkv_tokenizer_load_mem(v, strlen(v), &tok) == RWKV_OK, "backoff vocab");
    if (tok) {
        int32_t ids[8];
        size_t n = 0;
        CHECK(rwkv_tokenizer_encode(tok, "abcabce", 7, ids, &n) != RWKV_OK, "'e' has no token");
        CHECK(rwkv_tokenizer_encode(tok, "abcabcda", 6, ids, &n) == RWKV_OK && n == 6 && ids[0] == 1 &&
                  ids[1] == 3 && ids[2] == 4, "back off to 'a' 'b' 'c'");
        rwkv_tokenizer_free(tok);
    }

    CHECK(rwkv_tokenizer_load_mem(NULL, 0, NULL) == RWKV_ERR_INVALID_ARG, "NULL out");
    tok = (rwkv_tokenizer *)1;
    CHECK(rwkv_tokenizer_load("/nonexistent/vocab.txt", &tok) == RWKV_ERR_IO && tok == NULL, "missing file");
    rwkv_tokenizer_free(NULL);
}

/* ---- byte tokenizer -------------------------------------------------------------------- */

static void test_bytes(void) {
    rwkv_tokenizer *tok = NULL;
    CHECK(rwkv_tokenizer_new_bytes(&tok) == RWKV_OK && tok, "new_bytes");
    if (!tok) return;
    CHECK(rwkv_tokenizer_n_vocab(tok) == 256, "n_vocab 256");
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    int32_t ids[256];
    size_t n = 0;
    CHECK(rwkv_tokenizer_encode(tok, all, 256, ids, &n) == RWKV_OK && n == 256, "encode 256 bytes");
    int same = 1;
    for (int i = 0; i < 256; i++) same &= ids[i] == i;
    CHECK(same, "id = byte value");
    char back[256];
    CHECK(rwkv_tokenizer_decode(tok, ids, 256, back, sizeof back, &n) == RWKV_OK && n == 256 &&
              !memcmp(back, all, 256), "decode 256 bytes");
    int32_t bad = 256;
    CHECK(rwkv_tokenizer_decode(tok, &bad, 1, back, sizeof back, &n) == RWKV_ERR_RANGE, "id 256");
    size_t len;
    const char *p = rwkv_tokenizer_token(tok, 0, &len);
    CHECK(p && len == 1 && p[0] == 0, "byte token 0 is the NUL byte");
    CHECK(rwkv_tokenizer_is_blank_or_digits(tok, '7') && rwkv_tokenizer_is_blank_or_digits(tok, ' ') &&
              !rwkv_tokenizer_is_blank_or_digits(tok, 'x'), "blank/digit byte tokens");
    rwkv_tokenizer_free(tok);
}

/* ---- UTF-8 prefix ---------------------------------------------------------------------- */

static void test_utf8_prefix(void) {
    CHECK(rwkv_utf8_complete_prefix("", 0) == 0, "empty");
    CHECK(rwkv_utf8_complete_prefix("abc", 3) == 3, "ascii");
    const char *chars[] = {"\xc3\xa9", "\xdf\xbf", "\xe2\x82\xac", "\xe0\xa0\x80", "\xed\x9f\xbf",
                           "\xef\xbf\xbf", "\xf0\x9f\x98\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++) {
        size_t n = strlen(chars[c]);
        char buf[16];
        memcpy(buf, "ab", 2);
        memcpy(buf + 2, chars[c], n);
        for (size_t k = 1; k < n; k++)
            CHECK(rwkv_utf8_complete_prefix(buf, 2 + k) == 2, "char %zu cut after %zu bytes", c, k);
        CHECK(rwkv_utf8_complete_prefix(buf, 2 + n) == 2 + n, "char %zu whole", c);
        CHECK(rwkv_utf8_complete_prefix(buf + 2, n - 1) == 0, "char %zu alone, cut", c);
        memcpy(buf + 2 + n, "x", 1);
        CHECK(rwkv_utf8_complete_prefix(buf, 3 + n) == 3 + n, "char %zu then ascii", c);
    }
    /* invalid bytes count as complete */
    struct { const char *s; size_t want; } inv[] = {
        {"\x80", 1},          {"a\xbf", 2},         {"\xc0", 1},         {"\xc1", 1},
        {"\xf5", 1},          {"\xff", 1},          {"\xfe", 1},         {"\xe0\x80", 2},
        {"\xe0\x9f", 2},      {"\xed\xa0", 2},      {"\xf0\x80", 2},     {"\xf0\x8f\xbf", 3},
        {"\xf4\x90", 2},      {"\xc3\xa9\xa9", 3},  {"\x80\x80\x80\x80", 4},
        {"\xe2\x82\xac\x80", 4}, {"\xf0\x9f\x98\x80\x80", 5}, {"\xe2" "A", 2},
        {"\xc3\xe2", 1},      {"\xe2\x82\xc3", 2},  {"\xc3\xa9\xe2\x82", 2},
    };
    for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++) {
        size_t n = strlen(inv[i].s);
        size_t got = rwkv_utf8_complete_prefix(inv[i].s, n);
        CHECK(got == inv[i].want, "invalid case %zu: got %zu want %zu", i, got, inv[i].want);
    }
    CHECK(rwkv_utf8_complete_prefix(NULL, 0) == 0, "NULL");
}

int main(void) {
    test_snippets();
    test_bytes();
    test_utf8_prefix();
    if (test_require_shared()) {
        rwkv_tokenizer *tok = NULL;
        double t0 = now_s();
        rwkv_status st = rwkv_tokenizer_load(test_shared("data/rwkv_vocab_v20230424.txt"), &tok);
        double dt = now_s() - t0;
        CHECK(st == RWKV_OK, "load World vocab: %s", rwkv_last_error());
        if (st == RWKV_OK) {
            printf("load: World vocab in %.1f ms\n", dt * 1e3);
            test_entries(tok);
            test_fixture(tok);
            test_against_reference(tok);
        }
        rwkv_tokenizer_free(tok);
    }
    return test_summary("test_tokenizer");
}
