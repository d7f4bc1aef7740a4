/* test_grammar_cli.c — `rwkv generate` and `rwkv chat` with --grammar / --json-schema, run as
 * the built program on a random-weight World-vocabulary model: the outputs follow the grammar
 * (JSON parsed with jansson and checked), and bad grammars, schemas and option combinations give
 * one error line and the right exit status. */
#include "common/test.h"
#include "rwkv.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static const char *vocab;

/* Runs `rwkv args... <stdin_path` (NULL-terminated args) into *r. */
static void run_rwkv(test_run_result *r, const char *stdin_path, ...) {
    va_list ap;
    va_start(ap, stdin_path);
    test_run_rwkv_v(r, tmpdir, NULL, stdin_path, ap);
    va_end(ap);
}

/* Writes content to a file of the temporary directory; its path (one buffer per call: at most
 * 16 calls). */
static const char *tmp_file(const char *name, const char *content) {
    static char path[16][128];
    static int slot;
    char *p = path[slot++ & 15];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    return p;
}

/* One "rwkv: error: ..." line containing what, and exit status rc. */
static void check_error(const test_run_result *r, int rc, const char *what, const char *label) {
    CHECK(r->rc == rc, "%s: exit %d, want %d (stderr: %s)", label, r->rc, rc, r->err);
    CHECK(strncmp(r->err, "rwkv: error: ", 13) == 0 && strchr(r->err, '\n') == r->err + r->err_len - 1,
          "%s: one error line: '%s'", label, r->err);
    CHECK(strstr(r->err, what) != NULL, "%s: want '%s' in '%s'", label, what, r->err);
}

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
    "\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},\"ok\":{\"type\":\"boolean\"}},"
    "\"required\":[\"name\",\"n\"]}";

