/* serve_tools.c — `response_format` (the Responses API: `text.format`) and `tools` (docs/SERVER.md,
 * "Structured output and tool calls"). The HTTP side turns a request into one GBNF grammar,
 * compiled per request:
 *   json     root ::= " " JSON                       (the schema, or any object for json_object;
 *                                                    completions: no space)
 *   call     root ::= " " "<tool_call>" CALL         (tool_choice required / named)
 *   auto     root ::= " " TEXT ( "<tool_call>" CALL )?
 * (the space that follows "Assistant:" in G1 text, so that the reply's text is what the next
 * request's prompt renders and the prompt cache matches it)
 * where JSON and CALL come from the library's JSON Schema converter (compact: no whitespace),
 * CALL being the schema {"anyOf": [{"name": const f, "arguments": parameters of f}, ...]}, and
 * TEXT any text in which the marker does not occur (a call ends the reply). The scheduler keeps
 * one matcher per request (a clone of a cached matcher of the same grammar text, so that masks
 * computed for earlier requests are reused; the token trie is built once per server), masks every
 * sampling step with it, and routes the reply's bytes: text to the reply as content, a call into
 * a buffer that becomes `tool_calls` (streamed as deltas). */
#include "serve_tools.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_TOOLS = 128 };

static const char marker[] = SRV_TOOL_MARKER;
#define MARKER_LEN (sizeof marker - 1)

typedef struct errbuf {
    char *msg;
    size_t msg_cap;
    char *param;
    size_t param_cap;
} errbuf;

static int bad(errbuf *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(errbuf *e, int status, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, e->msg_cap, fmt, ap);
    va_end(ap);
    snprintf(e->param, e->param_cap, "%s", param);
    return status;
}

void srv_constraint_free(srv_constraint *c) {
    if (!c) return;
    rwkv_grammar_free(c->grammar);
    free(c->gbnf);
    free(c->system);
    free(c);
}

/* OpenAI's rule for function and schema names: 1-64 of a-z A-Z 0-9 _ -. */
static int good_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Converts a schema (a JSON value) to compact GBNF; on failure fills e (400) naming where. */
static char *schema_gbnf(errbuf *e, json_t *schema, const char *where, int *status) {
    char *txt = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!txt) {
        *status = bad(e, 500, where, "out of memory");
        return NULL;
    }
    char *gbnf = NULL;
    rwkv_status st = rwkv_json_schema_to_gbnf(txt, strlen(txt), RWKV_JSON_SCHEMA_COMPACT, &gbnf, NULL);
    free(txt);
    if (st != RWKV_OK) {
        *status = bad(e, 400, where, "'%s' is not a usable JSON schema: %s", where, rwkv_last_error());
        return NULL;
    }
    return gbnf;
}

/* The converter's grammar with its start rule renamed to `name`, then `extra` appended. The
 * converter never refers to `root` (a "$ref": "#" becomes a rule of its own), so renaming the
 * definition is enough. */
static char *rename_root(const char *gbnf, const char *name, const char *extra) {
    const char *at = NULL;
    for (const char *p = gbnf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, "root ::=", 8)) {
            at = p;
            break;
        }
    if (!at) return NULL;
    size_t n = strlen(gbnf) + strlen(name) + strlen(extra) + 2;
    char *out = malloc(n);
    if (!out) return NULL;
    snprintf(out, n, "%.*s%s%s\n%s", (int)(at - gbnf), gbnf, name, at + 4, extra);
    return out;
}

/* Rewrites every local "$ref" ("#...") of a tool's parameters so that it points inside
 * /$defs/<def> of the combined schema. Values of const/enum/default/examples are data, not
 * schemas, and are left alone. */
static void rebase_refs(json_t *v, const char *def) {
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) rebase_refs(x, def);
        return;
    }
    if (!json_is_object(v)) return;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!strcmp(k, "$ref") && json_is_string(x) && json_string_value(x)[0] == '#') {
            char buf[1024];
            snprintf(buf, sizeof buf, "#/$defs/%s%s", def, json_string_value(x) + 1);
            json_string_set(x, buf);
        } else if (strcmp(k, "const") && strcmp(k, "enum") && strcmp(k, "default") && strcmp(k, "examples")) {
            rebase_refs(x, def);
        }
    }
}

