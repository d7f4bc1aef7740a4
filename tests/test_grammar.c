/* test_grammar.c — GBNF grammars and the matcher: every construct (texts that must and must not
 * match), malformed grammars (the error and its line:column), matcher limits, the matcher API
 * (accept, end states, clone, reset, apply), the token mask against a token-by-token check on
 * the World vocabulary, and the JSON Schema converter (errors naming the keyword, and values
 * that must and must not match). Generation with a random model: test_grammar_gen.c. */
#include "common/test.h"
#include "rwkv.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static rwkv_token_trie *byte_trie; /* the byte tokenizer, no end-of-text token */

static rwkv_grammar *compile(const char *gbnf) {
    rwkv_grammar *g = NULL;
    rwkv_status st = rwkv_grammar_parse(gbnf, strlen(gbnf), &g);
    CHECK(st == RWKV_OK && g, "grammar does not compile: %s\n%s", rwkv_last_error(), gbnf);
    return st == RWKV_OK ? g : NULL;
}

/* 1 when text[0..len) is a complete text of g, 0 when not (rejected or incomplete). Fed one
 * byte at a time when bytewise (characters split across calls). */
static int full_match(const rwkv_grammar *g, const char *text, size_t len, int bytewise) {
    rwkv_grammar_matcher *m = NULL;
    if (rwkv_grammar_matcher_new(g, byte_trie, &m) != RWKV_OK) {
        CHECK(0, "matcher: %s", rwkv_last_error());
        return -1;
    }
    int ok = 1;
    if (bytewise) {
        for (size_t i = 0; i < len && ok; i++) ok = rwkv_grammar_accept_bytes(m, text + i, 1) == RWKV_OK;
    } else {
        ok = rwkv_grammar_accept_bytes(m, text, len) == RWKV_OK;
    }
    if (ok) ok = rwkv_grammar_matcher_end(m) != RWKV_GRAMMAR_MORE;
    rwkv_grammar_matcher_free(m);
    return ok;
}

static int bit(const uint32_t *mask, int t) { return (int)(mask[t / 32] >> (t % 32) & 1); }

/* ---- constructs ------------------------------------------------------------------------ */

typedef struct construct {
    const char *gbnf;
    const char *yes[8];
    const char *no[8];
} construct;

static const construct constructs[] = {
    {"root ::= \"abc\"", {"abc"}, {"", "ab", "abcd", "abd"}},
    {"root ::= \"a\" \"b\" | \"c\"", {"ab", "c"}, {"a", "b", "abc", "ac"}},
    {"root ::= (\"a\" | \"b\") \"c\"", {"ac", "bc"}, {"c", "abc"}},
    {"root ::= \"x\" ( (\"a\" | \"b\") (\"c\" | \"\") )", {"xa", "xbc", "xac"}, {"x", "xc", "xabc"}},
    {"root ::= \"a\"*", {"", "a", "aaaaaaaa"}, {"b", "ab"}},
    {"root ::= \"ab\"+", {"ab", "abab"}, {"", "a", "aba"}},
    {"root ::= \"a\"? \"b\"", {"b", "ab"}, {"aab", "a"}},
    {"root ::= \"a\"{3}", {"aaa"}, {"aa", "aaaa"}},
    {"root ::= \"a\"{2,}", {"aa", "aaaaaa"}, {"a", ""}},
    {"root ::= \"a\"{1,3}", {"a", "aa", "aaa"}, {"", "aaaa"}},
    {"root ::= \"a\"{,2} \"b\"", {"b", "ab", "aab"}, {"aaab"}},
    {"root ::= \"a\"{0}", {""}, {"a"}},
    {"root ::= ( \"a\" \"b\"? ){2,3}", {"aa", "aba", "abab", "aab", "ababab"}, {"a", "aaaa", "b"}},
    {"root ::= \"a\"*?", {"", "aaa"}, {"b"}},              /* ("a"*)? */
    {"root ::= (\"a\"?)*", {"", "a", "aaaa"}, {"b"}},      /* a tail-only cycle: allowed */
    {"root ::= [a-c]+", {"a", "cab"}, {"", "d", "abcd"}},
    {"root ::= [^a-c]", {"d", "\xc3\xa9", "\xf0\x9f\x98\x80", "\n"}, {"a", "c", "dd"}},
    {"root ::= [a-cx-z0-9_]*", {"", "az_09"}, {"d", "-"}},
    {"root ::= [-a]+ [b-]", {"-ab", "a-", "--b"}, {"b", "ab-c"}},
    {"root ::= [\\]\\[\\\\\\-\\^]+", {"]", "[\\-^"}, {"a"}},
    {"root ::= [\xce\xb1-\xcf\x89]{2}", {"\xce\xb1\xcf\x89", "\xce\xbb\xce\xbc"}, {"ab", "\xce\xb1"}}, /* [α-ω] */
    {"root ::= [\\u4e00-\\u9fff]+", {"\xe4\xb8\xad\xe6\x96\x87"}, {"a", "\xe4\xb8"}},          /* CJK */
    {"root ::= [^\\x00-\\x7F]", {"\xc3\xa9", "\xf4\x8f\xbf\xbf"}, {"a", "\x7f"}},
    {"root ::= .+", {"a", "\xc3\xa9z", "\xf0\x9f\x98\x80"}, {"", "\xff", "\xc3", "\xed\xa0\x80"}},
    {"root ::= \"\\n\\t\\r\\\\\\\"\\x41\\u00e9\\U0001F600\"", {"\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80"}, {"A"}},
    {"root ::= \"\xe4\xb8\xad\" \"\xe6\x96\x87\"", {"\xe4\xb8\xad\xe6\x96\x87"}, {"\xe4\xb8\xad"}},
    {"root ::= \"\\xff\"", {"\xc3\xbf"}, {"\xff"}}, /* \xHH is a code point, written in UTF-8 */
    {"root ::= a b\na ::= \"x\" # a comment\nb ::= \"y\" | a", {"xy", "xx"}, {"x", "yy"}},
    {"# leading comment\n\nroot ::=\n  \"a\"\n  | \"b\" # trailing\n\n", {"a", "b"}, {"ab"}},
    {"root ::= (\n  \"a\" |\n  \"b\"\n) \"c\"", {"ac", "bc"}, {"c"}},
    {"root ::= \"(\" root \")\" | \"\"", {"", "()", "((()))"}, {"(", "())", ")("}},
    {"root ::= item (\",\" item)*\nitem ::= [0-9]+ | \"[\" root \"]\"", {"1", "1,[2,3],4", "[[7]]"}, {"", "1,", "[1"}},
    {"root ::= x y\nx ::= \"a\" | \"\"\ny ::= x \"b\"", {"b", "ab", "aab"}, {"aaab", "a"}},
    {"root ::= (\"a\" | \"a\")* \"b\"", {"b", "aaab"}, {"aa"}}, /* ambiguous but small */
    {"root_1 ::= \"a\"\nroot ::= root_1 root-2\nroot-2 ::= \"b\"", {"ab"}, {"a"}},
};

