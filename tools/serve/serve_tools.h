/* serve_tools.h — structured output (`response_format`) and tool calling (`tools`,
 * `tool_choice`) for `rwkv serve`: request parsing into a grammar (HTTP side), the G1 text of
 * tool calls and tool listings, and the per-request grammar matcher that constrains sampling and
 * turns a generated call into `tool_calls` (scheduler side). docs/SERVER.md, "Structured output
 * and tool calls", describes the prompt format and the grammars. */
#ifndef RWKV_SERVE_TOOLS_H
#define RWKV_SERVE_TOOLS_H

#include "serve.h"

struct json_t;

/* The marker that starts a tool call in a G1 reply; the call follows as one JSON object
 * {"name": NAME, "arguments": {...}}. */
#define SRV_TOOL_MARKER "<tool_call>"

typedef enum srv_constraint_mode {
    SRV_CONSTRAIN_JSON = 1,   /* response_format json_object / json_schema: the reply is JSON */
    SRV_CONSTRAIN_TOOL_AUTO,  /* tool_choice auto: free text, possibly ended by one call */
    SRV_CONSTRAIN_TOOL_CALL   /* tool_choice required or a named function: exactly one call */
} srv_constraint_mode;

/* What a request asks of the reply's shape (owned by its job; read-only after parsing). */
typedef struct srv_constraint {
    srv_constraint_mode mode;
    rwkv_grammar *grammar;    /* compiled for this request (checks it before it is queued) */
    char *gbnf;               /* its text: the key of the scheduler's matcher cache */
    char *system;             /* the tools' listing for the prompt's first System turn, or NULL */
} srv_constraint;

/* -- the HTTP side (serve_request.c) -- */

/* Reads response_format, tools, tool_choice and parallel_tool_calls of a request body. *out is
 * NULL when nothing constrains the reply. May change *think (a JSON reply or a required call
 * starts right after "Assistant:"; thinking on is refused for them, not for tool_choice auto).
 * Returns 0, or the HTTP status (400, 500) with msg and param filled. */
int srv_constraint_parse(srv_kind kind, struct json_t *root, g1_think *think, srv_constraint **out,
                         char *msg, size_t msg_cap, char *param, size_t param_cap);
void srv_constraint_free(srv_constraint *c);

/* The G1 text of an assistant message's tool_calls (one "<tool_call>{...}" line per call), in
 * *out (malloc'd; NULL when the message has no tool_calls). 0, or -1 with msg/param filled (a
 * malformed tool_calls member: 400). */
int srv_tools_message_calls(struct json_t *m, size_t idx, char **out, char *msg, size_t msg_cap,
                            char *param, size_t param_cap);

/* -- the scheduler (serve_sched.c) -- */

typedef struct srv_guide srv_guide;

/* A matcher for j's constraint: a clone of the cached matcher of the same grammar text, which
 * shares what earlier requests computed (masks, transitions), or a new one. The server's token
 * trie is built on first use. 0 or -1. */
int srv_guide_new(server *s, const srv_job *j, srv_guide **out);
/* Frees the trie and the matcher cache (after the last guide is freed). */
void srv_guides_free(server *s);
void srv_guide_free(srv_guide *g);
/* One constrained sampling step. *token <= 0 ends the reply. -1 when the grammar cannot go on
 * (the reason is logged). */
int srv_guide_sample(srv_guide *g, rwkv_sampler *sampler, float *logits, int n_vocab, int32_t *token);
/* Takes the bytes of the sampled token: text goes to srv_reply_add, a tool call is kept (and
 * streamed as tool-call deltas). Returns 1 when the reply is complete (a stop string, or the
 * grammar is complete and nothing may follow), 0 if not, -1 on failure. */
int srv_guide_add(srv_guide *g, srv_reply *r, const char *bytes, size_t len);
/* Before srv_reply_finish: releases held text, or turns a generated call into r->tool_calls (and
 * the last deltas). Returns the finish reason to use ("tool_calls" for a complete call). */
const char *srv_guide_finish(srv_guide *g, srv_reply *r, const char *finish);

#endif
