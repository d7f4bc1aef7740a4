/* test_grammar_gen.c — constrained generation with a random-weight model on the World
 * vocabulary (the hardest case: nothing but the mask keeps a random model in line). For each
 * grammar or JSON Schema, 200 generations at temperature 1 (seeds 1..200, batched with
 * rwkv_eval_batch) must finish, and every text must be accepted by an independent checker: a
 * hand-written one for the GBNF grammar, and for the schemas jansson's parser plus a small JSON
 * Schema validator written here (not the converter). */
#include "common/test.h"
#include "rwkv.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Generations per grammar: 200, or RWKV_TEST_GENERATIONS (1..200) where the whole run would be
 * too slow (tests/cross.sh under qemu: the x86 step runs all 200). */
static int N_GEN = 200;
#define MAX_STEPS 1000

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* Decodes the character at s (valid UTF-8 assumed, checked separately); *n = its length. */
static uint32_t dec(const unsigned char *s, size_t *n) {
    if (s[0] < 0x80) return *n = 1, s[0];
    if (s[0] < 0xE0) return *n = 2, (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    if (s[0] < 0xF0) return *n = 3, (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return *n = 4, (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
                   (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* Strict UTF-8 check (no overlongs, surrogates or values past U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!n || i + n > len) return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        size_t m;
        uint32_t cp = dec(s + i, &m);
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n;
    }
    return 1;
}

/* ---- the GBNF case: an independent checker --------------------------------------------- */

static const char *LINES_GBNF =
    "root ::= line (\"\\n\" line){0,2}\n"
    "line ::= word (\" \" word){0,3} \".\"\n"
    "word ::= [a-z]{1,6} | [\\u03B1-\\u03C9]{1,3} | \"\xe4\xb8\xad\xe6\x96\x87\" | [0-9]{1,4}\n";

/* One word of LINES_GBNF at s[0..n). */
static int word_ok(const unsigned char *s, size_t n) {
    if (n == 6 && memcmp(s, "\xe4\xb8\xad\xe6\x96\x87", 6) == 0) return 1;
    size_t k = 0, chars = 0, cl;
    int kind = -1; /* 0 latin, 1 greek, 2 digits */
    while (k < n) {
        uint32_t cp = dec(s + k, &cl);
        int t = cp >= 'a' && cp <= 'z' ? 0 : cp >= 0x3B1 && cp <= 0x3C9 ? 1 : cp >= '0' && cp <= '9' ? 2 : -1;
        if (t < 0 || (kind >= 0 && t != kind)) return 0;
        kind = t;
        k += cl;
        chars++;
    }
    static const size_t max_len[3] = {6, 3, 4};
    return kind >= 0 && chars >= 1 && chars <= max_len[kind];
}

static int lines_ok(const char *text, size_t len, char *why) {
    const unsigned char *s = (const unsigned char *)text;
    if (!utf8_ok(s, len)) return snprintf(why, 200, "invalid UTF-8"), 0;
    int lines = 0;
    size_t i = 0;
    for (;;) {
        size_t e = i;
        while (e < len && s[e] != '\n') e++;
        lines++;
        if (e == i || s[e - 1] != '.') return snprintf(why, 200, "line %d does not end with '.'", lines), 0;
        int words = 0;
        for (size_t w = i; w < e - 1;) {
            size_t we = w;
            while (we < e - 1 && s[we] != ' ') we++;
            if (!word_ok(s + w, we - w)) return snprintf(why, 200, "bad word in line %d", lines), 0;
            words++;
            w = we < e - 1 ? we + 1 : we;
            if (we < e - 1 && w == e - 1) return snprintf(why, 200, "space before '.'"), 0;
        }
        if (words < 1 || words > 4) return snprintf(why, 200, "%d words in line %d", words, lines), 0;
        if (e == len) break;
        i = e + 1;
    }
    if (lines > 3) return snprintf(why, 200, "%d lines", lines), 0;
    return 1;
}

/* ---- a small JSON Schema validator (independent of the converter) ----------------------- */

static int is_digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static int valid_date(const char *s, size_t n) {
    if (n != 10 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' || !is_digits(s + 8, 2))
        return 0;
    int y = num2(s) * 100 + num2(s + 2), m = num2(s + 5), d = num2(s + 8);
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

static int valid_time(const char *s, size_t n) {
    if (n < 9 || !is_digits(s, 2) || s[2] != ':' || !is_digits(s + 3, 2) || s[5] != ':' || !is_digits(s + 6, 2))
        return 0;
    if (num2(s) > 23 || num2(s + 3) > 59 || num2(s + 6) > 59) return 0;
    size_t i = 8;
    if (s[i] == '.') {
        size_t k = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == k) return 0;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == n;
    if (i + 6 != n || (s[i] != '+' && s[i] != '-') || !is_digits(s + i + 1, 2) || s[i + 3] != ':' ||
        !is_digits(s + i + 4, 2))
        return 0;
    return num2(s + i + 1) <= 23 && num2(s + i + 4) <= 59;
}

static int valid_uuid(const char *s, size_t n) {
    if (n != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        int hy = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (hy ? c != '-' : !hex) return 0;
    }
    return 1;
}

static int valid_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at || memchr(at + 1, '@', n - (size_t)(at + 1 - s))) return 0;
    size_t ln = (size_t)(at - s), dn = n - ln - 1;
    if (ln == 0 || s[0] == '.' || s[ln - 1] == '.') return 0;
    for (size_t i = 0; i < ln; i++) {
        char c = s[i];
        if (c == '.' && s[i + 1] == '.') return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(".!#$%&'*+/=?^_`{|}~-", c)))
            return 0;
    }
    int labels = 0;
    for (size_t i = 0; i <= dn;) {
        size_t e = i;
        while (e < dn && at[1 + e] != '.') e++;
        const char *lab = at + 1 + i;
        size_t k = e - i;
        if (k == 0 || k > 63 || lab[0] == '-' || lab[k - 1] == '-') return 0;
        for (size_t j = 0; j < k; j++) {
            char c = lab[j];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return 0;
        }
        labels++;
        i = e + 1;
    }
    return labels >= 2;
}

static size_t n_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int type_is(json_t *v, const char *t) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 0;
}