static void test_constructs(void) {
    for (size_t i = 0; i < sizeof constructs / sizeof constructs[0]; i++) {
        const construct *c = &constructs[i];
        rwkv_grammar *g = compile(c->gbnf);
        if (!g) continue;
        for (int k = 0; k < 8 && c->yes[k]; k++)
            for (int bw = 0; bw < 2; bw++)
                CHECK(full_match(g, c->yes[k], strlen(c->yes[k]), bw) == 1,
                      "grammar %s should match '%s' (bytewise %d)", c->gbnf, c->yes[k], bw);
        for (int k = 0; k < 8 && c->no[k]; k++)
            CHECK(full_match(g, c->no[k], strlen(c->no[k]), 1) == 0, "grammar %s should not match '%s'",
                  c->gbnf, c->no[k]);
        rwkv_grammar_free(g);
    }
    /* empty string as the only text, and a long repetition in constant stack depth */
    rwkv_grammar *g = compile("root ::= [ab]* \"c\"");
    if (g) {
        size_t n = 100000;
        char *t = malloc(n + 1);
        for (size_t i = 0; i < n; i++) t[i] = i % 3 ? 'a' : 'b';
        t[n] = 'c';
        CHECK(full_match(g, t, n + 1, 0) == 1, "100000 repetitions");
        free(t);
        rwkv_grammar_free(g);
    }
    /* a grammar accepting NUL bytes through an escape */
    g = compile("root ::= \"a\\x00b\"");
    if (g) {
        CHECK(full_match(g, "a\0b", 3, 1) == 1, "NUL through \\x00");
        rwkv_grammar_free(g);
    }
}

/* ---- malformed grammars ---------------------------------------------------------------- */

typedef struct bad {
    const char *gbnf;
    size_t len; /* 0: strlen */
    const char *where; /* "L:C" */
    const char *what;  /* substring of the message */
} bad;

static const bad bads[] = {
    {"", 0, "1:1", "empty grammar"},
    {"  \n# only a comment\n", 0, "3:1", "empty grammar"},
    {"root ::= (\"a\"", 0, "1:14", "expected ')' to close the '(' at 1:10"},
    {"root ::= (\"a\" | (\"b\")", 0, "1:22", "expected ')' to close the '(' at 1:10"},
    {"root ::= \"a\")", 0, "1:13", "unbalanced ')'"},
    {"root ::= \"a\"\nx ::= )", 0, "2:7", "unbalanced ')'"},
    {"root ::= foo", 0, "1:10", "undefined rule 'foo'"},
    {"root ::= a\na ::= \"x\" | bar \"y\"", 0, "2:13", "undefined rule 'bar'"},
    {"root ::= [a-", 0, "1:10", "unterminated character class"},
    {"root ::= [ab\n]", 0, "1:10", "unterminated character class"},
    {"root ::= \"abc", 0, "1:10", "unterminated string"},
    {"root ::= \"ab\nc\"", 0, "1:10", "unterminated string"},
    {"root ::= \"a\\qb\"", 0, "1:12", "unknown escape"},
    {"root ::= [\\q]", 0, "1:11", "unknown escape"},
    {"root ::= \"\\x4\"", 0, "1:11", "\\x needs 2 hex digits"},
    {"root ::= \"\\u12G4\"", 0, "1:11", "\\u needs 4 hex digits"},
    {"root ::= \"\\uD800\"", 0, "1:11", "surrogate"},
    {"root ::= \"\\U00110000\"", 0, "1:11", "beyond U+10FFFF"},
    {"root ::= \"\xff\"", 0, "1:11", "invalid UTF-8"},
    {"root ::= \"\xc3\"", 0, "1:11", "invalid UTF-8"},
    {"root ::= \"\xed\xa0\x80\"", 0, "1:11", "invalid UTF-8"}, /* an encoded surrogate */
    {"root ::= \"\xc0\xaf\"", 0, "1:11", "invalid UTF-8"},     /* overlong */
    {"root ::= \"a\"\n\xe4\xb8\xad ::= \"b\"", 0, "2:1", "unexpected U+4E2D"},
    {"root ::= \"a\0\"", 13, "1:12", "NUL byte"},
    {"root ::= \"\xc3\xa9\" )", 0, "1:14", "unbalanced ')'"}, /* columns count characters */
    {"root ::= root \"a\"", 0, "1:1", "left recursion: rule 'root' can reach itself without consuming input (root -> root)"},
    {"root ::= a\na ::= b \"x\"\nb ::= a \"y\" | \"z\"", 0, "2:1", "(a -> b -> a)"},
    {"root ::= e root \"x\" | \"y\"\ne ::= \"\" | \"q\"", 0, "1:1", "left recursion"},
    {"root ::= (root \"x\")? \"y\"", 0, "1:1", "left recursion"},
    {"root ::= \"a\" root", 0, "1:1", "can never finish"},
    {"root ::= \"a\" | b\nb ::= \"(\" b \")\"", 0, "2:1", "rule 'b' can never finish"},
    {"foo ::= \"a\"", 0, "1:1", "no rule named 'root'"},
    {"root ::= \"a\"\nroot ::= \"b\"", 0, "2:1", "defined twice (first at 1:1)"},
    {"root \"a\"", 0, "1:6", "expected '::=' after the rule name 'root'"},
    {"root :: \"a\"", 0, "1:6", "expected '::='"},
    {"::= \"a\"", 0, "1:1", "expected a rule name"},
    {"root ::= *", 0, "1:10", "'*' must follow something"},
    {"root ::= \"a\" | +", 0, "1:16", "'+' must follow something"},
    {"root ::= \"a\"{2,1}", 0, "1:13", "maximum is below the minimum"},
    {"root ::= \"a\"{x}", 0, "1:14", "expected a number after '{'"},
    {"root ::= \"a\"{2", 0, "1:15", "expected '}'"},
    {"root ::= \"a\"{1000000}", 0, "1:14", "repetition count above"},
    {"root ::= []", 0, "1:10", "empty character class"},
    {"root ::= [z-a]", 0, "1:11", "reversed range"},
    {"root ::= [^\\x00-\\U0010FFFF]", 0, "1:10", "matches no character"},
    {"root ::= \"a\" ; \"b\"", 0, "1:14", "unexpected ';'"},
    {"root ::= \"a\"\n  x ::= \"b\" ::= \"c\"", 0, "2:13", "unexpected '::='"},
};

