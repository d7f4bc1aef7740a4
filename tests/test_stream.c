/* test_stream.c — the output stream (rwkv_stream_*, src/text/stream.c): stop strings split at
 * every position across tokens, earliest-ending match among several, stop strings with any
 * bytes, UTF-8 characters split at every byte, invalid UTF-8 passing through, the G1 <think>
 * split in every mode with the tags split at every position, whitespace trimming, and the
 * argument checks. Every split of an input must give the same result as feeding it whole, and no
 * output taken before the end may later turn out wrong (a partial stop string or tag, a partial
 * character). */
#include "common/test.h"
#include "rwkv.h"

#include <stdbool.h>

/* What a stream produced: both channels concatenated over all takes. */
typedef struct result {
    char content[4096], reasoning[4096];
    size_t n_content, n_reasoning;
    int stop_index;
    bool ok;       /* every call succeeded */
    bool prefix;   /* every take was consistent with the final result so far (checked by caller) */
} result;

/* Takes both channels into r, checking that no partial UTF-8 character was released. */
static void take_all(rwkv_stream *s, result *r, bool finished) {
    size_t n;
    const char *p = rwkv_stream_take(s, RWKV_STREAM_REASONING, &n);
    if (r->n_reasoning + n < sizeof r->reasoning) memcpy(r->reasoning + r->n_reasoning, p, n);
    r->n_reasoning += n;
    p = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    if (r->n_content + n < sizeof r->content) memcpy(r->content + r->n_content, p, n);
    r->n_content += n;
    if (!finished && (rwkv_utf8_complete_prefix(r->content, r->n_content) != r->n_content ||
                      rwkv_utf8_complete_prefix(r->reasoning, r->n_reasoning) != r->n_reasoning))
        r->prefix = false; /* (the inputs of these tests are valid UTF-8) */
}

/* Feeds text[0..len) split at the given cut positions (sorted, n_cuts of them), then finishes.
 * After every feed the output so far must be a prefix of want (per channel) when want is given. */
static void run(const rwkv_stream_params *p, const char *text, size_t len, const size_t *cuts,
                int n_cuts, result *r, const result *want) {
    memset(r, 0, sizeof *r);
    r->ok = r->prefix = true;
    rwkv_stream *s = NULL;
    if (rwkv_stream_new(p, &s) != RWKV_OK) {
        r->ok = false;
        return;
    }
    size_t at = 0;
    for (int i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        if (rwkv_stream_feed(s, text + at, end - at) != RWKV_OK) r->ok = false;
        at = end;
        take_all(s, r, false);
        if (want && (r->n_content > want->n_content || memcmp(r->content, want->content, r->n_content) ||
                     r->n_reasoning > want->n_reasoning ||
                     memcmp(r->reasoning, want->reasoning, r->n_reasoning)))
            r->prefix = false;
    }
    if (rwkv_stream_finish(s) != RWKV_OK) r->ok = false;
    take_all(s, r, true);
    r->stop_index = rwkv_stream_stop_index(s);
    rwkv_stream_free(s);
}

static bool same(const result *a, const char *content, const char *reasoning, int stop_index) {
    return a->ok && a->n_content == strlen(content) && !memcmp(a->content, content, a->n_content) &&
           a->n_reasoning == strlen(reasoning) && !memcmp(a->reasoning, reasoning, a->n_reasoning) &&
           a->stop_index == stop_index;
}

/* Runs text whole, then split into two and three pieces at every pair of positions, then byte by
 * byte; every run must give content/reasoning/stop_index, and no take may be undone later. */