static double numval(json_t *v) { return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v); }

static int validate(json_t *root, json_t *s, json_t *v, char *why, int depth);

static json_t *follow_ref(json_t *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    json_t *node = root;
    for (const char *p = ref + 1; *p == '/';) {
        char seg[128];
        size_t k = 0;
        for (p++; *p && *p != '/' && k < sizeof seg - 1; p++) seg[k++] = *p;
        seg[k] = 0;
        node = json_object_get(node, seg);
        if (!node) return NULL;
    }
    return node;
}

#define BAD(...) return snprintf(why, 300, __VA_ARGS__), 0

static int validate(json_t *root, json_t *s, json_t *v, char *why, int depth) {
    if (depth > 100) BAD("schema recursion");
    if (json_is_true(s)) return 1;
    json_t *k;
    if ((k = json_object_get(s, "$ref"))) {
        json_t *t = follow_ref(root, json_string_value(k));
        if (!t) BAD("bad $ref");
        if (!validate(root, t, v, why, depth + 1)) return 0;
    }
    if ((k = json_object_get(s, "allOf")))
        for (size_t i = 0; i < json_array_size(k); i++)
            if (!validate(root, json_array_get(k, i), v, why, depth + 1)) return 0;
    if ((k = json_object_get(s, "anyOf"))) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++) ok = validate(root, json_array_get(k, i), v, why, depth + 1);
        if (!ok) BAD("no anyOf alternative matches");
    }
    if ((k = json_object_get(s, "oneOf"))) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(k); i++) n += validate(root, json_array_get(k, i), v, why, depth + 1);
        if (n != 1) BAD("%d oneOf alternatives match", n);
    }
    if ((k = json_object_get(s, "type"))) {
        int ok = 0;
        if (json_is_string(k)) ok = type_is(v, json_string_value(k));
        for (size_t i = 0; json_is_array(k) && i < json_array_size(k) && !ok; i++)
            ok = type_is(v, json_string_value(json_array_get(k, i)));
        if (!ok) BAD("wrong type");
    }
    if ((k = json_object_get(s, "enum"))) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++) ok = json_equal(json_array_get(k, i), v);
        if (!ok) BAD("not in enum");
    }
    if ((k = json_object_get(s, "const")) && !json_equal(k, v)) BAD("not the const");
    if (json_is_string(v)) {
        const char *str = json_string_value(v);
        size_t n = json_string_length(v), nc = n_chars(str, n);
        if ((k = json_object_get(s, "minLength")) && nc < (size_t)json_integer_value(k)) BAD("shorter than minLength");
        if ((k = json_object_get(s, "maxLength")) && nc > (size_t)json_integer_value(k)) BAD("longer than maxLength");
        if ((k = json_object_get(s, "format"))) {
            const char *f = json_string_value(k);
            int ok = !strcmp(f, "date") ? valid_date(str, n)
                     : !strcmp(f, "time") ? valid_time(str, n)
                     : !strcmp(f, "date-time") ? n > 11 && str[10] == 'T' && valid_date(str, 10) && valid_time(str + 11, n - 11)
                     : !strcmp(f, "uuid") ? valid_uuid(str, n)
                     : !strcmp(f, "email") ? valid_email(str, n) : 0;
            if (!ok) BAD("not a %s: '%s'", f, str);
        }
    }
    if (json_is_number(v)) {
        double x = numval(v);
        if ((k = json_object_get(s, "minimum")) && x < numval(k)) BAD("below minimum");
        if ((k = json_object_get(s, "maximum")) && x > numval(k)) BAD("above maximum");
        if ((k = json_object_get(s, "exclusiveMinimum")) && x <= numval(k)) BAD("not above exclusiveMinimum");
        if ((k = json_object_get(s, "exclusiveMaximum")) && x >= numval(k)) BAD("not below exclusiveMaximum");
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((k = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(k)) BAD("fewer than minItems");
        if ((k = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(k)) BAD("more than maxItems");
        if ((k = json_object_get(s, "items")))
            for (size_t i = 0; i < n; i++)
                if (!validate(root, k, json_array_get(v, i), why, depth + 1)) return 0;
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
        if ((k = json_object_get(s, "required")))
            for (size_t i = 0; i < json_array_size(k); i++)
                if (!json_object_get(v, json_string_value(json_array_get(k, i))))
                    BAD("missing required '%s'", json_string_value(json_array_get(k, i)));
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            json_t *ps = props ? json_object_get(props, key) : NULL;
            if (ps) {
                if (!validate(root, ps, val, why, depth + 1)) return 0;
            } else if (addl && json_is_false(addl)) {
                BAD("additional property '%s'", key);
            } else if (addl && json_is_object(addl) && !validate(root, addl, val, why, depth + 1)) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---- the cases ------------------------------------------------------------------------- */

typedef struct gen_case {
    const char *name;
    const char *gbnf;   /* or */
    const char *schema;
    unsigned flags;
} gen_case;

static const gen_case cases[] = {
    {"gbnf-lines", NULL, NULL, 0}, /* LINES_GBNF */
    {"schema-record", NULL,
     "{\"type\":\"object\",\"properties\":{"
     "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
     "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":6},"
     "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},"
     "\"score\":{\"type\":\"number\",\"minimum\":-1,\"maximum\":1},"
     "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\",7,null]},\"minItems\":1,\"maxItems\":3},"
     "\"active\":{\"type\":\"boolean\"},"
     "\"nick\":{\"type\":[\"string\",\"null\"],\"maxLength\":3}},"
     "\"required\":[\"id\",\"name\",\"age\",\"tags\"],\"additionalProperties\":false}",
     RWKV_JSON_SCHEMA_COMPACT},
    {"schema-tool-call", NULL,
     "{\"$defs\":{"
     "\"circle\":{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},"
     "\"r\":{\"type\":\"number\",\"exclusiveMinimum\":0,\"maximum\":100}},\"required\":[\"kind\",\"r\"]},"
     "\"rect\":{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"rect\"},"
     "\"w\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":999},\"h\":{\"type\":\"integer\",\"minimum\":-50,\"exclusiveMaximum\":50}},"
     "\"required\":[\"kind\",\"w\",\"h\"]}},"
     "\"type\":\"object\",\"properties\":{"
     "\"name\":{\"enum\":[\"draw\",\"erase\"]},"
     "\"shapes\":{\"type\":\"array\",\"items\":{\"oneOf\":[{\"$ref\":\"#/$defs/circle\"},{\"$ref\":\"#/$defs/rect\"}]},"
     "\"minItems\":1,\"maxItems\":2},"
     "\"when\":{\"type\":\"string\",\"format\":\"time\"},"
     "\"note\":{\"anyOf\":[{\"type\":\"string\",\"maxLength\":4},{\"type\":\"integer\",\"maximum\":-1000}]}},"
     "\"required\":[\"name\",\"shapes\"]}",
     RWKV_JSON_SCHEMA_COMPACT},
    {"schema-formats", NULL, /* with the default whitespace */
     "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"format\":\"email\"},"
     "{\"type\":\"string\",\"format\":\"date-time\"}]},\"minItems\":1,\"maxItems\":1}",
     0},
};

typedef struct seq {
    rwkv_state *state;
    rwkv_sampler *sampler;
    rwkv_grammar_matcher *m;
    char *out;
    size_t len, cap;
    int done;   /* 1 ended by the grammar */
    int failed; /* a library call failed */
    char err[300];
} seq;

static void run_case(rwkv_model *model, const rwkv_tokenizer *tok, const rwkv_token_trie *trie,
                     const gen_case *gc) {
    rwkv_grammar *g = NULL;
    rwkv_status st = gc->schema
                         ? rwkv_grammar_from_json_schema(gc->schema, strlen(gc->schema), gc->flags, &g)
                         : rwkv_grammar_parse(LINES_GBNF, strlen(LINES_GBNF), &g);
    CHECK(st == RWKV_OK, "%s: grammar: %s", gc->name, rwkv_last_error());
    if (st != RWKV_OK) return;
    json_t *schema = NULL;
    if (gc->schema) {
        json_error_t je;
        schema = json_loads(gc->schema, 0, &je);
        CHECK(schema != NULL, "%s: the test's schema does not parse", gc->name);
    }
    rwkv_model_info info;
    rwkv_model_get_info(model, &info);
    size_t nv = (size_t)info.n_vocab;
    rwkv_grammar_matcher *root = NULL;
    seq *sq = calloc(N_GEN, sizeof *sq);
    float *logits = malloc(N_GEN * nv * sizeof *logits);
    rwkv_state **bstates = calloc(N_GEN, sizeof *bstates);
    int32_t *btok = calloc(N_GEN, sizeof *btok);
    int *active = calloc(N_GEN, sizeof *active);
    if (!sq || !logits || !bstates || !btok || !active ||
        rwkv_grammar_matcher_new(g, trie, &root) != RWKV_OK) {
        CHECK(0, "%s: setup: %s", gc->name, rwkv_last_error());
        goto out;
    }
    /* prompt once, then copies */
    rwkv_state *p = NULL;
    int32_t prompt[16];
    size_t np = 0;
    rwkv_tokenizer_encode(tok, "Answer:", 7, prompt, &np);
    if (rwkv_state_new(model, &p) != RWKV_OK || rwkv_eval(model, p, prompt, np, logits, 0) != RWKV_OK) {
        CHECK(0, "%s: prompt: %s", gc->name, rwkv_last_error());
        rwkv_state_free(p);
        goto out;
    }
    rwkv_sampler_params sp;
    rwkv_sampler_params_default(&sp); /* temperature 1, top_p 1, top_k 0 */
    int n_active = 0;
    for (int i = 0; i < N_GEN; i++) {
        sp.seed = (uint64_t)i + 1;
        if (rwkv_state_clone(p, &sq[i].state) != RWKV_OK || rwkv_sampler_new(&sp, (int)nv, tok, &sq[i].sampler) != RWKV_OK ||
            rwkv_grammar_matcher_clone(root, &sq[i].m) != RWKV_OK) {
            CHECK(0, "%s: sequence %d: %s", gc->name, i, rwkv_last_error());
            rwkv_state_free(p);
            goto out;
        }
        if (i) memcpy(logits + (size_t)i * nv, logits, nv * sizeof *logits);
        active[n_active++] = i;
    }
    rwkv_state_free(p);
    int steps = 0;
    size_t n_tokens = 0;
    while (n_active > 0 && steps < MAX_STEPS) {
        int n_next = 0;
        for (int j = 0; j < n_active; j++) {
            seq *s = &sq[active[j]];
            float *lg = logits + (size_t)j * nv;
            int32_t t = -2;
            st = rwkv_grammar_sample(s->m, s->sampler, lg, (int)nv, &t);
            if (st != RWKV_OK) {
                s->failed = 1;
                snprintf(s->err, sizeof s->err, "sample: %s", rwkv_last_error());
                continue;
            }
            if (t <= 0) { /* end of text (or must end without an end token) */
                s->done = 1;
                continue;
            }
            size_t tl = 0;
            const char *tb = rwkv_tokenizer_token(tok, t, &tl);
            if (s->len + tl + 1 > s->cap) {
                s->cap = (s->len + tl + 1) * 2;
                s->out = realloc(s->out, s->cap);
            }
            memcpy(s->out + s->len, tb, tl);
            s->len += tl;
            if (rwkv_grammar_matcher_end(s->m) == RWKV_GRAMMAR_MUST_END) {
                s->done = 1;
                continue;
            }
            bstates[n_next] = s->state;
            btok[n_next] = t;
            active[n_next++] = active[j];
        }
        n_active = n_next; /* the batch's logits come back in this order */
        n_tokens += (size_t)n_active;
        if (n_active && rwkv_eval_batch(model, bstates, btok, (size_t)n_active, logits) != RWKV_OK) {
            CHECK(0, "%s: eval: %s", gc->name, rwkv_last_error());
            goto out;
        }
        steps++;
    }
    int finished = 0, valid = 0, failed = 0;
    size_t total_len = 0, max_len = 0;
    for (int i = 0; i < N_GEN; i++) {
        seq *s = &sq[i];
        total_len += s->len;
        if (s->len > max_len) max_len = s->len;
        if (s->failed) {
            if (failed++ < 3) fprintf(stderr, "%s: generation %d failed: %s\n", gc->name, i, s->err);
            continue;
        }
        if (!s->done) continue;
        finished++;
        char why[300] = "";
        int ok;
        if (schema) {
            json_error_t je;
            json_t *v = json_loadb(s->out ? s->out : "", s->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            ok = v != NULL;
            if (!ok) snprintf(why, sizeof why, "JSON: %s", je.text);
            if (ok) ok = validate(schema, schema, v, why, 0);
            json_decref(v);
        } else {
            ok = lines_ok(s->out ? s->out : "", s->len, why);
        }
        valid += ok;
        if (!ok && valid + 3 > finished)
            fprintf(stderr, "%s: generation %d is invalid (%s): %.*s\n", gc->name, i, why, (int)s->len, s->out);
    }
    CHECK(failed == 0, "%s: %d generations failed in the library", gc->name, failed);
    CHECK(finished == N_GEN, "%s: %d of %d generations finished within %d tokens", gc->name, finished, N_GEN,
          MAX_STEPS);
    CHECK(valid == finished, "%s: %d of %d texts are valid", gc->name, valid, finished);
    printf("%s: %d generations, %d valid, %d steps, %zu tokens, mean %.1f bytes, max %zu\n", gc->name, N_GEN,
           valid, steps, n_tokens, (double)total_len / N_GEN, max_len);
    if (N_GEN > 0 && sq[0].out) printf("  e.g. %.*s\n", (int)(sq[0].len < 300 ? sq[0].len : 300), sq[0].out);
out:
    for (int i = 0; sq && i < N_GEN; i++) {
        rwkv_state_free(sq[i].state);
        rwkv_sampler_free(sq[i].sampler);
        rwkv_grammar_matcher_free(sq[i].m);
        free(sq[i].out);
    }
    free(sq);
    free(logits);
    free(bstates);
    free(btok);
    free(active);
    rwkv_grammar_matcher_free(root);
    rwkv_grammar_free(g);
    json_decref(schema);
}

int main(void) {
    const char *ng = getenv("RWKV_TEST_GENERATIONS");
    if (ng) {
        char *end;
        const long v = strtol(ng, &end, 10);
        if (*ng == '\0' || *end != '\0' || v < 1 || v > 200) {
            CHECK(0, "RWKV_TEST_GENERATIONS='%s' is not a number in 1..200", ng);
            return test_summary("test_grammar_gen");
        }
        N_GEN = (int)v;
        printf("%d generations per grammar (RWKV_TEST_GENERATIONS; 200 without it)\n", N_GEN);
    }
    if (!test_require_shared()) return test_summary("test_grammar_gen");
    char dir[] = "/tmp/rwkv_grammar_gen_XXXXXX", path[64];
    rwkv_tokenizer *tok = NULL;
    rwkv_token_trie *trie = NULL;
    rwkv_model *model = NULL;
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return test_summary("test_grammar_gen");
    }
    snprintf(path, sizeof path, "%s/m.pth", dir);
    /* the same file as `rwkv init --shape L2C64 --vocab 65536 --seed 3` */
    CHECK(rwkv_model_init_random("L2C64", "fp16", 3, 65536, path) == RWKV_OK, "init: %s", rwkv_last_error());
    rwkv_model_params mp;
    rwkv_model_params_default(&mp);
    mp.n_threads = 1; /* the head of 200 sequences is the work; no pool to spin on a shared machine */
    CHECK(rwkv_model_load(path, &mp, &model) == RWKV_OK, "load: %s", rwkv_last_error());
    CHECK(rwkv_tokenizer_load(test_shared("data/rwkv_vocab_v20230424.txt"), &tok) == RWKV_OK, "vocab: %s",
          rwkv_last_error());
    CHECK(tok && rwkv_token_trie_new(tok, 0, &trie) == RWKV_OK, "trie: %s", rwkv_last_error());
    for (size_t i = 0; model && trie && i < sizeof cases / sizeof cases[0]; i++) run_case(model, tok, trie, &cases[i]);
    rwkv_token_trie_free(trie);
    rwkv_tokenizer_free(tok);
    rwkv_model_free(model);
    unlink(path);
    rmdir(dir);
    return test_summary("test_grammar_gen");
}