static void test_errors(void) {
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const bad *b = &bads[i];
        rwkv_grammar *g = (rwkv_grammar *)1;
        size_t len = b->len ? b->len : strlen(b->gbnf);
        rwkv_status st = rwkv_grammar_parse(b->gbnf, len, &g);
        char want[32];
        snprintf(want, sizeof want, "grammar %s: ", b->where);
        const char *msg = rwkv_last_error();
        CHECK(st == RWKV_ERR_FORMAT && g == NULL, "grammar %zu ('%s') should fail: status %d", i,
              b->gbnf, st);
        CHECK(strncmp(msg, want, strlen(want)) == 0, "grammar %zu ('%s'): position: want '%s', got '%s'",
              i, b->gbnf, want, msg);
        CHECK(strstr(msg, b->what) != NULL, "grammar %zu ('%s'): want '%s' in '%s'", i, b->gbnf,
              b->what, msg);
        if (st == RWKV_OK) rwkv_grammar_free(g);
    }
    rwkv_grammar *g = NULL;
    CHECK(rwkv_grammar_parse(NULL, 3, &g) == RWKV_ERR_INVALID_ARG, "NULL text");
    CHECK(rwkv_grammar_parse("root ::= \"a\"", 12, NULL) == RWKV_ERR_INVALID_ARG, "NULL out");
    /* size limits: 11 repetitions of 100000 items */
    char big[400] = "root ::=";
    for (int i = 0; i < 11; i++) snprintf(big + strlen(big), sizeof big - strlen(big), " \"%c\"{100000}", 'a' + i);
    CHECK(rwkv_grammar_parse(big, strlen(big), &g) == RWKV_ERR_RANGE && !g &&
              strstr(rwkv_last_error(), "grammar too large"),
          "expansion past the limits refused: %s", rwkv_last_error());
}

/* ---- matcher limits -------------------------------------------------------------------- */

static void test_limits(void) {
    /* after n '(' there are 2^n distinct parses (which closer each one needs) */
    rwkv_grammar *g = compile("root ::= \"(\" root \")\" | \"(\" root \"))\" | \"x\"");
    rwkv_grammar_matcher *m = NULL;
    if (g && rwkv_grammar_matcher_new(g, byte_trie, &m) == RWKV_OK) {
        rwkv_status st = RWKV_OK;
        int i = 0;
        for (; i < 40 && st == RWKV_OK; i++) st = rwkv_grammar_accept_bytes(m, "(", 1);
        CHECK(st == RWKV_ERR_UNSUPPORTED && strstr(rwkv_last_error(), "ambiguous"),
              "exponential ambiguity stopped cleanly: status %d after %d, %s", st, i, rwkv_last_error());
        CHECK(i > 8 && i <= 12, "ambiguity limit reached after %d bytes", i);
        uint32_t mask[8];
        int n = -1;
        st = rwkv_grammar_mask(m, mask, 8, &n);
        CHECK(st == RWKV_OK && n == 1 && bit(mask, 'x'),
              "after the failure the matcher still works ('(' is cut by the limit): %d, n %d", st, n);
        rwkv_grammar_matcher_free(m);
    }
    rwkv_grammar_free(g);
    /* nesting deeper than the stack limit */
    g = compile("root ::= \"(\" root \")\" | \"\"");
    if (g && rwkv_grammar_matcher_new(g, byte_trie, &m) == RWKV_OK) {
        char open[2000];
        memset(open, '(', sizeof open);
        rwkv_status st = rwkv_grammar_accept_bytes(m, open, 1000);
        CHECK(st == RWKV_OK, "1000 levels: %s", rwkv_last_error());
        st = rwkv_grammar_accept_bytes(m, open, 1000);
        CHECK(st == RWKV_ERR_UNSUPPORTED && strstr(rwkv_last_error(), "nested deeper"),
              "2000 levels refused cleanly: %d %s", st, rwkv_last_error());
        rwkv_grammar_matcher_free(m);
    }
    rwkv_grammar_free(g);
}

/* ---- matcher API ----------------------------------------------------------------------- */