/* Rules for tool_choice auto: text in which the marker does not occur, then (optionally) the
 * marker and one call, which ends the reply. The text is matched by the automaton of "how much of
 * the marker the text ends with" (srv-sK: the last K characters are the marker's first K; the
 * marker's only '<' is its first character, so a '<' always goes back to srv-s1):
 *   root     ::= " " srv-s0          (without the space when the reply starts in a think block)
 *   srv-s0   ::= "" | [^<] srv-s0 | "<" srv-s1
 *   srv-sK   ::= "" | [^<cK] srv-s0 | "<" srv-s1 | "cK" srv-sK+1      (cK: the marker's K-th character)
 *   srv-sN-1 ::= "" | [^<>] srv-s0 | "<" srv-s1 | ">" srv-call       (the marker's last character)
 * Every call is a tail call: the text costs no parse stack. */
static int auto_rules(cli_buf *b, int space) {
    int rc = srv_buf_printf(b, "root ::= %ssrv-s0\n"
                               "srv-s0 ::= \"\" | [^<] srv-s0 | \"<\" srv-s1\n", space ? "\" \" " : "");
    for (size_t k = 1; k < MARKER_LEN && rc == 0; k++) {
        char c = marker[k];
        if (k + 1 < MARKER_LEN)
            rc = srv_buf_printf(b, "srv-s%zu ::= \"\" | [^<%c] srv-s0 | \"<\" srv-s1 | \"%c\" srv-s%zu\n", k, c, c, k + 1);
        else
            rc = srv_buf_printf(b, "srv-s%zu ::= \"\" | [^<%c] srv-s0 | \"<\" srv-s1 | \"%c\" srv-call\n", k, c, c);
    }
    return rc;
}

/* Compiles GBNF text; a failure is reported as 400 (it can only come from the schemas). */
static int compile(errbuf *e, const char *gbnf, const char *where, rwkv_grammar **g) {
    if (!gbnf) return bad(e, 500, "", "out of memory");
    rwkv_status st = rwkv_grammar_parse(gbnf, strlen(gbnf), g);
    if (st == RWKV_OK) return 0;
    return bad(e, 400, where, "'%s' cannot be used as a grammar: %s", where, rwkv_last_error());
}

/* The reply's format: 0 (nothing, or *gbnf set to the JSON grammar) or an HTTP status.
 *   chat, completions  response_format: {"type": "json_schema", "json_schema": {name, schema, strict,
 *                      description}} | {"type": "json_object"} | {"type": "text"}
 *   Responses          text.format: {"type": "json_schema", name, schema, strict, description}
 *                      | {"type": "json_object"} | {"type": "text"} (the same fields, not nested)
 * field names the object in errors ("response_format" or "text.format"). */
static int parse_format(errbuf *e, srv_kind kind, json_t *rf, const char *field, char **gbnf) {
    if (!rf || json_is_null(rf)) return 0;
    char p[96], where[96];
    if (!json_is_object(rf)) return bad(e, 400, field, "'%s' must be an object", field);
    json_t *type = json_object_get(rf, "type");
    snprintf(p, sizeof p, "%s.type", field);
    if (!json_is_string(type)) return bad(e, 400, p, "'%s' must be a string", p);
    const char *t = json_string_value(type);
    json_t *schema = NULL, *own = NULL;
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) {
        schema = own = json_pack("{s:s}", "type", "object");
        snprintf(where, sizeof where, "%s", field);
    } else if (!strcmp(t, "json_schema")) {
        /* the schema's object: response_format.json_schema, or text.format itself */
        const int flat = kind == SRV_RESPONSE;
        char js_name[64];
        snprintf(js_name, sizeof js_name, flat ? "%s" : "%s.json_schema", field);
        json_t *js = flat ? rf : json_object_get(rf, "json_schema");
        if (!json_is_object(js)) return bad(e, 400, js_name, "'%s' must be an object", js_name);
        json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict"),
               *desc = json_object_get(js, "description");
        snprintf(p, sizeof p, "%s.name", js_name);
        if (flat && !name && json_object_get(rf, "json_schema"))
            return bad(e, 400, field, "'%s' takes 'name' and 'schema' directly, not under 'json_schema' (that is "
                                      "the shape of chat's 'response_format')", field);
        if (!json_is_string(name) || !good_name(json_string_value(name)))
            return bad(e, 400, p, "'%s' must be 1-64 characters of a-z, A-Z, 0-9, _ and -", p);
        snprintf(p, sizeof p, "%s.strict", js_name);
        if (strict && !json_is_null(strict) && !json_is_boolean(strict))
            return bad(e, 400, p, "'%s' must be a boolean", p);
        snprintf(p, sizeof p, "%s.description", js_name);
        if (desc && !json_is_null(desc) && !json_is_string(desc)) return bad(e, 400, p, "'%s' must be a string", p);
        snprintf(where, sizeof where, "%s.schema", js_name);
        schema = json_object_get(js, "schema");
        if (!schema || json_is_null(schema))
            return bad(e, 400, where, "'%s' is required", where);
        if (!json_is_object(schema) && !json_is_boolean(schema))
            return bad(e, 400, where, "'%s' must be a JSON schema (an object)", where);
    } else {
        snprintf(p, sizeof p, "%s.type", field);
        return bad(e, 400, p, "'%s' must be 'text', 'json_object' or 'json_schema' (got '%.40s')", p, t);
    }
    if (!schema) return bad(e, 500, "", "out of memory");
    int st = 0;
    char *g = schema_gbnf(e, schema, where, &st);
    json_decref(own);
    if (!g) return st;
    /* chat, Responses: the space after "Assistant:"; a completion continues its prompt as it is */
    *gbnf = rename_root(g, "srv-json", kind != SRV_COMPLETION ? "root ::= \" \" srv-json\n" : "root ::= srv-json\n");
    rwkv_grammar_text_free(g);
    return *gbnf ? 0 : bad(e, 500, "", "out of memory");
}