/* The output of SCHEMA: JSON with name (<= 8 characters) and n in [0, 9]. */
static int schema_ok(const char *text, size_t len, char *why) {
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &je);
    if (!v) return snprintf(why, 200, "not JSON: %s", je.text), 0;
    json_t *name = json_object_get(v, "name"), *n = json_object_get(v, "n"), *ok = json_object_get(v, "ok");
    size_t chars = 0;
    for (const char *p = json_string_value(name); p && *p; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
    int good = json_is_string(name) && chars <= 8 && json_is_integer(n) && json_integer_value(n) >= 0 &&
               json_integer_value(n) <= 9 && (!ok || json_is_boolean(ok)) && json_object_size(v) == 2u + (ok != NULL);
    if (!good) snprintf(why, 200, "does not match the schema");
    json_decref(v);
    return good;
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_grammar_cli");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv_grammar_cli_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_summary("test_grammar_cli");
    }
    vocab = test_shared("data/rwkv_vocab_v20230424.txt");
    char model[128];
    snprintf(model, sizeof model, "%s/m.pth", tmpdir);
    CHECK(rwkv_model_init_random("L1C64", "fp16", 5, 65536, model) == RWKV_OK, "init: %s", rwkv_last_error());
    test_run_result r = {0};

    /* generate --json-schema TEXT, several seeds */
    for (int seed = 1; seed <= 4; seed++) {
        char s[16], why[200] = "";
        snprintf(s, sizeof s, "%d", seed);
        run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "JSON:", "-n", "400", "--seed", s,
                 "-q", "--json-schema", SCHEMA, NULL);
        CHECK(r.rc == 0, "generate --json-schema seed %d: exit %d: %s", seed, r.rc, r.err);
        CHECK(schema_ok(r.out, r.out_len, why), "seed %d: %s: '%s'", seed, why, r.out);
        test_result_free(&r);
    }
    /* --json-schema FILE, compact output not required: any whitespace the schema allows */
    const char *schema_file = tmp_file("schema.json", SCHEMA);
    run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", "-n", "400", "--seed", "9", "-q",
             "--json-schema", schema_file, NULL);
    char why[200] = "";
    CHECK(r.rc == 0 && schema_ok(r.out, r.out_len, why), "--json-schema FILE: exit %d %s: '%s' %s", r.rc, why,
          r.out, r.err);
    test_result_free(&r);

    /* --grammar FILE: exactly the grammar's texts; generation stops when nothing may follow */
    const char *gbnf = tmp_file("g.gbnf", "# three letters and a bang\nroot ::= [a-c]{3} \"!\"\n");
    for (int seed = 1; seed <= 3; seed++) {
        char s[16];
        snprintf(s, sizeof s, "%d", seed);
        run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", "-n", "100", "--seed", s,
                 "--grammar", gbnf, NULL);
        int ok = r.rc == 0 && r.out_len == 4 && r.out[3] == '!';
        for (int i = 0; ok && i < 3; i++) ok = r.out[i] >= 'a' && r.out[i] <= 'c';
        CHECK(ok, "--grammar seed %d: exit %d, '%s' (%s)", seed, r.rc, r.out, r.err);
        CHECK(strstr(r.err, "stopped: grammar") != NULL, "the summary names the grammar: %s", r.err);
        test_result_free(&r);
    }
    /* -n smaller than the grammar needs: the text is cut, no error */
    run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", "-n", "1", "--seed", "1", "-q",
             "--grammar", gbnf, NULL);
    CHECK(r.rc == 0 && r.out_len >= 1 && r.out_len < 4, "-n 1: exit %d, '%s'", r.rc, r.out);
    test_result_free(&r);
    /* --state-out with a grammar that ends: the last token is fed and the state saved */
    char state_out[128];
    snprintf(state_out, sizeof state_out, "%s/out.state", tmpdir);
    run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", "-n", "100", "--seed", "2", "-q",
             "--grammar", gbnf, "--state-out", state_out, NULL);
    CHECK(r.rc == 0 && access(state_out, F_OK) == 0, "--state-out with --grammar: exit %d %s", r.rc, r.err);
    test_result_free(&r);

    /* errors: one line, the exit status, what went wrong */
    const struct {
        const char *opt, *arg;
        int rc;
        const char *what;
    } errors[] = {
        {"--grammar", tmp_file("bad.gbnf", "root ::= (\"a\"\n"), 2,
         "grammar 2:1: expected ')' to close the '(' at 1:10"},
        {"--grammar", tmp_file("undef.gbnf", "root ::= word\n"), 2, "undefined rule 'word'"},
        {"--json-schema", "{\"type\":\"string\",\"pattern\":\"^a\"}", 2, "unsupported keyword 'pattern'"},
        {"--json-schema", "{\"type\":", 2, "not valid JSON"},
        {"--json-schema", "/nonexistent/none.json", 1, "JSON schema file"},
        {"--grammar", "/nonexistent.gbnf", 1, "grammar file"},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", errors[i].opt, errors[i].arg, NULL);
        check_error(&r, errors[i].rc, errors[i].what, errors[i].arg);
        test_result_free(&r);
    }
    run_rwkv(&r, NULL, "generate", "-m", model, "--vocab", vocab, "-p", "x", "--grammar", gbnf, "--json-schema", "{}",
             NULL);
    check_error(&r, 2, "at most one of --grammar, --json-schema", "both options");
    test_result_free(&r);

    /* chat: every reply follows the grammar */
    const char *input = tmp_file("input.txt", "hello\nhow are you\nbye\n");
    run_rwkv(&r, input, "chat", "-m", model, "--vocab", vocab, "--seed", "4", "--json-schema",
             "{\"enum\":[\"yes\",\"no\",42]}", NULL);
    CHECK(r.rc == 0, "chat --json-schema: exit %d: %s", r.rc, r.err);
    int lines = 0, good = 1;
    for (char *save = NULL, *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        good &= !strcmp(line, "\"yes\"") || !strcmp(line, "\"no\"") || !strcmp(line, "42");
    }
    CHECK(lines == 3 && good, "chat: 3 replies from the enum, got %d lines: '%s'", lines, r.out);
    test_result_free(&r);
    run_rwkv(&r, tmp_file("in.jsonl", "{\"content\":\"hi\"}\n"), "chat", "-m", model, "--vocab", vocab, "--seed", "3",
             "--jsonl", "--grammar", gbnf, NULL);
    json_error_t je;
    json_t *reply = json_loadb(r.out, r.out_len, JSON_DISABLE_EOF_CHECK, &je);
    const char *content = json_string_value(json_object_get(reply, "content"));
    const char *finish = json_string_value(json_object_get(reply, "finish_reason"));
    CHECK(r.rc == 0 && content && strlen(content) == 4 && content[3] == '!' && finish && !strcmp(finish, "grammar"),
          "chat --jsonl: the reply follows the grammar, finish_reason grammar: %d '%s' %s", r.rc, r.out, r.err);
    json_decref(reply);
    test_result_free(&r);
    run_rwkv(&r, input, "chat", "-m", model, "--vocab", vocab, "--think", "--grammar", gbnf, NULL);
    check_error(&r, 2, "not with --think or --no-think", "chat --think");
    test_result_free(&r);
    const char *think_input = tmp_file("think.txt", "/think on\nhi\n");
    run_rwkv(&r, think_input, "chat", "-m", model, "--vocab", vocab, "--seed", "1", "--grammar", gbnf, NULL);
    CHECK(r.rc == 0 && strstr(r.err, "/think on: not with --grammar") && r.out_len == 5,
          "chat: /think on refused with a grammar, the reply still follows it: %d '%s' '%s'", r.rc, r.out, r.err);
    test_result_free(&r);

    test_remove_dir(tmpdir);
    return test_summary("test_grammar_cli");
}