static void check_all_splits(const char *what, const rwkv_stream_params *p, const char *text,
                             const char *content, const char *reasoning, int stop_index) {
    size_t len = strlen(text);
    result want, r;
    run(p, text, len, NULL, 0, &want, NULL);
    CHECK(same(&want, content, reasoning, stop_index),
          "%s: whole: content '%.*s' reasoning '%.*s' stop %d; want '%s' '%s' %d", what,
          (int)want.n_content, want.content, (int)want.n_reasoning, want.reasoning, want.stop_index,
          content, reasoning, stop_index);
    int bad = 0, runs = 0;
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            run(p, text, len, cuts, 2, &r, &want);
            runs++;
            if (!same(&r, content, reasoning, stop_index) || !r.prefix) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s: cuts %zu,%zu: content '%.*s' reasoning '%.*s' stop %d%s\n", what,
                            i, j, (int)r.n_content, r.content, (int)r.n_reasoning, r.reasoning,
                            r.stop_index, r.prefix ? "" : " (a take was undone later or split a character)");
            }
        }
    size_t cuts[512];
    int n = 0;
    for (size_t i = 1; i < len && n < 512; i++) cuts[n++] = i;
    run(p, text, len, cuts, n, &r, &want);
    if (!same(&r, content, reasoning, stop_index) || !r.prefix) bad++;
    CHECK(bad == 0, "%s: %d of %d splits differ from feeding it whole", what, bad, runs + 1);
}

static void test_stop_strings(void) {
    const char *stops[] = {"<STOP>", "\n\n"};
    rwkv_stream_params p = {stops, NULL, 2, RWKV_THINK_NONE};
    check_all_splits("stop string inside", &p, "Hello <STOP> world", "Hello ", "", 0);
    check_all_splits("other stop string", &p, "Hello\n\nworld <STOP>", "Hello", "", 1);
    check_all_splits("stop string at the start", &p, "<STOP>rest", "", "", 0);
    check_all_splits("stop string at the end", &p, "Hello<STOP>", "Hello", "", 0);
    check_all_splits("prefixes that do not complete", &p, "a <STO b <ST\n c <STOP", "a <STO b <ST\n c <STOP",
                     "", -1);
    check_all_splits("no stop string", &p, "plain text", "plain text", "", -1);
    /* Earliest end wins; at the same end, the earlier start. */
    const char *s2[] = {"abcd", "bc"};
    rwkv_stream_params p2 = {s2, NULL, 2, RWKV_THINK_NONE};
    check_all_splits("earliest end", &p2, "xabcd", "xa", "", 1);
    const char *s3[] = {"bc", "abc"};
    rwkv_stream_params p3 = {s3, NULL, 2, RWKV_THINK_NONE};
    check_all_splits("same end, earlier start", &p3, "xabc", "x", "", 1);
    /* Overlapping self-prefixes ("aab" in "aaab") and a one-byte stop string. */
    const char *s4[] = {"aab", "Z"};
    rwkv_stream_params p4 = {s4, NULL, 2, RWKV_THINK_NONE};
    check_all_splits("overlapping prefix", &p4, "xaaab", "xa", "", 0);
    check_all_splits("one-byte stop", &p4, "xaaZab", "xaa", "", 1);
    /* Any bytes: a stop string with a NUL byte, given with its length. */
    static const char text[] = "ab\0cd\0ef";
    const char *s5[] = {"\0e"};
    size_t l5[] = {2};
    rwkv_stream_params p5 = {s5, l5, 1, RWKV_THINK_NONE};
    result r;
    size_t cuts[1] = {5};
    run(&p5, text, sizeof text - 1, cuts, 1, &r, NULL);
    CHECK(r.ok && r.n_content == 5 && !memcmp(r.content, "ab\0cd", 5) && r.stop_index == 0,
          "stop string with a NUL byte: %zu bytes, stop %d", r.n_content, r.stop_index);
    /* Many stop strings. */
    char many[100][16];
    const char *pm[100];
    for (int i = 0; i < 100; i++) {
        snprintf(many[i], sizeof many[i], "#%02d#", i);
        pm[i] = many[i];
    }
    rwkv_stream_params pmany = {pm, NULL, 100, RWKV_THINK_NONE};
    check_all_splits("100 stop strings", &pmany, "one #4 #42 #42#x", "one #4 #42 ", "", 42);
}