static void test_api(void) {
    rwkv_tokenizer *bt = NULL;
    rwkv_token_trie *tr = NULL;
    CHECK(rwkv_tokenizer_new_bytes(&bt) == RWKV_OK, "byte tokenizer");
    rwkv_token_trie *tr_bad = (rwkv_token_trie *)1;
    CHECK(rwkv_token_trie_new(bt, 256, &tr_bad) == RWKV_ERR_INVALID_ARG && !tr_bad, "eos out of range refused");
    CHECK(rwkv_token_trie_new(bt, 0, &tr) == RWKV_OK && rwkv_token_trie_n_vocab(tr) == 256, "trie: %s",
          rwkv_last_error());
    rwkv_grammar *g = compile("root ::= [a-c]+ \"\xc3\xa9\"?");
    rwkv_grammar_matcher *m = NULL, *c = NULL;
    if (!g || rwkv_grammar_matcher_new(g, tr, &m) != RWKV_OK) goto out;
    uint32_t mask[8];
    int n = 0;
    CHECK(rwkv_grammar_mask(m, mask, 7, &n) == RWKV_ERR_INVALID_ARG, "mask too small");
    CHECK(rwkv_grammar_mask(m, mask, 8, &n) == RWKV_OK && n == 3 && bit(mask, 'a') && bit(mask, 'c') &&
              !bit(mask, 0) && !bit(mask, 'd'),
          "start mask: n %d", n);
    CHECK(rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MORE, "start needs more");
    CHECK(rwkv_grammar_accept(m, 0) == RWKV_ERR_INVALID_ARG, "end of text refused at the start");
    CHECK(rwkv_grammar_accept(m, 'x') == RWKV_ERR_INVALID_ARG && strstr(rwkv_last_error(), "not allowed"),
          "token not allowed: %s", rwkv_last_error());
    CHECK(rwkv_grammar_accept(m, 300) == RWKV_ERR_INVALID_ARG, "token out of range");
    CHECK(rwkv_grammar_accept(m, 'b') == RWKV_OK, "b accepted after refusals");
    CHECK(rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MAY_END, "may end after b");
    CHECK(rwkv_grammar_mask(m, mask, 8, &n) == RWKV_OK && n == 5 && bit(mask, 0) && bit(mask, 0xc3),
          "mask after b: end of text, a-c and the first byte of e-acute (n %d)", n);
    CHECK(rwkv_grammar_matcher_clone(m, &c) == RWKV_OK, "clone");
    CHECK(rwkv_grammar_accept(m, 0xc3) == RWKV_OK, "first byte of a character");
    CHECK(rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MORE, "inside a character: more needed");
    CHECK(rwkv_grammar_mask(m, mask, 8, &n) == RWKV_OK && n == 1 && bit(mask, 0xa9),
          "only the continuation byte (n %d)", n);
    CHECK(rwkv_grammar_accept(m, 0xa9) == RWKV_OK, "second byte");
    CHECK(rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MUST_END, "must end");
    CHECK(rwkv_grammar_mask(m, mask, 8, &n) == RWKV_OK && n == 1 && bit(mask, 0), "only end of text");
    /* the clone is where m was */
    CHECK(rwkv_grammar_matcher_end(c) == RWKV_GRAMMAR_MAY_END, "clone unaffected");
    CHECK(rwkv_grammar_accept_bytes(c, "cab", 3) == RWKV_OK, "clone continues");
    CHECK(rwkv_grammar_accept_bytes(c, "ad", 2) == RWKV_ERR_INVALID_ARG, "bad bytes refused");
    CHECK(rwkv_grammar_accept_bytes(c, "a", 1) == RWKV_OK, "a bad call leaves the matcher unchanged");
    CHECK(rwkv_grammar_accept(m, 0) == RWKV_OK && rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_ENDED,
          "end of text accepted");
    CHECK(rwkv_grammar_accept(m, 'a') == RWKV_ERR_INVALID_ARG, "nothing after end of text");
    CHECK(rwkv_grammar_mask(m, mask, 8, &n) == RWKV_ERR_INVALID_ARG, "no mask after end of text");
    rwkv_grammar_matcher_reset(m);
    CHECK(rwkv_grammar_matcher_end(m) == RWKV_GRAMMAR_MORE && rwkv_grammar_accept(m, 'a') == RWKV_OK,
          "reset");
    /* apply: -inf outside the mask, NaN, all -inf */
    rwkv_grammar_matcher_reset(m);
    float lg[300];
    for (int i = 0; i < 300; i++) lg[i] = (float)i;
    lg['b'] = NAN;
    CHECK(rwkv_grammar_apply(m, lg, 300, &n) == RWKV_OK && n == 3, "apply");
    int ok = 1;
    for (int i = 0; i < 300; i++) {
        float want = i == 'a' || i == 'c' ? (float)i : -INFINITY;
        ok &= lg[i] == want;
    }
    CHECK(ok, "apply: allowed logits kept, others -inf, NaN -> -inf");
    for (int i = 0; i < 300; i++) lg[i] = -INFINITY;
    lg['b'] = NAN;
    CHECK(rwkv_grammar_apply(m, lg, 300, &n) == RWKV_OK && lg['a'] == 0.0f && lg['b'] == 0.0f &&
              lg['c'] == 0.0f && lg['d'] == -INFINITY,
          "apply: all allowed at -inf/NaN become 0");
    /* sample: always allowed */
    rwkv_sampler *s = NULL;
    rwkv_sampler_params sp;
    rwkv_sampler_params_default(&sp);
    sp.seed = 5;
    CHECK(rwkv_sampler_new(&sp, 256, NULL, &s) == RWKV_OK, "sampler");
    int failures = 0, ends = 0;
    for (int trial = 0; trial < 200 && s; trial++) {
        rwkv_grammar_matcher_reset(m);
        for (int k = 0; k < 50; k++) {
            float l[256];
            for (int i = 0; i < 256; i++) l[i] = (float)((i * 7919 + trial * 31 + k) % 97) / 10.0f;
            int32_t t = -2;
            if (rwkv_grammar_sample(m, s, l, 256, &t) != RWKV_OK) {
                failures++;
                break;
            }
            if (t == 0) {
                ends++;
                break;
            }
        }
    }
    CHECK(failures == 0 && ends > 100, "constrained sampling: %d failures, %d ended", failures, ends);
    rwkv_sampler_free(s);
    /* a grammar that must end, with no end-of-text token: n = 0, token -1 */
    rwkv_token_trie *tr_noeos = NULL;
    rwkv_grammar *g2 = compile("root ::= \"ab\"");
    rwkv_grammar_matcher *m2 = NULL;
    if (g2 && rwkv_token_trie_new(bt, -1, &tr_noeos) == RWKV_OK &&
        rwkv_grammar_matcher_new(g2, tr_noeos, &m2) == RWKV_OK) {
        CHECK(rwkv_grammar_accept_bytes(m2, "ab", 2) == RWKV_OK, "ab");
        CHECK(rwkv_grammar_mask(m2, mask, 8, &n) == RWKV_OK && n == 0, "nothing allowed (n %d)", n);
        rwkv_sampler *s2 = NULL;
        int32_t t = 5;
        float l[256] = {0};
        CHECK(rwkv_sampler_new(NULL, 256, NULL, &s2) == RWKV_OK &&
                  rwkv_grammar_sample(m2, s2, l, 256, &t) == RWKV_OK && t == -1,
              "sample: -1 when the grammar must end without an end token");
        rwkv_sampler_free(s2);
    }
    rwkv_grammar_matcher_free(m2);
    rwkv_grammar_free(g2);
    rwkv_token_trie_free(tr_noeos);
    /* a vocabulary without the needed bytes: no token can continue */
    rwkv_tokenizer *small = NULL;
    const char voc[] = "1 'a' 1\n2 'b' 1\n";
    rwkv_token_trie *tr_small = NULL;
    g2 = compile("root ::= \"a\" \"c\"");
    if (g2 && rwkv_tokenizer_load_mem(voc, sizeof voc - 1, &small) == RWKV_OK &&
        rwkv_token_trie_new(small, 0, &tr_small) == RWKV_OK &&
        rwkv_grammar_matcher_new(g2, tr_small, &m2) == RWKV_OK) {
        CHECK(rwkv_grammar_accept(m2, 1) == RWKV_OK, "a");
        uint32_t *wide = calloc(2048, sizeof *wide);
        rwkv_status st = rwkv_grammar_mask(m2, wide, 2048, &n);
        free(wide);
        CHECK(st == RWKV_ERR_UNSUPPORTED && strstr(rwkv_last_error(), "no token"),
              "dead end reported: %d %s", st, rwkv_last_error());
        rwkv_grammar_matcher_free(m2);
    }
    rwkv_grammar_free(g2);
    rwkv_token_trie_free(tr_small);
    rwkv_tokenizer_free(small);
out:
    rwkv_grammar_matcher_free(c);
    rwkv_grammar_matcher_free(m);
    rwkv_grammar_free(g);
    rwkv_token_trie_free(tr);
    rwkv_tokenizer_free(bt);
}