/* The format field of a request: response_format (chat, completions) or text.format (Responses,
 * where response_format is refused rather than ignored). 0 with *rf and *field set, or a status. */
static int format_field(errbuf *e, srv_kind kind, json_t *root, json_t **rf, const char **field) {
    *rf = NULL;
    *field = "response_format";
    if (kind != SRV_RESPONSE) {
        *rf = json_object_get(root, "response_format");
        return 0;
    }
    json_t *old = json_object_get(root, "response_format");
    if (old && !json_is_null(old))
        return bad(e, 400, "response_format",
                   "'response_format' is a field of /v1/chat/completions: on /v1/responses use 'text.format'");
    json_t *text = json_object_get(root, "text");
    *field = "text.format";
    if (!text || json_is_null(text)) return 0;
    if (!json_is_object(text)) return bad(e, 400, "text", "'text' must be an object");
    *rf = json_object_get(text, "format");
    return 0;
}

/* One tool of 'tools': checks it and returns its function object (name, description, parameters
 * normalised: parameters absent -> the empty object {}). NULL with e filled. */
static json_t *parse_tool(errbuf *e, json_t *tool, size_t i, int *status) {
    char p[96];
    snprintf(p, sizeof p, "tools[%zu]", i);
    json_t *type = json_object_get(tool, "type");
    json_t *fn = json_object_get(tool, "function");
    if (!json_is_object(tool)) *status = bad(e, 400, p, "'%s' must be an object", p);
    else if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
        *status = bad(e, 400, p, "'%s.type' must be 'function' (only function tools are supported)", p);
    else if (!json_is_object(fn)) *status = bad(e, 400, p, "'%s.function' must be an object", p);
    if (*status) return NULL;
    json_t *name = json_object_get(fn, "name"), *desc = json_object_get(fn, "description"),
           *params = json_object_get(fn, "parameters"), *strict = json_object_get(fn, "strict");
    snprintf(p, sizeof p, "tools[%zu].function", i);
    if (!json_is_string(name) || !good_name(json_string_value(name)))
        *status = bad(e, 400, p, "'%s.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -", p);
    else if (desc && !json_is_null(desc) && !json_is_string(desc))
        *status = bad(e, 400, p, "'%s.description' must be a string", p);
    else if (strict && !json_is_null(strict) && !json_is_boolean(strict))
        *status = bad(e, 400, p, "'%s.strict' must be a boolean", p);
    else if (params && !json_is_null(params) && !json_is_object(params))
        *status = bad(e, 400, p, "'%s.parameters' must be a JSON schema object", p);
    if (*status) return NULL;
    json_t *out = json_pack("{s:O}", "name", name);
    if (out && json_is_string(desc)) json_object_set(out, "description", desc);
    if (out) {
        if (params && !json_is_null(params)) json_object_set(out, "parameters", params);
        else json_object_set_new(out, "parameters", json_pack("{s:s, s:{}, s:b}", "type", "object", "properties", "additionalProperties", 0));
    }
    if (!out) *status = bad(e, 500, "", "out of memory");
    return out;
}