static void test_utf8(void) {
    rwkv_stream_params p = {NULL, NULL, 0, RWKV_THINK_NONE};
    /* 2-, 3- and 4-byte characters split at every byte (the take check: never half a char). */
    check_all_splits("multi-byte characters", &p, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!",
                     "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!", "", -1);
    const char *stops[] = {"\xf0\x9f\x98\x80"};
    rwkv_stream_params ps = {stops, NULL, 1, RWKV_THINK_NONE};
    check_all_splits("a character as the stop string", &ps, "\xc3\xa9\xf0\x9f\x98\x81\xf0\x9f\x98\x80x",
                     "\xc3\xa9\xf0\x9f\x98\x81", "", 0);
    /* Invalid bytes pass through at once; an incomplete character at the end is released by
     * finish. */
    rwkv_stream *s = NULL;
    CHECK(rwkv_stream_new(&p, &s) == RWKV_OK, "new");
    size_t n;
    CHECK(rwkv_stream_feed(s, "a\xff\xfe", 3) == RWKV_OK, "feed");
    const char *o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 3 && !memcmp(o, "a\xff\xfe", 3), "invalid bytes released at once (%zu)", n);
    CHECK(rwkv_stream_feed(s, "b\xe2\x82", 3) == RWKV_OK, "feed");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 1 && o[0] == 'b', "incomplete character held (%zu)", n);
    CHECK(rwkv_stream_feed(s, "\x41", 1) == RWKV_OK, "feed");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 3 && !memcmp(o, "\xe2\x82\x41", 3), "a character that cannot complete is released (%zu)", n);
    CHECK(rwkv_stream_feed(s, "\xf0\x9f", 2) == RWKV_OK && rwkv_stream_finish(s) == RWKV_OK, "finish");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 2 && !memcmp(o, "\xf0\x9f", 2), "finish releases the incomplete character (%zu)", n);
    rwkv_stream_free(s);
}

static void test_think(void) {
    const char *stops[] = {"\n\n"};
    rwkv_stream_params p = {stops, NULL, 1, RWKV_THINK_AUTO};
    check_all_splits("auto: plain reply", &p, " Hello there.\nSecond line. ", "Hello there.\nSecond line.", "",
                     -1);
    check_all_splits("auto: reasoning", &p, " <think>\nLet me see.\n</think>\nThe answer. \n\nUser:",
                     "The answer.", "Let me see.", 0);
    check_all_splits("auto: a late <think> is content", &p, " Hi <think>x</think> y", "Hi <think>x</think> y",
                     "", -1);
    check_all_splits("auto: almost a tag", &p, " <thin", "<thin", "", -1);
    check_all_splits("auto: empty reasoning", &p, "<think></think>A", "A", "", -1);
    check_all_splits("auto: nothing", &p, "  \n ", "", "", -1);
    p.think = RWKV_THINK_OPEN;
    check_all_splits("open", &p, ">\nStep 1.\nStep 2.\n</think>\nDone.", "Done.", "Step 1.\nStep 2.", -1);
    check_all_splits("open: a stop inside the reasoning", &p, "> a\n\nb</think>c", "", "a", 0);
    check_all_splits("open: never closed", &p, "> thinking </thi", "", "thinking </thi", -1);
    check_all_splits("open: no >", &p, "thinking</think>x", "x", "thinking", -1);
    check_all_splits("open: </ that is not a tag", &p, ">a </b> c</think> d", "d", "a </b> c", -1);
    p.think = RWKV_THINK_CLOSED;
    check_all_splits("closed", &p, ">\n\n", "", "", 0);
    check_all_splits("closed: answer", &p, ">\nYes. ", "Yes.", "", -1);
    check_all_splits("closed: no >", &p, " Yes", "Yes", "", -1);
    /* Whitespace inside is kept; only the ends are trimmed. */
    p.think = RWKV_THINK_AUTO;
    check_all_splits("auto: inner whitespace", &p, "a \t b \r\n c\t", "a \t b \r\n c", "", -1);
}