/* ---- masks on the World vocabulary ----------------------------------------------------- */

static const char *JSON_GBNF =
    "root ::= value\n"
    "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\")\n"
    "object ::= \"{\" ws ( string \":\" ws value ws (\",\" ws string \":\" ws value ws)* )? \"}\"\n"
    "array ::= \"[\" ws ( value ws (\",\" ws value ws)* )? \"]\"\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\"\n"
    "number ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]{1,8})? ([eE] [-+]? [0-9]{1,2})?\n"
    "ws ::= [ \\t\\n]{0,4}\n";

/* The mask at text's end checked token by token: t allowed iff a matcher of an independent
 * cache (advanced by accept only, never by a mask) accepts t. */
static void check_mask_at(const rwkv_grammar *g, const rwkv_token_trie *tr, const char *text, int n_vocab) {
    rwkv_grammar_matcher *m = NULL, *ref = NULL;
    if (rwkv_grammar_matcher_new(g, tr, &m) != RWKV_OK || rwkv_grammar_matcher_new(g, tr, &ref) != RWKV_OK ||
        rwkv_grammar_accept_bytes(m, text, strlen(text)) != RWKV_OK ||
        rwkv_grammar_accept_bytes(ref, text, strlen(text)) != RWKV_OK) {
        CHECK(0, "matchers at '%s': %s", text, rwkv_last_error());
        rwkv_grammar_matcher_free(m);
        rwkv_grammar_matcher_free(ref);
        return;
    }
    uint32_t *mask = calloc((size_t)(n_vocab + 31) / 32, sizeof *mask);
    int n = 0;
    CHECK(rwkv_grammar_mask(m, mask, (size_t)(n_vocab + 31) / 32, &n) == RWKV_OK, "mask at '%s': %s", text,
          rwkv_last_error());
    int wrong = 0, count = 0, first_wrong = -1;
    for (int t = 0; t < n_vocab; t++) {
        rwkv_grammar_matcher *c = NULL;
        rwkv_grammar_matcher_clone(ref, &c);
        int ok = rwkv_grammar_accept(c, t) == RWKV_OK;
        rwkv_grammar_matcher_free(c);
        count += ok;
        if (ok != bit(mask, t)) {
            if (first_wrong < 0) first_wrong = t;
            wrong++;
        }
    }
    CHECK(wrong == 0 && count == n, "mask at '%s': %d tokens differ (first %d), %d allowed, mask says %d",
          text, wrong, first_wrong, count, n);
    CHECK(bit(mask, 0) == (rwkv_grammar_matcher_end(m) != RWKV_GRAMMAR_MORE),
          "end of text in the mask iff the grammar may end, at '%s'", text);
    free(mask);
    rwkv_grammar_matcher_free(m);
    rwkv_grammar_matcher_free(ref);
}