/* tools + tool_choice: 0 with *gbnf set (or NULL for no constraint) and *system set, or a status. */
static int parse_tools(errbuf *e, srv_kind kind, json_t *root, g1_think think, srv_constraint_mode *mode,
                       char **gbnf, char **system) {
    json_t *tools = json_object_get(root, "tools"), *choice = json_object_get(root, "tool_choice"),
           *ptc = json_object_get(root, "parallel_tool_calls");
    if (tools && json_is_null(tools)) tools = NULL;
    if (choice && json_is_null(choice)) choice = NULL;
    if (ptc && !json_is_null(ptc) && !json_is_boolean(ptc))
        return bad(e, 400, "parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
    if (tools && !json_is_array(tools)) return bad(e, 400, "tools", "'tools' must be an array");
    if (tools && json_array_size(tools) == 0) tools = NULL;
    if (tools && kind != SRV_CHAT)
        return bad(e, 400, "tools",
                   "'tools' is not supported on %s: tool calls are implemented on /v1/chat/completions only",
                   kind == SRV_RESPONSE ? "/v1/responses" : "/v1/completions");
    if (tools && json_array_size(tools) > MAX_TOOLS)
        return bad(e, 400, "tools", "'tools' may hold at most %d functions", MAX_TOOLS);
    /* tool_choice: "none" | "auto" | "required" | {"type": "function", "function": {"name": ...}} */
    const char *named = NULL, *how = tools ? "auto" : "none";
    if (choice) {
        if (json_is_string(choice)) {
            how = json_string_value(choice);
            if (strcmp(how, "none") && strcmp(how, "auto") && strcmp(how, "required"))
                return bad(e, 400, "tool_choice",
                           "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", "
                           "\"function\": {\"name\": ...}} (got '%.40s')", how);
        } else {
            json_t *type = json_object_get(choice, "type"), *fn = json_object_get(choice, "function");
            json_t *name = json_is_object(fn) ? json_object_get(fn, "name") : NULL;
            if (!json_is_object(choice) || !json_is_string(type) || strcmp(json_string_value(type), "function") ||
                !json_is_string(name))
                return bad(e, 400, "tool_choice",
                           "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", "
                           "\"function\": {\"name\": ...}}");
            named = json_string_value(name);
            how = "named";
        }
        if (!tools && strcmp(how, "none"))
            return bad(e, 400, "tool_choice", "'tool_choice' is '%s' but the request has no 'tools'", how);
    }
    if (!tools || !strcmp(how, "none")) return 0; /* no tools listed, nothing constrained */

    int status = 0, found = 0;
    json_t *defs = json_object(), *alts = json_array();
    cli_buf listing = {0};
    status = defs && alts ? 0 : bad(e, 500, "", "out of memory");
    if (!status)
        status = srv_buf_printf(&listing,
                                "You can call functions. To call one, write %s followed by one JSON object "
                                "{\"name\": the function's name, \"arguments\": an object of its parameters}; "
                                "nothing may follow the call. The functions:", marker)
                     ? bad(e, 500, "", "out of memory") : 0;
    size_t i;
    json_t *tool;
    json_array_foreach(tools, i, tool) {
        if (status) break;
        json_t *fn = parse_tool(e, tool, i, &status);
        if (!fn) break;
        const char *name = json_string_value(json_object_get(fn, "name"));
        for (size_t k = 0; k < i && !status; k++) {
            json_t *o = json_object_get(json_object_get(json_array_get(tools, k), "function"), "name");
            if (!strcmp(json_string_value(o), name))
                status = bad(e, 400, "tools", "'tools' names the function '%s' twice", name);
        }
        /* the parameters alone first: errors then point into them */
        char where[96];
        snprintf(where, sizeof where, "tools[%zu].function.parameters", i);
        char *g = status ? NULL : schema_gbnf(e, json_object_get(fn, "parameters"), where, &status);
        rwkv_grammar_text_free(g);
        char *line = status ? NULL : json_dumps(fn, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!status && (!line || srv_buf_printf(&listing, "\n%s", line)))
            status = bad(e, 500, "", "out of memory");
        free(line);
        if (!status && (!named || !strcmp(named, name))) {
            char def[32];
            snprintf(def, sizeof def, "t%zu", i);
            json_t *params = json_deep_copy(json_object_get(fn, "parameters"));
            char ref[48];
            snprintf(ref, sizeof ref, "#/$defs/%s", def);
            if (params) rebase_refs(params, def);
            json_t *alt = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s]}", "type", "object", "properties", "name",
                                    "const", name, "arguments", "$ref", ref, "required", "name", "arguments");
            if (!params || !alt || json_object_set_new(defs, def, params) || json_array_append_new(alts, alt))
                status = bad(e, 500, "", "out of memory");
            found++;
        }
        json_decref(fn);
    }
    if (!status && named && !found)
        status = bad(e, 400, "tool_choice", "'tool_choice' names the function '%.64s', which is not in 'tools'", named);
    char *g = NULL;
    if (!status) {
        json_t *all = json_pack("{s:O, s:O}", "$defs", defs, "anyOf", alts);
        g = all ? schema_gbnf(e, all, "tools", &status) : NULL;
        if (!all) status = bad(e, 500, "", "out of memory");
        json_decref(all);
    }
    json_decref(defs);
    json_decref(alts);
    if (!status) {
        *mode = strcmp(how, "auto") ? SRV_CONSTRAIN_TOOL_CALL : SRV_CONSTRAIN_TOOL_AUTO;
        cli_buf rules = {0};
        int rc = *mode == SRV_CONSTRAIN_TOOL_AUTO ? auto_rules(&rules, think == G1_THINK_PLAIN)
                                                   : srv_buf_printf(&rules, "root ::= \" \" \"%s\" srv-call\n", marker);
        *gbnf = rc ? NULL : rename_root(g, "srv-call", rules.data);
        cli_buf_free(&rules);
        if (!*gbnf) status = bad(e, 500, "", "out of memory");
    }
    rwkv_grammar_text_free(g);
    if (status) {
        cli_buf_free(&listing);
        return status;
    }
    *system = listing.data;
    return 0;
}