static void test_api(void) {
    rwkv_stream *s = (rwkv_stream *)1;
    CHECK(rwkv_stream_new(NULL, NULL) == RWKV_ERR_INVALID_ARG, "NULL out");
    const char *empty[] = {""};
    rwkv_stream_params p = {empty, NULL, 1, RWKV_THINK_NONE};
    CHECK(rwkv_stream_new(&p, &s) == RWKV_ERR_INVALID_ARG && s == NULL, "empty stop string refused");
    size_t zero = 0;
    const char *x[] = {"x"};
    rwkv_stream_params pz = {x, &zero, 1, RWKV_THINK_NONE};
    CHECK(rwkv_stream_new(&pz, &s) == RWKV_ERR_INVALID_ARG, "zero-length stop string refused");
    rwkv_stream_params pn = {NULL, NULL, 2, RWKV_THINK_NONE};
    CHECK(rwkv_stream_new(&pn, &s) == RWKV_ERR_INVALID_ARG, "NULL stop list refused");
    rwkv_stream_params pt = {NULL, NULL, 0, (rwkv_think_mode)9};
    CHECK(rwkv_stream_new(&pt, &s) == RWKV_ERR_INVALID_ARG && strstr(rwkv_last_error(), "think"),
          "unknown think mode refused");
    CHECK(rwkv_stream_feed(NULL, "a", 1) == RWKV_ERR_INVALID_ARG, "feed NULL stream");
    rwkv_stream_free(NULL);
    rwkv_stream_reset(NULL);
    CHECK(rwkv_stream_stop_index(NULL) == -1, "stop index of NULL");

    /* Default parameters; the stop strings are copied; feed after stop, after finish; reset. */
    char stop_buf[8] = "END";
    const char *stops[] = {stop_buf};
    rwkv_stream_params ps = {stops, NULL, 1, RWKV_THINK_NONE};
    CHECK(rwkv_stream_new(&ps, &s) == RWKV_OK, "new");
    memcpy(stop_buf, "XYZ", 3);
    size_t n;
    CHECK(rwkv_stream_feed(s, NULL, 0) == RWKV_OK && rwkv_stream_feed(s, "aEN", 3) == RWKV_OK &&
          rwkv_stream_feed(s, "Db", 2) == RWKV_OK, "feed");
    CHECK(rwkv_stream_stop_index(s) == 0, "the copied stop string matched");
    CHECK(rwkv_stream_feed(s, "more", 4) == RWKV_OK, "bytes after the stop are accepted");
    const char *o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 1 && o[0] == 'a', "output before the stop only");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(o && n == 0, "a second take is empty");
    CHECK(rwkv_stream_finish(s) == RWKV_OK && rwkv_stream_finish(s) == RWKV_OK, "finish twice");
    CHECK(rwkv_stream_feed(s, "a", 1) == RWKV_ERR_INVALID_ARG, "feed after finish refused");
    rwkv_stream_reset(s);
    CHECK(rwkv_stream_stop_index(s) == -1 && rwkv_stream_feed(s, "EN", 2) == RWKV_OK &&
          rwkv_stream_finish(s) == RWKV_OK, "reset starts over");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 2 && !memcmp(o, "EN", 2), "a held prefix is released by finish");
    CHECK(rwkv_stream_take(s, (rwkv_stream_channel)5, &n) && n == 0, "unknown channel: empty");
    rwkv_stream_free(s);

    /* Taking one channel keeps the other's pointer valid. */
    rwkv_stream_params pa = {NULL, NULL, 0, RWKV_THINK_AUTO};
    CHECK(rwkv_stream_new(&pa, &s) == RWKV_OK, "new");
    CHECK(rwkv_stream_feed(s, "<think>R</think>C", 17) == RWKV_OK && rwkv_stream_finish(s) == RWKV_OK, "feed");
    size_t nr, nc;
    const char *r = rwkv_stream_take(s, RWKV_STREAM_REASONING, &nr);
    const char *c = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &nc);
    CHECK(nr == 1 && r[0] == 'R' && nc == 1 && c[0] == 'C', "both channels");
    rwkv_stream_free(s);
    CHECK(rwkv_stream_new(NULL, &s) == RWKV_OK && rwkv_stream_feed(s, "x", 1) == RWKV_OK, "NULL params");
    o = rwkv_stream_take(s, RWKV_STREAM_CONTENT, &n);
    CHECK(n == 1 && o[0] == 'x', "NULL params: raw");
    rwkv_stream_free(s);
}

int main(void) {
    test_stop_strings();
    test_utf8();
    test_think();
    test_api();
    return test_summary("test_stream");
}