static void test_world_masks(void) {
    if (!test_require_shared()) return;
    rwkv_tokenizer *tok = NULL;
    rwkv_token_trie *tr = NULL;
    if (rwkv_tokenizer_load(test_shared("data/rwkv_vocab_v20230424.txt"), &tok) != RWKV_OK ||
        rwkv_token_trie_new(tok, 0, &tr) != RWKV_OK) {
        CHECK(0, "World vocabulary: %s", rwkv_last_error());
        rwkv_tokenizer_free(tok);
        return;
    }
    rwkv_grammar *g = compile(JSON_GBNF);
    static const char *const at[] = {
        "",            "{",          "{\"a",          "{\"a\": [1, ", "{\"a\": \"x\\u00",
        "{\"b\": \"\xc3", /* inside a UTF-8 character */
        "[1.5e",       "[true, nu", "{\"k\": 12",    "[[]]",
    };
    for (size_t i = 0; g && i < sizeof at / sizeof at[0]; i++) check_mask_at(g, tr, at[i], 65536);
    /* tokens that split a character: the World vocabulary has single-byte tokens for 0xE4 etc.;
     * a literal of CJK text can be produced through them */
    rwkv_grammar *g2 = compile("root ::= \"\xe4\xb8\xad\xe6\x96\x87\" [a-z]");
    rwkv_grammar_matcher *m = NULL;
    if (g2 && rwkv_grammar_matcher_new(g2, tr, &m) == RWKV_OK) {
        uint32_t mask[2048];
        int n = 0;
        rwkv_grammar_mask(m, mask, 2048, &n);
        int32_t ids[8];
        size_t nid = 0;
        rwkv_tokenizer_encode(tok, "\xe4", 1, ids, &nid);
        CHECK(nid == 1 && bit(mask, ids[0]), "the single-byte token 0xE4 is allowed");
        CHECK(rwkv_grammar_accept(m, ids[0]) == RWKV_OK, "accept a partial character");
        rwkv_grammar_mask(m, mask, 2048, &n);
        rwkv_tokenizer_encode(tok, "\xb8\xad", 2, ids, &nid);
        for (size_t k = 0; k < nid; k++)
            CHECK(bit(mask, ids[k]) || k > 0, "the rest of the character is allowed");
        check_mask_at(g2, tr, "\xe4\xb8", 65536);
        rwkv_grammar_matcher_free(m);
    }
    rwkv_grammar_free(g2);
    rwkv_grammar_free(g);
    rwkv_token_trie_free(tr);
    rwkv_tokenizer_free(tok);
}

/* ---- JSON Schema converter -------------------------------------------------------------- */

typedef struct schema_case {
    const char *schema;
    const char *yes[10];
    const char *no[10];
} schema_case;