int srv_constraint_parse(srv_kind kind, json_t *root, g1_think *think, srv_constraint **out, char *msg,
                         size_t msg_cap, char *param, size_t param_cap) {
    errbuf e = {msg, msg_cap, param, param_cap};
    *out = NULL;
    char *json_g = NULL, *tools_g = NULL, *system = NULL;
    srv_constraint_mode mode = SRV_CONSTRAIN_JSON;
    json_t *rf = NULL;
    const char *field = "response_format";
    int st = format_field(&e, kind, root, &rf, &field);
    if (!st) st = parse_format(&e, kind, rf, field, &json_g);
    if (!st) st = parse_tools(&e, kind, root, *think, &mode, &tools_g, &system);
    if (!st && json_g && tools_g)
        st = bad(&e, 400, "response_format",
                 "'response_format' (JSON) and 'tools' cannot be used together (use tool_choice 'none' for JSON)");
    if (!st && (json_g || (tools_g && mode == SRV_CONSTRAIN_TOOL_CALL)) && *think == G1_THINK_ON)
        st = kind == SRV_RESPONSE
                 ? bad(&e, 400, "reasoning",
                       "reasoning cannot be combined with 'text.format' JSON: the constrained reply starts right "
                       "after \"Assistant:\" (use reasoning.effort 'none' or leave it out)")
                 : bad(&e, 400, "think",
                       "thinking cannot be combined with 'response_format' or a required tool call: the constrained "
                       "reply starts right after \"Assistant:\" (with tool_choice 'auto' it can)");
    srv_constraint *c = NULL;
    if (!st && (json_g || tools_g)) {
        c = calloc(1, sizeof *c);
        if (!c) st = bad(&e, 500, "", "out of memory");
        else {
            c->mode = json_g ? SRV_CONSTRAIN_JSON : mode;
            c->system = system;
            system = NULL;
            st = compile(&e, json_g ? json_g : tools_g, json_g ? field : "tools", &c->grammar);
            c->gbnf = json_g ? json_g : tools_g;
            if (json_g) json_g = NULL;
            else tools_g = NULL;
        }
    }
    free(json_g);
    free(tools_g);
    free(system);
    if (st) {
        srv_constraint_free(c);
        return st;
    }
    /* a JSON reply or a required call starts right after "Assistant:" (no think:false block);
     * with tool_choice auto, the think switch works as in any chat (the grammar knows it) */
    if (c && c->mode != SRV_CONSTRAIN_TOOL_AUTO) *think = G1_THINK_PLAIN;
    *out = c;
    return 0;
}

