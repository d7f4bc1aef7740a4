/* test_chat.c — drives `rwkv chat` ($BUILD/rwkv) on the tiny byte-level RWKV-7 model.
 *
 * Pipe mode (stdin is a file) with --verbose: every turn prints one line on stderr,
 *   "rwkv: turn N: prompt P tokens, reply R tokens (end: E), separator S tokens, state T tokens,
 *    shown B bytes, X tok/s"
 * With the byte tokenizer a token is a byte, so P must equal the length of
 * "User: MSG\n\nAssistant:" (+ the thinking suffix) for the cleaned message alone — the history is
 * never fed again — and T must grow by exactly P + R + S per turn. B splits stdout into replies.
 * Then: /save + a fresh `rwkv chat --state` continues identically (and the state files written at
 * the same point are byte-identical), /reset, /set, /think, bad /load, state tuning, and the
 * terminal mode through a pseudo-terminal (Ctrl-C stops a reply, Ctrl-D quits). */
#include "common/test.h"
#include "rwkv.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static const char *model_path;

/* Runs `rwkv chat -m MODEL -v ARGS... < input` (NULL-terminated args). */
static void run_chat(test_run_result *r, const char *input, ...) {
    static char cmd[8192];
    char in_path[512], out_path[512], err_path[512];
    snprintf(in_path, sizeof in_path, "%s/stdin", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
    FILE *f = fopen(in_path, "wb");
    if (f) {
        fputs(input, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "unset RWKV_VOCAB;");
    test_shell_quote(cmd, sizeof cmd, test_rwkv_bin());
    test_shell_quote(cmd, sizeof cmd, "chat");
    test_shell_quote(cmd, sizeof cmd, "-m");
    test_shell_quote(cmd, sizeof cmd, model_path);
    test_shell_quote(cmd, sizeof cmd, "-v");
    test_shell_quote(cmd, sizeof cmd, "--threads=1");
    va_list ap;
    va_start(ap, input);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) test_shell_quote(cmd, sizeof cmd, a);
    va_end(ap);
    size_t n = strlen(cmd);
    snprintf(cmd + n, sizeof cmd - n, " <'%s' >'%s' 2>'%s'", in_path, out_path, err_path);
    test_system_capture(cmd, out_path, err_path, r);
}

/* One "rwkv: turn" line. */
typedef struct turn_info {
    int turn;
    size_t prompt, reply, sep, shown;
    unsigned long long state;
    char end[32];
} turn_info;

/* Parses every turn line of stderr into t (up to max); returns how many. */
static int parse_turns(const char *err, turn_info *t, int max) {
    int n = 0;
    for (const char *p = err; (p = strstr(p, "rwkv: turn ")) != NULL && n < max; p++) {
        turn_info *x = &t[n];
        if (sscanf(p, "rwkv: turn %d: prompt %zu tokens, reply %zu tokens (end: %31[^)]), separator "
                      "%zu tokens, state %llu tokens, shown %zu bytes",
                   &x->turn, &x->prompt, &x->reply, x->end, &x->sep, &x->state, &x->shown) == 7)
            n++;
    }
    return n;
}

/* Splits the start of out (from *pos) into the next reply: shown bytes then "\n". Copies it into
 * buf (cap bytes, NUL-terminated); returns 0, or -1 if out does not have it. */
static int take_reply(const test_run_result *r, size_t *pos, size_t shown, char *buf, size_t cap) {
    if (*pos + shown + 1 > r->out_len || r->out[*pos + shown] != '\n' || shown + 1 > cap) return -1;
    memcpy(buf, r->out + *pos, shown);
    buf[shown] = '\0';
    *pos += shown + 1;
    return 0;
}

/* Checks the per-turn accounting of a run: prompts[i] is the exact text fed for turn i (after
 * cleaning and templating), start the state's token count before the first turn. */
static void check_accounting(const char *label, const test_run_result *r, const char *const *prompts,
                             int n_turns, unsigned long long start, int max_tokens, int raw_ok) {
    turn_info t[64];
    int n = parse_turns(r->err, t, 64);
    CHECK(n == n_turns, "%s: %d turn lines, expected %d; stderr: %s", label, n, n_turns, r->err);
    unsigned long long state = start;
    size_t pos = 0;
    int ok_prompt = 1, ok_state = 1, ok_sep = 1, ok_reply = 1, ok_len = 1;
    for (int i = 0; i < n && i < n_turns; i++) {
        if (t[i].prompt != strlen(prompts[i])) {
            ok_prompt = 0;
            fprintf(stderr, "%s turn %d: prompt %zu tokens, expected %zu\n", label, i + 1,
                    t[i].prompt, strlen(prompts[i]));
        }
        state += t[i].prompt + t[i].reply + t[i].sep;
        if (t[i].state != state) ok_state = 0;
        int stop = !strcmp(t[i].end, "\\n\\n");
        if ((stop && t[i].sep != 0) || (!stop && t[i].sep != 2)) ok_sep = 0;
        if ((int)t[i].reply > max_tokens) ok_len = 0;
        char buf[65536];
        if (take_reply(r, &pos, t[i].shown, buf, sizeof buf) != 0) {
            ok_reply = 0;
        } else if (strstr(buf, "\n\n") || (t[i].shown && buf[t[i].shown - 1] == '\n')) {
            ok_reply = 0;
        }
    }
    CHECK(ok_prompt, "%s: each turn feeds only its own message and template", label);
    CHECK(ok_state, "%s: the state grows by prompt + reply + separator per turn", label);
    CHECK(ok_sep, "%s: \"\\n\\n\" fed by the program exactly when the reply did not end with it", label);
    CHECK(ok_len, "%s: replies within -n", label);
    CHECK(ok_reply, "%s: stdout is the replies, none containing \"\\n\\n\"", label);
    CHECK(pos == r->out_len, "%s: stdout holds the replies and nothing else (%zu of %zu bytes)", label, pos,
          r->out_len);
    /* (a sampled reply may itself contain any byte, ESC included) */
    if (!raw_ok)
        CHECK(memchr(r->out, '\033', r->out_len) == NULL, "%s: no escape codes in pipe mode", label);
}

/* "User: MSG\n\nAssistant:SUFFIX" into a static slot. */
static const char *turn_text(const char *msg, const char *suffix) {
    static char buf[16][512];
    static int slot;
    char *b = buf[slot++ & 15];
    snprintf(b, sizeof buf[0], "User: %s\n\nAssistant:%s", msg, suffix);
    return b;
}

static void test_accounting(void) {
    test_run_result r;
    run_chat(&r, "Hello there\n   spaced   message  \t\ntab\there\n\nA question?\n/stats\n", "--system",
             "  Be brief.  ", "--temperature", "0", "-n", "40", NULL);
    CHECK(r.rc == 0, "rc %d: %s", r.rc, r.err);
    size_t sys_tokens = 0;
    const char *s = strstr(r.err, "rwkv: system prompt: ");
    CHECK(s && sscanf(s, "rwkv: system prompt: %zu", &sys_tokens) == 1 &&
          sys_tokens == strlen("System: Be brief.\n\n"), "system prompt fed once, cleaned (%zu)",
          sys_tokens);
    const char *prompts[] = {turn_text("Hello there", ""), turn_text("spaced   message", ""),
                             turn_text("tab\there", ""), turn_text("A question?", "")};
    check_accounting("accounting", &r, prompts, 4, sys_tokens, 40, 0);
    turn_info t[8];
    int n = parse_turns(r.err, t, 8);
    char want[64];
    snprintf(want, sizeof want, "tokens: %llu,", n == 4 ? t[3].state : 0ull);
    CHECK(strstr(r.err, want) != NULL, "/stats reports the state's tokens on stderr (%s)", want);
    CHECK(strstr(r.err, "state: 202752 bytes") != NULL, "/stats reports the state size");
    CHECK(strstr(r.err, "rss: ") != NULL, "/stats reports memory");
    test_result_free(&r);

    /* Sampling at a high temperature: some replies end by token 0, by length or by "\n\n". */
    run_chat(&r, "Hello there\nHow are you?\nWhat is your name?\nTell me a story.\nWhy?\n"
                 "The cat sat on the mat.\nOnce upon a time\nA\n",
             "--temperature", "1.5", "--top-p", "1", "--seed", "7", "-n", "400", NULL);
    CHECK(r.rc == 0, "rc %d", r.rc);
    const char *p2[] = {turn_text("Hello there", ""), turn_text("How are you?", ""),
                        turn_text("What is your name?", ""), turn_text("Tell me a story.", ""),
                        turn_text("Why?", ""), turn_text("The cat sat on the mat.", ""),
                        turn_text("Once upon a time", ""), turn_text("A", "")};
    check_accounting("sampled", &r, p2, 8, 0, 400, 1);
    n = parse_turns(r.err, t, 8);
    int stops = 0;
    for (int i = 0; i < n; i++) stops += !strcmp(t[i].end, "\\n\\n");
    fprintf(stderr, "note: %d of %d sampled replies ended with \"\\n\\n\"\n", stops, n);
    test_result_free(&r);
}

/* Reads a whole file for comparison. */
static char *slurp(const char *path, size_t *len) {
    char *d = test_read_file(path, len);
    if (!d) *len = 0;
    return d;
}

static void test_resume(void) {
    char fa[512], fb[512], fc[512];
    snprintf(fa, sizeof fa, "%s/a.state", tmpdir);
    snprintf(fb, sizeof fb, "%s/b.state", tmpdir);
    snprintf(fc, sizeof fc, "%s/c.state", tmpdir);
    const char *m[] = {"Hello there", "How are you?", "What is your name?", "Tell me a story."};
    char in_a[1024], in_b[1024], in_c[1024];
    snprintf(in_a, sizeof in_a, "%s\n%s\n%s\n%s\n/save %s\n", m[0], m[1], m[2], m[3], fa);
    snprintf(in_b, sizeof in_b, "%s\n%s\n/save %s\n", m[0], m[1], fb);
    snprintf(in_c, sizeof in_c, "%s\n%s\n/save %s\n", m[2], m[3], fc);
    test_run_result a, b, c;
    run_chat(&a, in_a, "--temperature", "0", "-n", "30", NULL);
    run_chat(&b, in_b, "--temperature", "0", "-n", "30", NULL);
    run_chat(&c, in_c, "--temperature", "0", "-n", "30", "--state", fb, NULL);
    CHECK(a.rc == 0 && b.rc == 0 && c.rc == 0, "rc %d %d %d: %s", a.rc, b.rc, c.rc, c.err);
    CHECK(strstr(b.err, "rwkv: saved ") && strstr(b.err, "2 turns"), "/save reports: %s", b.err);
    CHECK(strstr(c.err, "loaded ") && strstr(c.err, "2 turns"), "--state reports the turns: %s", c.err);
    turn_info ta[8], tc[8];
    int na = parse_turns(a.err, ta, 8), nc = parse_turns(c.err, tc, 8);
    CHECK(na == 4 && nc == 2, "turns %d %d", na, nc);
    if (na == 4 && nc == 2) {
        size_t pa = 0, pc = 0;
        char ra[4][4096], rc2[2][4096];
        int ok = 1;
        for (int i = 0; i < 4; i++) ok &= take_reply(&a, &pa, ta[i].shown, ra[i], sizeof ra[i]) == 0;
        for (int i = 0; i < 2; i++) ok &= take_reply(&c, &pc, tc[i].shown, rc2[i], sizeof rc2[i]) == 0;
        CHECK(ok, "replies split");
        CHECK(ok && !strcmp(ra[2], rc2[0]) && !strcmp(ra[3], rc2[1]),
              "the resumed session replies exactly like the uninterrupted one");
        CHECK(tc[0].state == ta[2].state && tc[1].state == ta[3].state, "same token counts");
    }
    size_t la, lc;
    char *da = slurp(fa, &la), *dc = slurp(fc, &lc);
    CHECK(da && dc && la == lc && la > 0 && !memcmp(da, dc, la),
          "state files at the same point are byte-identical (%zu vs %zu bytes)", la, lc);
    free(da);
    free(dc);
    test_result_free(&a);
    test_result_free(&c);

    /* With sampling: the same seed set at the same point gives the same replies after a resume. */
    snprintf(in_a, sizeof in_a, "%s\n%s\n/set seed 11\n%s\n%s\n", m[0], m[1], m[2], m[3]);
    snprintf(in_c, sizeof in_c, "/set seed 11\n%s\n%s\n", m[2], m[3]);
    run_chat(&a, in_a, "--temperature", "1", "--top-p", "1", "--seed", "3", "-n", "60", NULL);
    run_chat(&c, in_c, "--temperature", "1", "--top-p", "1", "-n", "60", "--state", fb, NULL);
    /* b was made at temperature 0, but a's first two turns must match it for this to compare
     * like with like: so rerun b's part with a's settings. */
    test_result_free(&b);
    snprintf(in_b, sizeof in_b, "%s\n%s\n/save %s\n", m[0], m[1], fb);
    run_chat(&b, in_b, "--temperature", "1", "--top-p", "1", "--seed", "3", "-n", "60", NULL);
    test_result_free(&c);
    run_chat(&c, in_c, "--temperature", "1", "--top-p", "1", "-n", "60", "--state", fb, NULL);
    na = parse_turns(a.err, ta, 8);
    nc = parse_turns(c.err, tc, 8);
    CHECK(na == 4 && nc == 2, "turns %d %d", na, nc);
    if (na == 4 && nc == 2) {
        size_t pa = 0, pc = 0;
        char ra[4][4096], rc2[2][4096];
        int ok = strstr(a.err, "rwkv: seed = 11\n") != NULL; /* (pipe mode: answers on stderr) */
        for (int i = 0; i < 4; i++) ok &= take_reply(&a, &pa, ta[i].shown, ra[i], sizeof ra[i]) == 0;
        for (int i = 0; i < 2; i++) ok &= take_reply(&c, &pc, tc[i].shown, rc2[i], sizeof rc2[i]) == 0;
        CHECK(ok && !strcmp(ra[2], rc2[0]) && !strcmp(ra[3], rc2[1]),
              "sampled replies after a resume equal the uninterrupted session's");
    }
    test_result_free(&a);
    test_result_free(&b);
    test_result_free(&c);
}

static void test_commands(void) {
    test_run_result r;
    /* /reset: the same message after a reset gets the same reply and token count. */
    run_chat(&r, "Hello there\n/reset\nHello there\n", "--temperature", "0", "-n", "30", NULL);
    turn_info t[16];
    int n = parse_turns(r.err, t, 16);
    CHECK(r.rc == 0 && n == 2, "reset run: rc %d, %d turns", r.rc, n);
    if (n == 2) {
        size_t pos = 0;
        char r1[4096], r2[4096];
        int ok = take_reply(&r, &pos, t[0].shown, r1, sizeof r1) == 0 &&
                 take_reply(&r, &pos, t[1].shown, r2, sizeof r2) == 0;
        CHECK(strstr(r.err, "rwkv: conversation reset\n"), "reset acknowledged on stderr: '%s'", r.err);
        CHECK(ok && !strcmp(r1, r2) && t[0].state == t[1].state, "after /reset the chat starts over");
    }
    test_result_free(&r);

    /* /set, /help, /think. */
    run_chat(&r, "/set temperature 0.7\n/set nosuch 1\n/set top_p 2\n/set max_tokens 12\n/help\n"
                 "/set temperature 0\n/think on\nWhy?\n/think off\nWhy?\n/think bogus\n/think plain\n"
                 "Why?\n/frobnicate\n//slash\n/quit\nNever read\n",
             "-n", "30", NULL);
    CHECK(r.rc == 0, "rc %d: %s", r.rc, r.err);
    CHECK(strstr(r.err, "rwkv: temperature = 0.7\n") != NULL, "/set temperature acknowledged");
    CHECK(strstr(r.err, "unknown setting 'nosuch'") != NULL, "/set of an unknown name: %s", r.err);
    CHECK(strstr(r.err, "top_p") != NULL, "/set top_p 2 refused");
    CHECK(strstr(r.err, "settings: temperature 0.7, top_p 0.3, top_k 0, presence 0.5, frequency 0.5, "
                        "decay 0.996, max_tokens 12") != NULL, "/help shows the current settings");
    CHECK(strstr(r.err, "/save FILE") && strstr(r.err, "/think on|off"), "/help lists commands");
    CHECK(strstr(r.err, "usage: /think") != NULL, "/think bogus refused");
    CHECK(strstr(r.err, "unknown command '/frobnicate'") != NULL, "unknown command");
    n = parse_turns(r.err, t, 16);
    CHECK(n == 4, "4 turns (nothing after /quit), got %d", n);
    if (n == 4) {
        CHECK(t[0].prompt == strlen(turn_text("Why?", " <think")), "think on template");
        CHECK(t[1].prompt == strlen(turn_text("Why?", " <think>\n</think")), "think off template");
        CHECK(t[2].prompt == strlen(turn_text("Why?", "")), "plain template");
        CHECK(t[3].prompt == strlen(turn_text("/slash", "")), "//TEXT sends /TEXT");
        CHECK(t[0].reply <= 12 && t[1].reply <= 12, "/set max_tokens applies");
        CHECK(!strncmp(r.out, "<think>", 7) && t[0].shown >= 7, "thinking reply shown after \"<think>\": %s",
              r.out);
        CHECK(r.out_len == t[0].shown + t[1].shown + t[2].shown + t[3].shown + 4,
              "stdout holds only the four replies");
    }
    test_result_free(&r);

    /* A bad /load leaves the conversation going; a state-tuning .pth and another model's state. */
    char garbage[512], other[512];
    snprintf(garbage, sizeof garbage, "%s/garbage.state", tmpdir);
    snprintf(other, sizeof other, "%s/other.state", tmpdir);
    FILE *f = fopen(garbage, "wb");
    if (f) {
        fputs("RWKVSTAT but not really a state file", f);
        fclose(f);
    }
    rwkv_model *m16 = NULL;
    rwkv_state *s16 = NULL;
    if (rwkv_model_load(test_shared("models/tiny-rwkv-7v0-834K-fp16.pth"), NULL, &m16) == RWKV_OK &&
        rwkv_state_new(m16, &s16) == RWKV_OK)
        CHECK(rwkv_state_save(s16, NULL, other) == RWKV_OK, "other model's state");
    rwkv_state_free(s16);
    rwkv_model_free(m16);
    char in[2048];
    snprintf(in, sizeof in, "Hello\n/load %s/missing.state\n/load %s\n/load %s\nStill here?\n"
             "/load %s\nAfter tuning\n/stats\n", tmpdir, garbage, other,
             test_shared("models/tiny-rwkv-7v0-834K-state.pth"));
    run_chat(&r, in, "--temperature", "0", "-n", "20", NULL);
    CHECK(r.rc == 0, "rc %d", r.rc);
    CHECK(strstr(r.err, "missing.state") && strstr(r.err, "cannot load state"), "missing file: %s", r.err);
    CHECK(strstr(r.err, "garbage.state") && strstr(r.err, "format error"),
          "damaged file refused as a format error: %s", r.err);
    CHECK(strstr(r.err, "another model") != NULL, "another model's state refused");
    CHECK(strstr(r.err, "rwkv: loaded state-tuning file") != NULL, "/load of a state-tuning .pth");
    n = parse_turns(r.err, t, 16);
    CHECK(n == 3, "the chat goes on after bad loads: %d turns", n);
    if (n == 3) {
        CHECK(t[1].state == t[0].state + t[1].prompt + t[1].reply + t[1].sep, "state kept after bad loads");
        CHECK(t[2].state == t[2].prompt + t[2].reply + t[2].sep, "tuning state starts at 0 tokens");
    }
    test_result_free(&r);

    /* --state at start: a state-tuning file; a bad file is an error exit. */
    run_chat(&r, "Hi\n", "--temperature", "0", "-n", "10", "--state",
             test_shared("models/tiny-rwkv-7v0-834K-state.pth"), NULL);
    CHECK(r.rc == 0 && parse_turns(r.err, t, 16) == 1, "--state .pth: rc %d %s", r.rc, r.err);
    test_result_free(&r);
    run_chat(&r, "Hi\n", "--state", garbage, NULL);
    CHECK(r.rc == 1 && strstr(r.err, "rwkv: error: ") && parse_turns(r.err, t, 16) == 0,
          "--state with a damaged file: rc %d", r.rc);
    test_result_free(&r);
    run_chat(&r, "", "--bogus", NULL);
    CHECK(r.rc == 2, "unknown option: rc %d", r.rc);
    test_result_free(&r);
}

/* ---- --jsonl ---------------------------------------------------------------------------------- */

/* Splits r->out into lines and parses each as JSON (up to max); returns how many lines. A line
 * that is not a JSON object is stored as NULL. */
static int json_lines(const test_run_result *r, json_t **o, int max) {
    int n = 0;
    for (const char *p = r->out; *p && n < max;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_t *j = json_loadb(p, len, 0, NULL);
        o[n++] = json_is_object(j) ? j : NULL;
        if (j && !o[n - 1]) json_decref(j);
        p += len + (nl != NULL);
    }
    return n;
}

static const char *jstr(json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static long long jint(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* s[0..n) with every byte that does not start a valid UTF-8 character replaced by U+FFFD (an
 * independent statement of what --jsonl must do with the model's bytes); returns the length. */
static size_t utf8_replaced(const unsigned char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xC2 && s[i] <= 0xDF ? 2 : s[i] >= 0xE0 && s[i] <= 0xEF ? 3
                   : s[i] >= 0xF0 && s[i] <= 0xF4 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        unsigned cp = ok ? s[i] & (0xFF >> (len + (len > 1))) : 0;
        for (size_t k = 1; ok && k < len; k++) {
            ok = (s[i + k] & 0xC0) == 0x80;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ok) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

static void test_jsonl(void) {
    /* The same conversation in pipe mode and in --jsonl gives the same replies. */
    static const char *const msgs[] = {"Hello there", "How are you?\nTell me.", "Why?", "The cat sat on the mat."};
    char pipe_in[1024] = "", json_in[2048] = "";
    for (int i = 0; i < 4; i++) {
        char m[128];
        snprintf(m, sizeof m, "%s", msgs[i]);
        for (char *c = m; *c; c++) /* a pipe-mode message is one line */
            if (*c == '\n') *c = ' ';
        strcat(pipe_in, m);
        strcat(pipe_in, "\n");
        json_t *o = json_pack("{s:s}", "content", m);
        char *txt = json_dumps(o, JSON_COMPACT);
        strcat(json_in, txt);
        strcat(json_in, "\n");
        free(txt);
        json_decref(o);
    }
    strcat(json_in, "\n{\"command\": \"/stats\"}\nnot json\n{\"content\": 5}\n{\"content\": \"a\", \"command\": \"/stats\"}\n"
                    "{\"content\": \"  \\n \"}\n{\"command\": \"stats\"}\n{\"command\": \"/load /no/such/file\"}\n"
                    "{\"command\": \"/think on\"}\n{\"content\": \"Why?\"}\n{\"command\": \"/quit\"}\n"
                    "{\"content\": \"never\"}\n");
    test_run_result p, j;
    run_chat(&p, pipe_in, "--temperature", "1.5", "--top-p", "1", "--seed", "5", "-n", "200", NULL);
    run_chat(&j, json_in, "--temperature", "1.5", "--top-p", "1", "--seed", "5", "-n", "200", "--jsonl", NULL);
    CHECK(p.rc == 0 && j.rc == 0, "rc %d %d: %s", p.rc, j.rc, j.err);
    turn_info t[8];
    int nt = parse_turns(p.err, t, 8);
    json_t *o[32] = {NULL};
    int n = json_lines(&j, o, 32);
    CHECK(nt == 4 && n == 14, "4 replies, 14 answers (one per non-blank line until /quit): %d %d\n%s", nt, n, j.out);
    if (nt == 4 && n == 14) {
        size_t pos = 0;
        int same = 1, ws = 0, counts = 1;
        unsigned long long state = 0;
        for (int i = 0; i < 4; i++) {
            static char buf[65536], want[3 * 65536];
            const char *c = jstr(o[i], "content");
            size_t cl = json_string_length(json_object_get(o[i], "content"));
            if (take_reply(&p, &pos, t[i].shown, buf, sizeof buf) ||
                utf8_replaced((const unsigned char *)buf, t[i].shown, want) != cl || memcmp(want, c, cl))
                same = 0;
            if (cl && (strchr(" \t\n\r", c[0]) || strchr(" \t\n\r", c[cl - 1]))) ws = 1;
            state += (unsigned long long)(jint(o[i], "prompt_tokens") + jint(o[i], "completion_tokens")) +
                     (strcmp(jstr(o[i], "finish_reason"), "stop") ? 2 : 0);
            if (jint(o[i], "prompt_tokens") != (long long)t[i].prompt || (unsigned long long)jint(o[i], "state_tokens") != state)
                counts = 0;
            const char *fr = jstr(o[i], "finish_reason");
            if (strcmp(fr, "stop") && strcmp(fr, "length") && strcmp(fr, "end_of_text")) counts = 0;
        }
        CHECK(same, "--jsonl replies equal the pipe-mode replies");
        CHECK(!ws, "replies are trimmed");
        CHECK(counts, "prompt, completion and state token counts add up");
        CHECK(strstr(jstr(o[4], "output"), "tokens: ") && !json_object_get(o[4], "error"), "/stats answer");
        CHECK(strstr(jstr(o[5], "error"), "not JSON") != NULL, "a line that is not JSON: %s", jstr(o[5], "error"));
        CHECK(strstr(jstr(o[6], "error"), "must be a string") != NULL, "content not a string");
        CHECK(*jstr(o[7], "error") != 0, "content and command together");
        CHECK(strstr(jstr(o[8], "error"), "empty") != NULL, "an empty message");
        CHECK(strstr(jstr(o[9], "error"), "starts with") != NULL, "a command without /");
        CHECK(!strcmp(jstr(o[10], "command"), "/load") && strstr(jstr(o[10], "error"), "no/such/file"),
              "a failing command: %s", jstr(o[10], "error"));
        CHECK(!strcmp(jstr(o[11], "output"), "think = on"), "/think on");
        CHECK(json_object_get(o[12], "content") && json_object_get(o[12], "reasoning"),
              "a thinking reply has content and reasoning");
    }
    for (int i = 0; i < n; i++) json_decref(o[i]);
    CHECK(strstr(j.out, "/quit") && !strstr(j.out, "never"), "nothing after /quit");
    test_result_free(&p);
    test_result_free(&j);
}

/* --jsonl: a message may hold newlines (one turn, cleaned as any message). */
static void test_jsonl_newlines(void) {
    test_run_result r;
    run_chat(&r, "{\"content\": \"Line one\\r\\n\\n\\nLine two \"}\n", "--jsonl", "-n", "5", "--temperature", "0",
             NULL);
    json_t *o[4] = {NULL};
    int n = json_lines(&r, o, 4);
    CHECK(r.rc == 0 && n == 1 && jint(o[0], "prompt_tokens") == (long long)strlen(turn_text("Line one\nLine two", "")),
          "a multi-line message is one turn: %s %s", r.out, r.err);
    for (int i = 0; i < n; i++) json_decref(o[i]);
    test_result_free(&r);
}

/* Options: --think with --no-think, the -n spellings, /save onto the model. */
static void test_options(void) {
    test_run_result r;
    run_chat(&r, "Hi\n", "--think", "--no-think", NULL);
    CHECK(r.rc == 2 && strstr(r.err, "rwkv: error: chat: --think and --no-think"), "--think --no-think: %d %s",
          r.rc, r.err);
    test_result_free(&r);
    run_chat(&r, "Hi\n", "--n-tokens", "3", "--temperature", "0", NULL);
    turn_info t[2];
    CHECK(r.rc == 0 && parse_turns(r.err, t, 2) == 1 && t[0].reply <= 3, "--n-tokens: %d %s", r.rc, r.err);
    test_result_free(&r);
    char in[1200];
    snprintf(in, sizeof in, "Hi\n/save %s\nHi\n", model_path);
    run_chat(&r, in, "-n", "3", "--temperature", "0", NULL);
    CHECK(r.rc == 0 && strstr(r.err, "is the model file") && parse_turns(r.err, t, 2) == 2,
          "/save onto the model is refused and the chat goes on: %s", r.err);
    size_t len = 0;
    char *m = test_read_file(model_path, &len);
    CHECK(m && len > 1000 && !memcmp(m, "PK", 2), "the model is intact");
    free(m);
    test_result_free(&r);
}

/* ---- terminal mode through a pseudo-terminal ---------------------------------------------- */

/* Reads from fd for up to ms milliseconds, appending to buf (cap); returns the length. */
static size_t pty_read(int fd, char *buf, size_t len, size_t cap, int ms) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(ms - el)) <= 0) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) { /* the other side closed: wait out the time anyway */
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        len += (size_t)n;
        if (len + 1 >= cap) len = 0; /* keep the tail only */
    }
    buf[len] = '\0';
    return len;
}

/* Reads until needle appears (or ms pass); returns 1 if it did. */
static int pty_wait(int fd, char *buf, size_t *len, size_t cap, const char *needle, int ms) {
    for (int waited = 0; waited < ms; waited += 100) {
        *len = pty_read(fd, buf, *len, cap, 100);
        if (strstr(buf, needle)) return 1;
    }
    return 0;
}

static void test_terminal(void) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) {
        fprintf(stderr, "note: no pseudo-terminal here: terminal test skipped\n");
        if (master >= 0) close(master);
        return;
    }
    const char *slave_name = ptsname(master);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int s = open(slave_name, O_RDWR);
        if (s < 0) _exit(126);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2) close(s);
        close(master);
        execl(test_rwkv_bin(), "rwkv", "chat", "-m", model_path, "--temperature", "0", "-n",
              "100000000", "-v", "--threads=1", (char *)NULL);
        _exit(127);
    }
    static char buf[1 << 16];
    size_t len = 0;
    CHECK(pty_wait(master, buf, &len, sizeof buf, "> ", 10000), "prompt shown: %s", buf);
    /* Ctrl-C at the prompt abandons the line. */
    len = 0;
    CHECK(write(master, "half a line", 11) == 11, "write");
    pty_read(master, buf, 0, sizeof buf, 200);
    CHECK(write(master, "\003", 1) == 1, "write");
    len = 0;
    CHECK(pty_wait(master, buf, &len, sizeof buf, "> ", 3000), "a fresh prompt after Ctrl-C");
    /* A reply that would go on for 10^8 tokens: Ctrl-C stops it and the chat goes on. */
    CHECK(write(master, "Hello\r", 6) == 6, "write");
    pty_read(master, buf, 0, sizeof buf, 500);
    CHECK(write(master, "\003", 1) == 1, "write");
    len = 0;
    CHECK(pty_wait(master, buf, &len, sizeof buf, "end: interrupted", 5000), "Ctrl-C stops the reply");
    CHECK(write(master, "/stats\r", 7) == 7, "write");
    len = 0;
    CHECK(pty_wait(master, buf, &len, sizeof buf, "tokens: ", 5000), "still chatting after Ctrl-C");
    CHECK(strstr(buf, "half a line") == NULL, "the abandoned line was not sent");
    /* Ctrl-D quits with status 0. */
    CHECK(write(master, "\004", 1) == 1, "write");
    int status = 0;
    for (int i = 0; i < 300; i++) {
        pty_read(master, buf, 0, sizeof buf, 50);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = 0;
            break;
        }
    }
    if (pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(0, "Ctrl-D did not end the chat");
    } else {
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "Ctrl-D exits 0 (status %d)", status);
    }
    close(master);
}

int main(void) {
    if (!test_require_shared()) return test_summary("test_chat");
    if (access(test_rwkv_bin(), X_OK) != 0) {
        CHECK(0, "%s not built", test_rwkv_bin());
        return test_summary("test_chat");
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rwkv-test-chat-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_summary("test_chat");
    }
    static char mp[1024];
    snprintf(mp, sizeof mp, "%s", test_shared("models/tiny-rwkv-7v0-834K.pth"));
    model_path = mp;
    test_accounting();
    test_resume();
    test_commands();
    test_jsonl();
    test_jsonl_newlines();
    test_options();
    test_terminal();
    test_remove_dir(tmpdir);
    return test_summary("test_chat");
}