static const schema_case schema_cases[] = {
    {"{\"type\":\"integer\",\"minimum\":0,\"maximum\":150}",
     {"0", "7", "99", "100", "150"},
     {"-1", "151", "007", "1.0", "1000", "-0", ""}},
    {"{\"type\":\"integer\",\"minimum\":-20,\"exclusiveMaximum\":7}",
     {"-20", "-9", "0", "6"},
     {"-21", "7", "-0"}},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":99}", {"100", "12345"}, {"99", "5", "-3"}},
    {"{\"type\":\"integer\",\"maximum\":-5}", {"-5", "-123456"}, {"-4", "0", "5"}},
    {"{\"type\":\"integer\",\"minimum\":1234,\"maximum\":98765}",
     {"1234", "1299", "9999", "10000", "98765", "50000"},
     {"1233", "98766", "99999", "999"}},
    {"{\"type\":\"number\",\"minimum\":-1,\"maximum\":1}",
     {"-1", "0.5", "1.000", "-0.25", "0", "-0"},
     {"1.5", "-1.01", "2", "1.01", "1e0"}},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0}", {"0.5", "3", "0.001"}, {"0", "0.0", "-1"}},
    {"{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":10}", {"0", "9.99", "5"}, {"10", "10.0", "-0.1"}},
    {"{\"type\":\"number\"}", {"0", "-1.5", "2e10", "1.25E-3"}, {"01", "1.", ".5", "1e123", "+1"}},
    {"{\"type\":\"string\",\"format\":\"date\"}",
     {"\"2024-02-29\"", "\"2000-02-29\"", "\"2023-12-31\"", "\"1999-04-30\""},
     {"\"2023-02-29\"", "\"1900-02-29\"", "\"2023-04-31\"", "\"2023-13-01\"", "\"2023-00-10\"", "\"2023-1-10\""}},
    {"{\"type\":\"string\",\"format\":\"time\"}",
     {"\"23:59:59Z\"", "\"00:00:00.123+05:30\"", "\"12:30:00-08:00\""},
     {"\"24:00:00Z\"", "\"12:60:00Z\"", "\"12:00:00\""}},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", {"\"2024-01-15T10:20:30Z\""}, {"\"2024-01-15 10:20:30Z\""}},
    {"{\"type\":\"string\",\"format\":\"uuid\"}",
     {"\"123e4567-e89b-12d3-a456-426614174000\""},
     {"\"123e4567e89b12d3a456426614174000\"", "\"123e4567-e89b-12d3-a456-42661417400g\""}},
    {"{\"type\":\"string\",\"format\":\"email\"}", {"\"a.b@example.com\""}, {"\"a@b\"", "\"@x.com\"", "\"a b@x.com\""}},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}",
     {"\"ab\"", "\"abc\"", "\"\xc3\xa9\xc3\xa9\"", "\"a\\n\"", "\"\\ud83d\\ude00x\""},
     {"\"a\"", "\"abcd\"", "\"\\ud83dx\""}},
    {"{\"type\":\"string\"}",
     {"\"\"", "\"x\\\"y\"", "\"\\u00e9\"", "\"\\uD83D\\uDE00\""},
     {"\"\\ud800\"", "\"\\udc00\"", "\"\n\"", "\"\\x\"", "\"a"}},
    {"{\"enum\":[\"red\",\"green\",1,null,{\"a\":[1]}]}",
     {"\"red\"", "\"green\"", "1", "null", "{\"a\":[1]}"},
     {"\"blue\"", "2", "\"Red\""}},
    {"{\"type\":\"string\",\"enum\":[\"a\",1]}", {"\"a\""}, {"1"}},
    {"{\"const\":\"x\"}", {"\"x\""}, {"\"y\""}},
    {"{\"type\":[\"string\",\"null\"],\"maxLength\":1}", {"\"a\"", "null"}, {"\"ab\"", "1"}},
    {"{\"type\":\"boolean\"}", {"true", "false"}, {"null", "1"}},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}",
     {"[1]", "[1,2,3]", "[ 1, 2 ]", "[\n  1,\n  2\n]"},
     {"[]", "[1,2,3,4]", "[1,]", "[\"a\"]", "[1 ,2]"}},
    {"{\"type\":\"array\",\"maxItems\":0}", {"[]"}, {"[1]"}},
    {"{\"type\":\"array\"}", {"[]", "[1,\"a\",{\"b\":[null]}]"}, {"[1,]"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}",
     {"{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}", "{ \"a\": 1, \"b\": \"x\" }", "{\n  \"a\": 1,\n  \"b\": \"x\"\n}"},
     {"{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"b\":\"x\",\"c\":1}", "{\"b\":\"x\",}"}},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"const\":1},\"b\":{\"const\":2},\"c\":{\"const\":3}}}",
     {"{}", "{\"a\":1}", "{\"b\":2}", "{\"a\":1,\"c\":3}", "{\"a\":1,\"b\":2,\"c\":3}", "{\"c\":3}"},
     {"{,\"a\":1}", "{\"a\":1,}", "{\"c\":3,\"a\":1}", "{\"a\":1\"b\":2}"}},
    {"{\"type\":\"object\",\"required\":[\"x\"]}", {"{\"x\":[1,{}]}"}, {"{}", "{\"y\":1}"}},
    {"{\"type\":\"object\"}", {"{}", "{\"any\":1,\"thing\":[true]}"}, {"[]", "{\"a\"}"}},
    {"{\"type\":\"object\",\"additionalProperties\":false}", {"{}"}, {"{\"a\":1}"}},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", {"{}", "{\"a\":1,\"b\":2}"}, {"{\"a\":\"x\"}"}},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", {"5", "\"a\""}, {"\"ab\"", "null"}},
    {"{\"oneOf\":[{\"const\":1},{\"const\":\"1\"}]}", {"1", "\"1\""}, {"2"}},
    {"{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/n\"}}}},\"$ref\":\"#/$defs/n\"}",
     {"{}", "{\"next\":{}}", "{\"next\":{\"next\":{}}}"},
     {"{\"next\":1}"}},
    {"{\"definitions\":{\"x\":{\"type\":\"boolean\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/x\"}}",
     {"[true,false]"}, {"[1]"}},
    {"{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}},\"title\":\"t\",\"description\":\"d\"}",
     {"{\"self\":{\"self\":{}}}"}, {"{\"self\":1}"}},
    {"{\"allOf\":[{\"type\":\"null\"}]}", {"null"}, {"1"}},
    {"true", {"1", "{\"a\":[]}", "\"s\""}, {"{"}},
    {"{}", {"null"}, {"nul"}},
};

static void test_schema_cases(void) {
    for (size_t i = 0; i < sizeof schema_cases / sizeof schema_cases[0]; i++) {
        const schema_case *c = &schema_cases[i];
        rwkv_grammar *g = NULL;
        rwkv_status st = rwkv_grammar_from_json_schema(c->schema, strlen(c->schema), 0, &g);
        CHECK(st == RWKV_OK, "schema %s: %s", c->schema, rwkv_last_error());
        if (st != RWKV_OK) continue;
        for (int k = 0; k < 10 && c->yes[k]; k++)
            CHECK(full_match(g, c->yes[k], strlen(c->yes[k]), 0) == 1, "schema %s should accept %s", c->schema,
                  c->yes[k]);
        for (int k = 0; k < 10 && c->no[k]; k++)
            CHECK(full_match(g, c->no[k], strlen(c->no[k]), 0) == 0, "schema %s should refuse %s", c->schema,
                  c->no[k]);
        rwkv_grammar_free(g);
    }
    /* compact: no whitespace anywhere */
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}},\"required\":[\"a\"]}";
    rwkv_grammar *g = NULL;
    if (rwkv_grammar_from_json_schema(s, strlen(s), RWKV_JSON_SCHEMA_COMPACT, &g) == RWKV_OK) {
        CHECK(full_match(g, "{\"a\":[1,2]}", 11, 0) == 1, "compact accepts compact JSON");
        CHECK(full_match(g, "{\"a\": [1,2]}", 12, 0) == 0, "compact refuses a space");
        rwkv_grammar_free(g);
    } else {
        CHECK(0, "compact schema: %s", rwkv_last_error());
    }
    /* the GBNF text is available and compiles */
    char *text = NULL;
    size_t len = 0;
    CHECK(rwkv_json_schema_to_gbnf(s, strlen(s), 0, &text, &len) == RWKV_OK && text &&
              strlen(text) == len && strstr(text, "root ::="),
          "GBNF text of a schema");
    rwkv_grammar_text_free(text);
}

typedef struct schema_bad {
    const char *schema;
    rwkv_status st;
    const char *what;
} schema_bad;