/* ---- tool calls in the conversation ------------------------------------------------------------ */

int srv_tools_message_calls(json_t *m, size_t idx, char **out, char *msg, size_t msg_cap, char *param,
                            size_t param_cap) {
    errbuf e = {msg, msg_cap, param, param_cap};
    *out = NULL;
    json_t *calls = json_object_get(m, "tool_calls");
    if (!calls || json_is_null(calls)) return 0;
    char p[96];
    snprintf(p, sizeof p, "messages[%zu].tool_calls", idx);
    if (!json_is_array(calls)) return bad(&e, 400, p, "'%s' must be an array", p), -1;
    cli_buf b = {0};
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_object(c) || !json_is_object(fn) || !json_is_string(name) || !json_is_string(args)) {
            cli_buf_free(&b);
            snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu]", idx, i);
            return bad(&e, 400, p, "'%s' must be {\"type\": \"function\", \"function\": {\"name\": string, "
                                   "\"arguments\": string}}", p), -1;
        }
        /* exactly the text a generated call has, so that the prompt cache matches it */
        if (srv_buf_printf(&b, "%s%s{\"name\":", i ? "\n" : "", marker) ||
            srv_buf_printf(&b, "%s", "\"") || cli_buf_add(&b, json_string_value(name), json_string_length(name)) ||
            srv_buf_printf(&b, "\",\"arguments\":") ||
            cli_buf_add(&b, json_string_value(args), json_string_length(args)) || srv_buf_printf(&b, "}")) {
            cli_buf_free(&b);
            return bad(&e, 500, "", "out of memory"), -1;
        }
    }
    *out = b.data;
    return 0;
}

/* ---- the scheduler side ------------------------------------------------------------------------ */

/* The scheduler's matcher cache: a grammar text -> its compiled grammar and a matcher at its
 * start, which requests clone (clones share the computed masks and transitions; all of them are
 * used by the scheduler thread only). An entry in use by a request is never evicted; when every
 * entry is in use the request gets a matcher of its own. */
enum { GCACHE = 16 };
typedef struct gentry {
    char *gbnf;
    rwkv_grammar *g;
    rwkv_grammar_matcher *base;
    int users;
    uint64_t used;
} gentry;
struct srv_guides {
    rwkv_token_trie *trie;
    gentry e[GCACHE];
    uint64_t clock;
};

static void gentry_clear(gentry *x) {
    rwkv_grammar_matcher_free(x->base);
    rwkv_grammar_free(x->g);
    free(x->gbnf);
    memset(x, 0, sizeof *x);
}

void srv_guides_free(server *s) {
    struct srv_guides *gs = s->guides;
    if (!gs) return;
    for (int i = 0; i < GCACHE; i++) gentry_clear(&gs->e[i]);
    rwkv_token_trie_free(gs->trie);
    free(gs);
    s->guides = NULL;
}

/* The cache entry for gbnf (made on a miss), or NULL when none can be had. */
static gentry *gentry_get(struct srv_guides *gs, const char *gbnf) {
    gentry *free_slot = NULL;
    for (int i = 0; i < GCACHE; i++) {
        gentry *x = &gs->e[i];
        if (x->gbnf && !strcmp(x->gbnf, gbnf)) {
            x->used = ++gs->clock;
            return x;
        }
        if (x->users == 0 && (!free_slot || x->used < free_slot->used)) free_slot = x;
    }
    if (!free_slot) return NULL;
    gentry_clear(free_slot);
    free_slot->gbnf = strdup(gbnf);
    if (!free_slot->gbnf || rwkv_grammar_parse(gbnf, strlen(gbnf), &free_slot->g) != RWKV_OK ||
        rwkv_grammar_matcher_new(free_slot->g, gs->trie, &free_slot->base) != RWKV_OK) {
        gentry_clear(free_slot);
        return NULL;
    }
    free_slot->used = ++gs->clock;
    return free_slot;
}

/* Where generated bytes go: JSON replies are text; a tools reply is text scanned for the marker
 * (R_UNDECIDED) until the marker makes the rest a call. */
typedef enum { R_UNDECIDED, R_TEXT, R_CALL } route;

struct srv_guide {
    const srv_job *job;
    const srv_constraint *c;
    rwkv_grammar_matcher *m;
    gentry *entry;            /* the cache entry m was cloned from (its grammar), or NULL */
    route route;
    cli_buf held;             /* text that may still become the marker (not yet released) */
    cli_buf call;             /* the bytes after the marker */
    int stopped;              /* a stop string ended the text */
    size_t head_len;          /* call[0..head_len) is {"name":"NAME","arguments": (0: not yet) */
    size_t args_sent;         /* bytes of the arguments streamed so far */
    char id[40];
};

int srv_guide_new(server *s, const srv_job *j, srv_guide **out) {
    *out = NULL;
    if (!s->guides && !(s->guides = calloc(1, sizeof *s->guides))) return -1;
    struct srv_guides *gs = s->guides;
    if (!gs->trie && rwkv_token_trie_new(s->tok, 0, &gs->trie) != RWKV_OK) {
        fprintf(stderr, "rwkv serve: cannot build the token trie: %s\n", rwkv_last_error());
        return -1;
    }
    srv_guide *g = calloc(1, sizeof *g);
    if (!g) return -1;
    g->job = j;
    g->c = j->constraint;
    g->route = g->c->mode == SRV_CONSTRAIN_JSON ? R_TEXT : R_UNDECIDED;
    static atomic_ullong counter;
    uint64_t z = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (atomic_fetch_add(&counter, 1) + 1) * 0xBF58476D1CE4E5B9ULL ^
                 (uint64_t)(uintptr_t)g;
    z ^= z >> 31;
    snprintf(g->id, sizeof g->id, "call_%016llx%08x", (unsigned long long)z, (unsigned)(z >> 17) ^ (unsigned)j->created);
    gentry *x = gentry_get(gs, g->c->gbnf);
    if (x && rwkv_grammar_matcher_clone(x->base, &g->m) == RWKV_OK) {
        g->entry = x;
        x->users++;
    } else if (rwkv_grammar_matcher_new(g->c->grammar, gs->trie, &g->m) != RWKV_OK) {
        fprintf(stderr, "rwkv serve: %s: cannot start the grammar: %s\n", j->id, rwkv_last_error());
        free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void srv_guide_free(srv_guide *g) {
    if (!g) return;
    rwkv_grammar_matcher_free(g->m);
    if (g->entry) g->entry->users--;
    cli_buf_free(&g->held);
    cli_buf_free(&g->call);
    free(g);
}

int srv_guide_sample(srv_guide *g, rwkv_sampler *sampler, float *logits, int n_vocab, int32_t *token) {
    rwkv_status st = rwkv_grammar_sample(g->m, sampler, logits, n_vocab, token);
    if (st != RWKV_OK) {
        fprintf(stderr, "rwkv serve: %s: generation stopped by the grammar: %s\n", g->job->id, rwkv_last_error());
        return -1;
    }
    return 0;
}

/* Bytes that become part of the call: counted in the reply's text (the prompt cache stores prompt
 * + reply with the state that has read them) without being released as content. */
static int keep_hidden(srv_reply *r, const char *bytes, size_t len) {
    if (len && cli_buf_add(&r->gen, bytes, len)) return -1;
    return 0;
}

/* Finds {"name":"NAME","arguments": at the start of the call (the grammar writes it so). */
static void find_head(srv_guide *g) {
    static const char pre[] = "{\"name\":\"", mid[] = "\",\"arguments\":";
    const char *c = g->call.data;
    size_t n = g->call.len;
    if (g->head_len || n < sizeof pre - 1 || memcmp(c, pre, sizeof pre - 1)) return;
    const char *q = memchr(c + sizeof pre - 1, '"', n - (sizeof pre - 1));
    if (!q || (size_t)(q - c) + sizeof mid - 1 > n || memcmp(q, mid, sizeof mid - 1)) return;
    g->head_len = (size_t)(q - c) + sizeof mid - 1;
}

/* Streams the arguments generated so far (all but the last byte, which may be the call's closing
 * brace; only complete UTF-8). final: the call is over (drop its closing brace if complete). */
static int stream_args(srv_guide *g, srv_reply *r, int final, int complete) {
    if (!g->job->stream || !g->head_len) return 0;
    size_t name_len = g->head_len - 9 - 14;
    if (g->args_sent == 0 && !r->tool_calls) { /* the first delta: id, type and name */
        json_t *d = json_pack("{s:n, s:[{s:i, s:s, s:s, s:{s:s%, s:s}}]}", "content", "tool_calls", "index", 0, "id",
                              g->id, "type", "function", "function", "name", g->call.data + 9, name_len,
                              "arguments", "");
        if (!d || srv_reply_delta(r, d)) return -1;
        r->tool_calls = json_array(); /* marks the header as sent; replaced at the end */
    }
    size_t end = g->call.len;
    if (!final || complete) end = end > g->head_len ? end - 1 : g->head_len;
    size_t from = g->head_len + g->args_sent;
    if (end <= from) return 0;
    size_t n = final ? end - from : rwkv_utf8_complete_prefix(g->call.data + from, end - from);
    if (!n) return 0;
    json_t *clean = cli_json_text(g->call.data + from, n); /* invalid UTF-8 -> U+FFFD */
    json_t *d = clean ? json_pack("{s:[{s:i, s:{s:o}}]}", "tool_calls", "index", 0, "function", "arguments", clean)
                      : NULL;
    if (!d || srv_reply_delta(r, d)) return -1;
    g->args_sent += n;
    return 0;
}

int srv_guide_add(srv_guide *g, srv_reply *r, const char *bytes, size_t len) {
    int rc = 0;
    if (g->route == R_TEXT) {
        rc = srv_reply_add(r, bytes, len);
    } else if (g->route == R_CALL) {
        if (keep_hidden(r, bytes, len) || cli_buf_add(&g->call, bytes, len)) return -1;
        find_head(g);
        if (stream_args(g, r, 0, 0)) return -1;
    } else { /* text, in which the marker may begin */
        if (cli_buf_add(&g->held, bytes, len)) return -1;
        const char *h = g->held.data;
        size_t n = g->held.len;
        const char *at = memmem(h, n, marker, MARKER_LEN);
        if (at) { /* the text before it, then the call */
            size_t p = (size_t)(at - h), c = p + MARKER_LEN;
            rc = p ? srv_reply_add(r, h, p) : 0;
            if (rc) { /* a stop string ended the text first (or a failure) */
                g->stopped = rc > 0;
                g->held.len = 0;
                return rc < 0 || keep_hidden(r, at, n - p) ? -1 : 1;
            }
            if (srv_reply_flush(r) || keep_hidden(r, at, n - p) || cli_buf_add(&g->call, h + c, n - c))
                return -1;
            g->route = R_CALL;
            g->held.len = 0;
            find_head(g);
            if (stream_args(g, r, 0, 0)) return -1;
        } else { /* hold back only what may still become the marker */
            size_t keep = n < MARKER_LEN - 1 ? n : MARKER_LEN - 1;
            while (keep && memcmp(h + n - keep, marker, keep)) keep--;
            rc = n > keep ? srv_reply_add(r, h, n - keep) : 0;
            if (rc > 0) g->stopped = 1;
            memmove(g->held.data, h + n - keep, keep);
            g->held.len = keep;
        }
    }
    if (rc) return rc;
    return rwkv_grammar_matcher_end(g->m) == RWKV_GRAMMAR_MUST_END;
}

const char *srv_guide_finish(srv_guide *g, srv_reply *r, const char *finish) {
    rwkv_grammar_end end = rwkv_grammar_matcher_end(g->m);
    int complete = end == RWKV_GRAMMAR_MUST_END || end == RWKV_GRAMMAR_ENDED || end == RWKV_GRAMMAR_MAY_END;
    if (g->route == R_UNDECIDED) { /* e.g. "<tool" and then max_tokens: it is text */
        g->route = R_TEXT;
        if (g->held.len && g->stopped) keep_hidden(r, g->held.data, g->held.len); /* after the stop: not text */
        else if (g->held.len) srv_reply_add(r, g->held.data, g->held.len);
        g->held.len = 0;
        return finish;
    }
    if (g->route != R_CALL) return finish;
    if (!g->head_len) return finish; /* cut before the name was complete: nothing to report */
    if (stream_args(g, r, 1, complete)) return finish;
    size_t name_len = g->head_len - 9 - 14;
    size_t args_end = complete ? g->call.len - 1 : g->call.len;
    json_t *args = cli_json_text(g->call.data + g->head_len, args_end - g->head_len);
    json_t *calls = args ? json_pack("[{s:s, s:s, s:{s:s%, s:o}}]", "id", g->id, "type", "function", "function",
                                     "name", g->call.data + 9, name_len, "arguments", args)
                         : NULL;
    json_decref(r->tool_calls);
    r->tool_calls = calls;
    return complete ? "tool_calls" : finish;
}