static const schema_bad schema_bads[] = {
    {"{\"type\":\"string\",\"pattern\":\"^a\"}", RWKV_ERR_UNSUPPORTED, "unsupported keyword 'pattern' (at /)"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x\"}}}", RWKV_ERR_UNSUPPORTED,
     "'pattern' (at /properties/a)"},
    {"{\"not\":{}}", RWKV_ERR_UNSUPPORTED, "unsupported keyword 'not'"},
    {"{\"if\":{},\"then\":{}}", RWKV_ERR_UNSUPPORTED, "unsupported keyword 'if'"},
    {"{\"allOf\":[{},{}]}", RWKV_ERR_UNSUPPORTED, "'allOf'"},
    {"{\"type\":\"string\",\"format\":\"uri\"}", RWKV_ERR_UNSUPPORTED, "format 'uri'"},
    {"{\"type\":\"array\",\"uniqueItems\":true}", RWKV_ERR_UNSUPPORTED, "uniqueItems"},
    {"{\"type\":\"array\",\"prefixItems\":[{}]}", RWKV_ERR_UNSUPPORTED, "prefixItems"},
    {"{\"type\":\"object\",\"minProperties\":1}", RWKV_ERR_UNSUPPORTED, "minProperties"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"additionalProperties\":true}", RWKV_ERR_UNSUPPORTED,
     "additionalProperties"},
    {"{\"$ref\":\"http://example.com/s.json\"}", RWKV_ERR_UNSUPPORTED, "only local references"},
    {"{\"$ref\":\"#/$defs/missing\"}", RWKV_ERR_FORMAT, "points to nothing"},
    {"{\"$ref\":\"#\"}", RWKV_ERR_UNSUPPORTED, "refers to itself"},
    {"{\"$ref\":\"#/$defs/a\",\"type\":\"string\"}", RWKV_ERR_UNSUPPORTED, "keywords next to '$ref'"},
    {"{\"type\":\"number\",\"minimum\":0.5}", RWKV_ERR_UNSUPPORTED, "integers"},
    {"{\"type\":\"number\",\"multipleOf\":2}", RWKV_ERR_UNSUPPORTED, "'multipleOf'"},
    {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", RWKV_ERR_UNSUPPORTED, "no integer"},
    {"{\"type\":\"string\",\"minLength\":5,\"maxLength\":4}", RWKV_ERR_UNSUPPORTED, "maxLength is below"},
    {"{\"type\":\"strin\"}", RWKV_ERR_FORMAT, "'type' must name JSON types"},
    {"{\"type\":\"string\",\"minLength\":-1}", RWKV_ERR_FORMAT, "minLength"},
    {"{\"enum\":[1,2],\"type\":\"string\"}", RWKV_ERR_UNSUPPORTED, "no value of 'enum'"},
    {"false", RWKV_ERR_UNSUPPORTED, "allows no value"},
    {"[1]", RWKV_ERR_FORMAT, "must be an object or a boolean"},
    {"{\"type\":\"string\",\"maxLength\":900000}", RWKV_ERR_RANGE, "'maxLength' above 100000"},
    {"{\"type\":", RWKV_ERR_FORMAT, "not valid JSON: 1:"},
    {"{\"a\":1,\"a\":2}", RWKV_ERR_FORMAT, "not valid JSON"},
    {"{\"nullable\":true}", RWKV_ERR_UNSUPPORTED, "'nullable'"},
};

static void test_schema_errors(void) {
    for (size_t i = 0; i < sizeof schema_bads / sizeof schema_bads[0]; i++) {
        const schema_bad *b = &schema_bads[i];
        rwkv_grammar *g = (rwkv_grammar *)1;
        rwkv_status st = rwkv_grammar_from_json_schema(b->schema, strlen(b->schema), 0, &g);
        CHECK(st == b->st && g == NULL, "schema %s: status %d, want %d (%s)", b->schema, st, b->st,
              rwkv_last_error());
        CHECK(strstr(rwkv_last_error(), b->what) != NULL, "schema %s: want '%s' in '%s'", b->schema, b->what,
              rwkv_last_error());
        if (st == RWKV_OK) rwkv_grammar_free(g);
    }
    /* deep nesting */
    char deep[4096];
    size_t k = 0;
    for (int i = 0; i < 100; i++) k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"items\":");
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{}");
    for (int i = 0; i < 100; i++) deep[k++] = '}';
    rwkv_grammar *g = NULL;
    CHECK(rwkv_grammar_from_json_schema(deep, k, 0, &g) == RWKV_ERR_RANGE && strstr(rwkv_last_error(), "deeper"),
          "deep schema refused: %s", rwkv_last_error());
    char *text = NULL;
    CHECK(rwkv_json_schema_to_gbnf("{}", 2, 99, &text, NULL) == RWKV_ERR_INVALID_ARG && !text, "unknown flags");
    /* a schema whose grammar exceeds the compiler's limits: 11 strings of up to 100000 */
    char big[1200] = "{\"type\":\"object\",\"properties\":{";
    for (int i = 0; i < 11; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"%c\":{\"type\":\"string\",\"maxLength\":100000}",
                 i ? "," : "", 'a' + i);
    strcat(big, "}}");
    CHECK(rwkv_grammar_from_json_schema(big, strlen(big), 0, &g) == RWKV_ERR_RANGE && !g &&
              strstr(rwkv_last_error(), "generated grammar failed: grammar too large"),
          "too large a grammar: %s", rwkv_last_error());
}

int main(void) {
    rwkv_tokenizer *bt = NULL;
    if (rwkv_tokenizer_new_bytes(&bt) != RWKV_OK || rwkv_token_trie_new(bt, -1, &byte_trie) != RWKV_OK) {
        CHECK(0, "byte trie: %s", rwkv_last_error());
        return test_summary("test_grammar");
    }
    rwkv_tokenizer_free(bt); /* the trie copied what it needs */
    test_constructs();
    test_errors();
    test_limits();
    test_api();
    test_world_masks();
    test_schema_cases();
    test_schema_errors();
    rwkv_token_trie_free(byte_trie);
    return test_summary("test_grammar");
}
