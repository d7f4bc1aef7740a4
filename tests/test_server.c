/* test_server.c — end-to-end checks of `rwkv serve` (docs/SERVER.md) with the tiny RWKV-7 model:
 * endpoints over raw sockets and curl, the official `openai` npm client and the web page in
 * headless Chromium (tests/server/ *.mjs; missing node_modules or chromium FAIL, never skip), a
 * table of malformed requests, API keys, the queue limit, the prompt cache (second chat turn
 * prefills only its new tokens and answers as without the cache), client disconnects, a load run
 * (32 concurrent streams x 10, then 1,000 sequential requests) with RSS back to its plateau, and
 * a clean SIGTERM shutdown. Only 127.0.0.1 is contacted. */
#include "common/serve_client.h"
#include "common/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the malformed-request table --------------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    const char *method, *path;
    const char *body; /* NULL: see special */
    int status;
} bad_case;

static const bad_case bad_cases[] = {
    {"truncated JSON", "POST", "/v1/completions", "{\"prompt\": \"a\"", 400},
    {"not JSON", "POST", "/v1/completions", "hello", 400},
    {"JSON array body", "POST", "/v1/completions", "[]", 400},
    {"JSON string body", "POST", "/v1/completions", "\"prompt\"", 400},
    {"empty body", "POST", "/v1/completions", "", 400},
    {"trailing garbage", "POST", "/v1/completions", "{\"prompt\":\"a\"} x", 400},
    {"duplicate key", "POST", "/v1/completions", "{\"prompt\":\"a\",\"prompt\":\"b\"}", 400},
    {"prompt is a number", "POST", "/v1/completions", "{\"prompt\":5}", 400},
    {"prompt missing", "POST", "/v1/completions", "{\"max_tokens\":3}", 400},
    {"prompt empty", "POST", "/v1/completions", "{\"prompt\":\"\"}", 400},
    {"prompt token array", "POST", "/v1/completions", "{\"prompt\":[1,2,3]}", 400},
    {"max_tokens negative", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":-5}", 400},
    {"max_tokens zero", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":0}", 400},
    {"max_tokens above cap", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1000000000000}", 400},
    {"max_tokens float", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":5.5}", 400},
    {"max_tokens string", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":\"5\"}", 400},
    {"integer overflow", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":99999999999999999999999}", 400},
    {"real overflow", "POST", "/v1/completions", "{\"prompt\":\"a\",\"temperature\":1e400}", 400},
    {"temperature negative", "POST", "/v1/completions", "{\"prompt\":\"a\",\"temperature\":-1}", 400},
    {"temperature string", "POST", "/v1/completions", "{\"prompt\":\"a\",\"temperature\":\"hot\"}", 400},
    {"top_p zero", "POST", "/v1/completions", "{\"prompt\":\"a\",\"top_p\":0}", 400},
    {"top_p above 1", "POST", "/v1/completions", "{\"prompt\":\"a\",\"top_p\":1.5}", 400},
    {"top_k negative", "POST", "/v1/completions", "{\"prompt\":\"a\",\"top_k\":-1}", 400},
    {"presence_penalty 5", "POST", "/v1/completions", "{\"prompt\":\"a\",\"presence_penalty\":5}", 400},
    {"frequency_penalty bool", "POST", "/v1/completions", "{\"prompt\":\"a\",\"frequency_penalty\":true}", 400},
    {"stream not bool", "POST", "/v1/completions", "{\"prompt\":\"a\",\"stream\":\"yes\"}", 400},
    {"stream_options not object", "POST", "/v1/completions", "{\"prompt\":\"a\",\"stream_options\":1}", 400},
    {"seed float", "POST", "/v1/completions", "{\"prompt\":\"a\",\"seed\":1.5}", 400},
    {"n = 2", "POST", "/v1/completions", "{\"prompt\":\"a\",\"n\":2}", 400},
    {"n = 0", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":0}", 400},
    {"stop list of 5", "POST", "/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400},
    {"stop empty string", "POST", "/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"\"]}", 400},
    {"stop number", "POST", "/v1/completions", "{\"prompt\":\"a\",\"stop\":5}", 400},
    {"messages missing", "POST", "/v1/chat/completions", "{\"max_tokens\":2}", 400},
    {"messages empty", "POST", "/v1/chat/completions", "{\"messages\":[]}", 400},
    {"messages a string", "POST", "/v1/chat/completions", "{\"messages\":\"hi\"}", 400},
    {"message not an object", "POST", "/v1/chat/completions", "{\"messages\":[1]}", 400},
    {"bad role", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"a\"}]}", 400},
    {"role missing", "POST", "/v1/chat/completions", "{\"messages\":[{\"content\":\"a\"}]}", 400},
    {"content missing", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\"}]}", 400},
    {"content a number", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":42}]}", 400},
    {"content part without text", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400},
    {"chat_template_kwargs not object", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"chat_template_kwargs\":3}", 400},
    {"think not bool", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"think\":\"on\"}", 400},
    {"invalid UTF-8 byte", "POST", "/v1/completions", "{\"prompt\":\"a\xff\"}", 400},
    {"overlong UTF-8", "POST", "/v1/completions", "{\"prompt\":\"\xc0\xaf\"}", 400},
    {"UTF-8 surrogate", "POST", "/v1/completions", "{\"prompt\":\"\xed\xa0\x80\"}", 400},
    {"escaped lone surrogate", "POST", "/v1/completions", "{\"prompt\":\"\\ud800\"}", 400},
    {"escaped NUL", "POST", "/v1/completions", "{\"prompt\":\"a\\u0000b\"}", 400},
    {"model not a string", "POST", "/v1/completions", "{\"prompt\":\"a\",\"model\":7}", 400},
    {"functions (legacy, not supported)", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"functions\":[{\"name\":\"f\"}]}", 400},
    {"tools not an array", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":{}}", 400},
    {"tool not an object", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[1]}", 400},
    {"tool without function", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\"}]}", 400},
    {"tool name empty", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]}", 400},
    {"tool name with a space", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}", 400},
    {"tool parameters an array", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}", 400},
    {"tool parameters unsupported keyword", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"if\":{}}}}]}", 400},
    {"tool parameters bad $ref", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"$ref\":\"#/nowhere\"}}}]}", 400},
    {"tool_choice unknown function", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}", 400},
    {"tool_choice a number", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":1}", 400},
    {"tool_choice object without name", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\"}}", 400},
    {"tool_choice required without tools", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tool_choice\":\"required\"}", 400},
    {"tools on completions", "POST", "/v1/completions", "{\"prompt\":\"a\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", 400},
    {"tools with response_format json", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"response_format\":{\"type\":\"json_object\"}}", 400},
    {"tool message with numeric id", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":5,\"content\":\"x\"}]}", 400},
    {"assistant tool_calls not an array", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":{}}]}", 400},
    {"assistant tool_call without function", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\"}]}]}", 400},
    {"response_format not an object", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":\"json\"}", 400},
    {"response_format type unknown", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"xml\"}}", 400},
    {"response_format json_schema missing", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\"}}", 400},
    {"response_format schema missing", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", 400},
    {"response_format schema not JSON Schema", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":5}}}}", 400},
    {"response_format schema unsupported", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"pattern\":\"a\"}}}}", 400},
    {"response_format schema too deep", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{\"items\":{}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}", 400},
    {"response_format with thinking", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"think\":true,\"response_format\":{\"type\":\"json_object\"}}", 400},
    {"response_format strict not bool", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":1,\"schema\":{}}}}", 400},
    {"response_format json_object", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":2,\"response_format\":{\"type\":\"json_object\"}}", 200},
    {"tools, tool_choice none", "POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":2,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"none\"}", 200},
    {"tool message and assistant tool_calls", "POST", "/v1/chat/completions", "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"42\"}]}", 200},
    {"response_format text", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1,\"response_format\":{\"type\":\"text\"}}", 200},
    {"empty tools list", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1,\"tools\":[]}", 200},
    {"unknown fields are ignored", "POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1,\"foo\":{\"bar\":[1]},\"logit_bias\":{}}", 200},
    {"responses: input missing", "POST", "/v1/responses", "{\"max_output_tokens\":1}", 400},
    {"responses: input a number", "POST", "/v1/responses", "{\"input\":5}", 400},
    {"responses: input empty", "POST", "/v1/responses", "{\"input\":\"\"}", 400},
    {"responses: input empty list", "POST", "/v1/responses", "{\"input\":[]}", 400},
    {"responses: item bad role", "POST", "/v1/responses", "{\"input\":[{\"role\":\"robot\",\"content\":\"a\"}]}", 400},
    {"responses: item not a message", "POST", "/v1/responses", "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"x\"}]}", 400},
    {"responses: image part", "POST", "/v1/responses", "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]}", 400},
    {"responses: previous_response_id a number", "POST", "/v1/responses", "{\"input\":\"a\",\"previous_response_id\":7}", 400},
    {"responses: unknown previous_response_id", "POST", "/v1/responses", "{\"input\":\"a\",\"previous_response_id\":\"resp_x\"}", 404},
    {"responses: store not a boolean", "POST", "/v1/responses", "{\"input\":\"a\",\"store\":1}", 400},
    {"responses: max_output_tokens 0", "POST", "/v1/responses", "{\"input\":\"a\",\"max_output_tokens\":0}", 400},
    {"responses: instructions a number", "POST", "/v1/responses", "{\"input\":\"a\",\"instructions\":1}", 400},
    {"responses: reasoning effort unknown", "POST", "/v1/responses", "{\"input\":\"a\",\"reasoning\":{\"effort\":\"max\"}}", 400},
    {"responses: metadata not strings", "POST", "/v1/responses", "{\"input\":\"a\",\"metadata\":{\"k\":1}}", 400},
    {"responses: text.format json_schema without name", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":{\"format\":{\"type\":\"json_schema\"}}}", 400},
    {"responses: text.format schema missing", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\"}}}", 400},
    {"responses: text.format schema not JSON Schema", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\",\"schema\":{\"type\":5}}}}", 400},
    {"responses: text.format nested json_schema (chat's shape)", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":{\"format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{}}}}}", 400},
    {"responses: text.format type unknown", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":{\"format\":{\"type\":\"xml\"}}}", 400},
    {"responses: text not an object", "POST", "/v1/responses", "{\"input\":\"a\",\"text\":\"json\"}", 400},
    {"responses: text.format json with reasoning", "POST", "/v1/responses", "{\"input\":\"a\",\"reasoning\":{\"effort\":\"high\"},\"text\":{\"format\":{\"type\":\"json_object\"}}}", 400},
    {"responses: response_format (chat's field)", "POST", "/v1/responses", "{\"input\":\"a\",\"response_format\":{\"type\":\"json_object\"}}", 400},
    {"responses: text.format json_object", "POST", "/v1/responses", "{\"input\":\"a\",\"max_output_tokens\":2,\"text\":{\"format\":{\"type\":\"json_object\"}}}", 200},
    {"responses: tools (not supported)", "POST", "/v1/responses", "{\"input\":\"a\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}", 400},
    {"responses: background (not supported)", "POST", "/v1/responses", "{\"input\":\"a\",\"background\":true}", 400},
    {"responses: text format text", "POST", "/v1/responses", "{\"input\":\"a\",\"max_output_tokens\":1,\"text\":{\"format\":{\"type\":\"text\"}}}", 200},
    {"responses: unknown id", "GET", "/v1/responses/resp_0123", "", 404},
    {"responses: delete unknown id", "DELETE", "/v1/responses/resp_0123", "", 404},
    {"responses: POST on an id", "POST", "/v1/responses/resp_0123", "{}", 405},
    {"GET on completions", "GET", "/v1/completions", "", 405},
    {"PUT on chat", "PUT", "/v1/chat/completions", "{}", 405},
    {"DELETE on models", "DELETE", "/v1/models", "", 405},
    {"POST on health", "POST", "/health", "{}", 405},
    {"unknown route", "GET", "/v2/everything", "", 404},
    {"path traversal", "GET", "/../../etc/passwd", "", 404},
};

/* Requests that are not a simple method/path/body. */
static void special_cases(int port, int *n_cases) {
    char *b = NULL;
    /* 10 MB body announced by Content-Length: refused before it is read */
    size_t big = 10u << 20;
    char *data = malloc(big);
    memset(data, 'x', big);
    memcpy(data, "{\"prompt\":\"", 11);
    int st = http(port, "POST", "/v1/completions", "", data, big, &b);
    CHECK(st == 413 && b && strstr(b, "request_too_large"), "10 MB body: %d %s", st, b ? b : "");
    free(b);
    (*n_cases)++;
    /* 2 MB chunked body (no Content-Length): counted while it arrives */
    {
        int fd = connect_port(port);
        const char *h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
        send_all(fd, h, strlen(h));
        char line[32];
        for (int i = 0; i < 32; i++) {
            snprintf(line, sizeof line, "%x\r\n", 65536);
            if (send_all(fd, line, strlen(line)) || send_all(fd, data, 65536) || send_all(fd, "\r\n", 2)) break;
        }
        send_all(fd, "0\r\n\r\n", 5);
        size_t n;
        char *resp = recv_all(fd, &n);
        close(fd);
        CHECK(resp && !strncmp(resp, "HTTP/1.1 413", 12), "2 MB chunked body: %.40s", resp ? resp : "");
        free(resp);
        (*n_cases)++;
    }
    free(data);
    /* deep nesting */
    size_t depth = 100000;
    char *deep = malloc(depth + 1);
    memset(deep, '[', depth);
    deep[depth] = 0;
    st = post(port, "/v1/completions", deep, NULL);
    CHECK(st == 400, "100000 nested arrays: %d", st);
    free(deep);
    (*n_cases)++;
    /* 3000 messages */
    {
        char *m = malloc(3000 * 40 + 64), *w = m;
        w += sprintf(w, "{\"messages\":[");
        for (int i = 0; i < 3000; i++) w += sprintf(w, "%s{\"role\":\"user\",\"content\":\"x\"}", i ? "," : "");
        sprintf(w, "]}");
        st = post(port, "/v1/chat/completions", m, NULL);
        CHECK(st == 400, "3000 messages: %d", st);
        free(m);
        (*n_cases)++;
    }
    /* not HTTP at all: libmicrohttpd closes the connection */
    st = http_raw(port, "GARBAGE\r\n\r\n", 11, NULL);
    CHECK(st == 400 || st == 0, "garbage request line: %d", st);
    (*n_cases)++;
    const char *v99 = "GET /health HTTP/9.9\r\nHost: x\r\n\r\n";
    st = http_raw(port, v99, strlen(v99), NULL);
    CHECK(st == 505, "HTTP/9.9: %d", st);
    (*n_cases)++;
    const char *neg = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n";
    st = http_raw(port, neg, strlen(neg), NULL);
    CHECK(st == 400, "negative Content-Length: %d", st);
    (*n_cases)++;
    /* slow loris: headers never finished; then a body that never comes. Both closed by --timeout */
    const char *partial[2] = {"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le",
                              "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro"};
    for (int k = 0; k < 2; k++) {
        int fd = connect_port(port);
        send_all(fd, partial[k], strlen(partial[k]));
        double t0 = now_s();
        size_t n;
        char *resp = recv_all(fd, &n); /* returns when the server closes */
        double dt = now_s() - t0;
        close(fd);
        CHECK(dt < 10 && (n == 0 || strstr(resp, " 408 ") || strstr(resp, " 400 ")),
              "slow-loris %d: closed after %.1f s with %zu bytes", k, dt, n);
        free(resp);
        (*n_cases)++;
    }
}

/* ---- concurrency ----------------------------------------------------------------------------- */

typedef struct load_arg {
    int port, n_req, ok, bad;
} load_arg;

/* n_req streaming chat requests in a row; counts complete streams. */
static void *load_client(void *p) {
    load_arg *a = p;
    for (int i = 0; i < a->n_req; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"load %d\"}],\"max_tokens\":8,"
                 "\"stream\":true,\"temperature\":1}", i % 3);
        char req[512];
        int h = snprintf(req, sizeof req,
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(body), body);
        int fd = connect_port(a->port);
        if (fd < 0) {
            a->bad++;
            continue;
        }
        send_all(fd, req, (size_t)h);
        size_t n;
        char *resp = recv_all(fd, &n);
        close(fd);
        const char *tail = "data: [DONE]\n\n\r\n0\r\n\r\n";
        size_t tl = strlen(tail);
        if (resp && !strncmp(resp, "HTTP/1.1 200", 12) && n > tl && !memcmp(resp + n - tl, tail, tl) &&
            strstr(resp, "\"finish_reason\":\""))
            a->ok++;
        else
            a->bad++;
        free(resp);
    }
    return NULL;
}

/* 32 clients x 10 streams, then n_seq sequential short requests. Returns errors. */
static int load_round(int port, int n_seq) {
    enum { N = 32 };
    pthread_t th[N];
    load_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (load_arg){port, 10, 0, 0};
        pthread_create(&th[i], NULL, load_client, &args[i]);
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
        bad += args[i].bad;
    }
    CHECK(ok == N * 10 && bad == 0, "concurrent streams: %d complete, %d bad", ok, bad);
    int seq_bad = 0;
    for (int i = 0; i < n_seq; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"prompt\":\"seq %d\",\"max_tokens\":2}", i % 50);
        if (post(port, "/v1/completions", body, NULL) != 200) seq_bad++;
    }
    CHECK(seq_bad == 0, "%d of %d sequential requests failed", seq_bad, n_seq);
    return bad + seq_bad;
}

/* ---- fair prefill: a short request is answered while a long prompt is being prefilled ---- */

static void fair_prefill(void) {
    srv f;
    int rc = srv_start(&f, "fair", "--parallel", "4", "--cache-mb", "0", "--quiet", NULL);
    CHECK(rc == 0, "fairness server did not start (see %s)", f.log);
    if (rc) return;
    /* a prompt of 120,000 bytes = tokens of the byte model: seconds of prefill */
    size_t n_long = 120000;
    char *body = malloc(n_long + 64), *w = body;
    w += sprintf(w, "{\"prompt\":\"");
    for (size_t i = 0; i < n_long; i++) *w++ = "abcdefgh ijklmnop"[i % 17];
    w += sprintf(w, "\",\"max_tokens\":1}");
    char head[256];
    int h = snprintf(head, sizeof head, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                     (size_t)(w - body));
    int fd = connect_port(f.port);
    send_all(fd, head, (size_t)h);
    send_all(fd, body, (size_t)(w - body));
    free(body);
    double p0 = 0;
    for (int i = 0; i < 200 && p0 <= 0; i++) { /* the long prefill has begun */
        usleep(20000);
        p0 = metric(f.port, "rwkv_prefill_tokens_total");
    }
    char *b = NULL;
    int st = post(f.port, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2}", &b);
    double p1 = metric(f.port, "rwkv_prefill_tokens_total");
    struct pollfd pl = {.fd = fd, .events = POLLIN};
    int long_pending = poll(&pl, 1, 0) == 0;
    CHECK(st == 200 && json_int(b, "completion_tokens") == 2, "short request during a long prefill: %d %s", st,
          b ? b : "");
    CHECK(p0 > 0 && p1 < (double)n_long && long_pending,
          "the short request waited for the long prompt (%g of %zu tokens prefilled when it was answered)", p1, n_long);
    CHECK(p1 - p0 > 2, "the long prompt did not progress while the short one ran (%g -> %g)", p0, p1);
    free(b);
    close(fd); /* the long request is dropped */
    CHECK(metric_wait(f.port, NULL, "rwkv_cancelled_total", 1) == 1, "the long request was dropped");
    CHECK(metric(f.port, "rwkv_active_sequences") == 0, "nothing left active");
    CHECK(srv_stop(&f) == 0, "fairness server: clean exit");
    unlink(f.log);
}

/* ---- connection limits: idle connections from one address do not lock others out ---- */

static int health_from(int port, const char *src) {
    char *b = NULL;
    int st = get_from(port, src, "/health", &b);
    int ok = st == 200 && b && strstr(b, "\"ok\"");
    free(b);
    return ok ? 200 : st;
}

static void connection_limits(void) {
    srv c;
    /* a long --timeout: idle connections are not closed by it during the test */
    int rc = srv_start(&c, "conn", "--timeout", "60", "--quiet", NULL);
    CHECK(rc == 0, "connection server did not start (see %s)", c.log);
    if (rc) return;
    enum { N = 1100 }; /* more than the 1,000 connections of the pool, from one address */
    static int fds[N];
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = connect_to(c.port, NULL, 0, 20);
        opened += fds[i] >= 0;
    }
    CHECK(opened == N, "opened %d of %d connections", opened, N);
    CHECK(health_from(c.port, NULL) == 200, "/health from the same address with %d idle connections open", N);
    CHECK(health_from(c.port, "127.0.0.2") == 200, "/health from another address with %d idle connections open", N);
    int closed = 0;
    for (int i = 0; i < N; i++) {
        char x;
        if (fds[i] >= 0 && recv(fds[i], &x, 1, MSG_DONTWAIT) == 0) closed++;
    }
    double evicted = metric_from(c.port, "127.0.0.2", "rwkv_connections_evicted_total");
    printf("test_server: %d idle connections from one address: %d closed by the server, %g evicted\n", N, closed,
           evicted);
    CHECK(closed >= N - 128 && evicted >= N - 128, "idle connections over the per-address limit: %d closed, %g evicted",
          closed, evicted);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0) close(fds[i]);
    CHECK(srv_stop(&c) == 0, "connection server: clean exit");
    unlink(c.log);

    /* no idle connection to close: the next one from that address is refused at once */
    rc = srv_start(&c, "conn2", "--timeout", "60", "--max-conn-per-ip", "2", "--parallel", "1", "--max-tokens",
                   "1000000", "--quiet", NULL);
    CHECK(rc == 0, "second connection server did not start (see %s)", c.log);
    if (rc) return;
    const char *longreq = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 53\r\n\r\n"
                          "{\"prompt\":\"the\",\"max_tokens\":1000000,\"temperature\":0}";
    int busy[2];
    for (int i = 0; i < 2; i++) {
        busy[i] = connect_port(c.port);
        send_all(busy[i], longreq, strlen(longreq));
    }
    CHECK(metric_wait(c.port, "127.0.0.2", "rwkv_queue_length", 1) == 1, "one running, one queued");
    char *resp = NULL;
    int was_closed = 0;
    const char *hreq = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    int st = exchange(c.port, hreq, strlen(hreq), 20, &resp, &was_closed);
    CHECK(st == 0 && was_closed, "a third connection from a busy address is refused at once: %d %d", st, was_closed);
    free(resp);
    CHECK(metric_from(c.port, "127.0.0.2", "rwkv_connections_refused_total") >= 1, "the refusal is counted");
    CHECK(health_from(c.port, "127.0.0.2") == 200, "another address still gets in");
    for (int i = 0; i < 2; i++) close(busy[i]);
    CHECK(srv_stop(&c) == 0, "second connection server: clean exit");
    unlink(c.log);
}

/* ---- framing libmicrohttpd cannot handle: answered and closed at once ---- */

static void framing_cases(int *n_cases) {
    srv c;
    int rc = srv_start(&c, "framing", "--timeout", "60", "--quiet", NULL);
    CHECK(rc == 0, "framing server did not start (see %s)", c.log);
    if (rc) return;
    static const struct {
        const char *name, *req;
        int status;
        const char *body; /* expected in the answer */
    } cases[] = {
        {"Transfer-Encoding gzip", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501,
         "\"not_implemented\""},
        {"two Content-Length", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
         400, "more than once"},
        {"Transfer-Encoding and Content-Length",
         "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400,
         "both Transfer-Encoding"},
        /* answered by libmicrohttpd itself (HTML body; see docs/SERVER.md) */
        {"negative Content-Length", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, ""},
        {"HTTP/9.9", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505, ""},
        {"garbage request line", "GARBAGE\r\n\r\n", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *resp = NULL;
        int closed = 0;
        int st = exchange(c.port, cases[i].req, strlen(cases[i].req), 20, &resp, &closed);
        CHECK(st == cases[i].status && closed && resp && strstr(resp, cases[i].body),
              "%s: status %d (want %d), closed %d: %.300s", cases[i].name, st, cases[i].status, closed,
              resp ? resp : "");
        free(resp);
        (*n_cases)++;
    }
    CHECK(srv_stop(&c) == 0, "framing server: clean exit");
    unlink(c.log);
}

/* ---- SIGINT with queued requests: the running one ends with "length", queued ones get 503 ---- */

static void shutdown_answers(void) {
    srv d;
    int rc = srv_start(&d, "stop", "--parallel", "1", "--max-tokens", "1000000", "--quiet", NULL);
    CHECK(rc == 0, "shutdown server did not start (see %s)", d.log);
    if (rc) return;
    /* greedy decoding of "the" does not reach the end-of-text token: it runs until stopped */
    const char *bodies[3] = {"{\"prompt\":\"the\",\"max_tokens\":1000000,\"temperature\":0}",
                             "{\"prompt\":\"the\",\"max_tokens\":5,\"stream\":true}",
                             "{\"prompt\":\"the\",\"max_tokens\":5}"};
    int fds[3];
    for (int i = 0; i < 3; i++) {
        char req[512];
        int h = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(bodies[i]), bodies[i]);
        fds[i] = connect_port(d.port);
        send_all(fds[i], req, (size_t)h);
        CHECK(metric_wait(d.port, NULL, i == 0 ? "rwkv_active_sequences" : "rwkv_queue_length", i ? i : 1) == (i ? i : 1),
              "request %d is %s", i, i ? "queued" : "running");
    }
    kill(d.pid, SIGINT);
    for (int i = 0; i < 3; i++) {
        size_t n;
        char *r = recv_all(fds[i], &n);
        close(fds[i]);
        if (i == 0)
            CHECK(r && !strncmp(r, "HTTP/1.1 200", 12) && strstr(r, "\"finish_reason\":\"length\""),
                  "the running request ends with length: %.200s", r ? r : "");
        else
            CHECK(r && !strncmp(r, "HTTP/1.1 503", 12) && strstr(r, "shutting down") && strstr(r, "\"overloaded\""),
                  "queued request %d gets 503: %.300s", i, r ? r : "");
        free(r);
    }
    const int code = srv_wait(&d, 15000);
    if (d.pid > 0) srv_stop(&d);
    CHECK(code == 0, "exit status %d after SIGINT", code);
    unlink(d.log);
}

/* SIGTERM drains: the listening socket closes at once (a load balancer's next connection goes
 * elsewhere), /health and new requests on open connections get 503 with Connection: close, and
 * what was admitted or queued finishes normally; then exit 0. */
static void graceful_drain(void) {
    srv d;
    int rc = srv_start(&d, "drain", "--parallel", "1", "--quiet", NULL);
    CHECK(rc == 0, "drain server did not start (see %s)", d.log);
    if (rc) return;
    const char *bodies[2] = {"{\"prompt\":\"the\",\"max_tokens\":4000,\"temperature\":0,\"stream\":true,"
                             "\"stream_options\":{\"include_usage\":true}}",
                             "{\"prompt\":\"the\",\"max_tokens\":20,\"temperature\":0}"};
    int fds[2];
    for (int i = 0; i < 2; i++) {
        char req[512];
        int h = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(bodies[i]), bodies[i]);
        fds[i] = connect_port(d.port);
        send_all(fds[i], req, (size_t)h);
        CHECK(metric_wait(d.port, NULL, i == 0 ? "rwkv_active_sequences" : "rwkv_queue_length", 1) == 1,
              "drain: request %d is %s", i, i ? "queued" : "running");
    }
    int idle = connect_port(d.port); /* an open keep-alive connection */
    kill(d.pid, SIGTERM);
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        int fd = connect_port(d.port);
        refused = fd < 0;
        if (fd >= 0) close(fd);
        else break;
        usleep(20000);
    }
    CHECK(refused, "drain: new connections are refused");
    const char *hreq = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(idle, hreq, strlen(hreq));
    size_t n = 0;
    char *r = recv_all(idle, &n);
    CHECK(r && !strncmp(r, "HTTP/1.1 503", 12) && strstr(r, "draining") && strcasestr(r, "Connection: close"),
          "drain: /health on an open connection: %.300s", r ? r : "");
    free(r);
    close(idle);
    for (int i = 0; i < 2; i++) {
        r = recv_all(fds[i], &n);
        close(fds[i]);
        CHECK(r && !strncmp(r, "HTTP/1.1 200", 12) &&
                  strstr(r, i ? "\"completion_tokens\":20" : "\"completion_tokens\":4000") &&
                  (i || strstr(r, "data: [DONE]")),
              "drain: request %d finished in full: %.200s", i, r ? r + (n > 300 ? n - 300 : 0) : "");
        free(r);
    }
    const int code = srv_wait(&d, 15000);
    if (d.pid > 0) srv_stop(&d);
    CHECK(code == 0, "exit status %d after the drain", code);
    unlink(d.log);
}

/* Starts `rwkv serve -m model` and returns its port from the "bound to" line (0 if none), before
 * the model is loaded. */
static int start_unloaded(const char *model, const char *log, pid_t *pid) {
    *pid = fork();
    if (*pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(test_rwkv_bin(), test_rwkv_bin(), "serve", "-m", model, "--port", "0", "--quiet", (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 300 && !port && *pid > 0; i++) {
        usleep(100000);
        size_t n = 0;
        char *txt = test_read_file(log, &n);
        const char *at = txt ? strstr(txt, "bound to http://127.0.0.1:") : NULL;
        if (at) port = atoi(at + 26);
        free(txt);
    }
    return port;
}

/* The exit status of pid (waiting up to 10 s; then it is killed and -1 returned). */
static int exit_status(pid_t pid) {
    for (int i = 0; i < 1000; i++) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* While the model loads, the server already answers: /health and the API 503, /metrics ready 0;
 * a signal then ends it at once. The model is a FIFO, so loading waits until the test opens it
 * (and then fails: not a file). */
static void loading(void) {
    char fifo[128], log[128];
    snprintf(fifo, sizeof fifo, "/tmp/test_server_%d_fifo.pth", (int)getpid());
    snprintf(log, sizeof log, "/tmp/test_server_%d_loading.log", (int)getpid());
    unlink(fifo);
    if (mkfifo(fifo, 0600)) {
        CHECK(0, "mkfifo %s failed", fifo);
        return;
    }
    pid_t pid;
    int port = start_unloaded(fifo, log, &pid);
    CHECK(port > 0, "loading: no 'bound to' line in %s", log);
    if (port) {
        char *b = NULL;
        CHECK(get(port, "/health", &b) == 503 && b && strstr(b, "loading"), "loading: /health %s", b ? b : "");
        free(b);
        b = NULL;
        CHECK(post(port, "/v1/completions", "{\"prompt\":\"a\"}", &b) == 503 && b && strstr(b, "loading"),
              "loading: a completion gets 503: %s", b ? b : "");
        free(b);
        CHECK(metric(port, "rwkv_ready") == 0, "loading: rwkv_ready 0");
    }
    kill(pid, SIGTERM);
    int code = exit_status(pid);
    CHECK(code == 0, "loading: exit %d after SIGTERM while loading", code);
    port = start_unloaded(fifo, log, &pid);
    CHECK(port > 0, "loading: second server: no 'bound to' line");
    int w = open(fifo, O_WRONLY); /* lets the loader's open() return; a FIFO is not a model */
    if (w >= 0) close(w);
    code = exit_status(pid);
    size_t n = 0;
    char *txt = test_read_file(log, &n);
    CHECK(code == 1 && txt && strstr(txt, "not a regular file"), "loading: exit %d after a bad model: %s", code,
          txt ? txt : "");
    free(txt);
    unlink(fifo);
    unlink(log);
}

/* ---- command-line checks that need no running server ---- */

/* Runs `rwkv serve ARGS` expecting it to fail at start-up: exit status and stderr. */
static int serve_fails(const char *args, char **err) {
    char cmd[2048], out[128], errp[128];
    snprintf(out, sizeof out, "/tmp/test_server_%d_cmd.out", (int)getpid());
    snprintf(errp, sizeof errp, "/tmp/test_server_%d_cmd.err", (int)getpid());
    snprintf(cmd, sizeof cmd, "timeout 60 %s serve -m %s --port 0 --threads 1 %s >%s 2>%s", test_rwkv_bin(),
             test_shared("models/tiny-rwkv-7v0-834K.pth"), args, out, errp);
    test_run_result r;
    test_system_capture(cmd, out, errp, &r);
    *err = r.err;
    r.err = NULL;
    int rc = r.rc;
    test_result_free(&r);
    unlink(out);
    unlink(errp);
    return rc;
}

static void start_up_errors(const char *keyfile_dir) {
    static const struct {
        const char *name, *file_text, *args; /* file_text: written to the key file first */
        int rc;
        const char *msg;
    } cases[] = {
        {"missing key file", NULL, "--api-key-file /nonexistent/keys.txt", 2, "/nonexistent/keys.txt"},
        {"key file without keys", "# only a comment\n\n   \n", "--api-key-file KEYFILE", 2, "no key"},
        {"key with a space", "good\nbad key\n", "--api-key-file KEYFILE", 2, "line 2"},
        {"empty --alias", NULL, "--alias ''", 2, "--alias"},
        {"host that does not resolve", NULL, "--host no-such-host.invalid", 1, "cannot resolve"},
    };
    char keyfile[256];
    snprintf(keyfile, sizeof keyfile, "%s/bad_keys.txt", keyfile_dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].file_text) {
            FILE *f = fopen(keyfile, "w");
            if (f) {
                fputs(cases[i].file_text, f);
                fclose(f);
            }
        }
        char args[512];
        const char *at = strstr(cases[i].args, "KEYFILE");
        if (at) snprintf(args, sizeof args, "%.*s%s", (int)(at - cases[i].args), cases[i].args, keyfile);
        else snprintf(args, sizeof args, "%s", cases[i].args);
        char *err = NULL;
        int rc = serve_fails(args, &err);
        CHECK(rc == cases[i].rc && err && strstr(err, "rwkv: error: ") && strstr(err, cases[i].msg),
              "%s: exit %d (want %d): %s", cases[i].name, rc, cases[i].rc, err ? err : "");
        free(err);
    }
    unlink(keyfile);
}

/* ---- a host name, and the id of a .bin model ---- */

static void host_name(void) {
    srv h;
    int rc = srv_start(&h, "host", "--host", "localhost", "-m", test_shared("models/tiny-rwkv-7v0-834K-FP16.bin"),
                       "--quiet", NULL);
    CHECK(rc == 0, "--host localhost: server did not start (see %s)", h.log);
    if (rc) return;
    int fd = connect_to(h.port, NULL, h.v6, 30);
    const char *req = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    size_t n;
    char *r = fd >= 0 ? recv_all(fd, &n) : NULL;
    if (fd >= 0) close(fd);
    CHECK(r && !strncmp(r, "HTTP/1.1 200", 12) && strstr(r, "\"id\":\"tiny-rwkv-7v0-834K-FP16\""),
          "--host localhost answers; a .bin model's id has no extension: %.300s", r ? r : "");
    free(r);
    CHECK(srv_stop(&h) == 0, "host server: clean exit");
    unlink(h.log);
}

/* ---- the test ---------------------------------------------------------------------------------- */

/* Structured output and tool calls (tests/server/tools.mjs) on a random-weight model with the World
 * vocabulary (65,536 tokens, most of them several bytes): nothing but the grammar keeps its replies
 * valid. The main server's byte-vocabulary model runs the same script. */
static void random_world_tools(void) {
    char dir[] = "/tmp/test_server_rnd_XXXXXX", path[96], cmd[512], url[96];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/random.pth", dir);
    snprintf(cmd, sizeof cmd, "%s init --shape L2C64 --vocab 65536 --seed 3 %s 2>/dev/null", test_rwkv_bin(), path);
    int rc = system(cmd);
    CHECK(rc == 0, "rwkv init of the random World-vocabulary model");
    srv r;
    if (rc == 0 && srv_start(&r, "random", "-m", path, "--vocab", test_shared("data/rwkv_vocab_v20230424.txt"),
                             "--quiet", NULL) == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", r.port);
        CHECK(run_node("tools.mjs", url) == 0, "tests/server/tools.mjs failed on the random World-vocabulary model");
        CHECK(srv_stop(&r) == 0, "random-model server: clean exit");
    } else if (rc == 0) {
        CHECK(0, "the random-model server did not start (see %s)", r.log);
    }
    unlink(path);
    rmdir(dir);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!test_require_shared()) return test_summary("test_server");
    double t_start = now_s();
    srv s;
    int rc = srv_start(&s, "main", "--parallel", "8", "--timeout", "2", "--cache-mb", "16", NULL);
    CHECK(rc == 0, "rwkv serve did not start (see %s)", s.log);
    if (rc) return test_summary("test_server");
    int port = s.port;
    char *b = NULL;

    /* a second server: API keys (option, file, environment), strict model names with an alias,
     * CORS for the first server's page, no cache, one slot and a queue of one, no access log */
    char keyfile[256], main_origin[64];
    snprintf(keyfile, sizeof keyfile, "/tmp/test_server_%d_keys.txt", (int)getpid());
    FILE *kf = fopen(keyfile, "w");
    if (kf) {
        fputs("# API keys, one per line\n\nfilekey1\n  filekey2  \r\n# filekey3\n", kf);
        fclose(kf);
    }
    snprintf(main_origin, sizeof main_origin, "http://127.0.0.1:%d", port);
    setenv("RWKV_API_KEY", "envkey", 1);
    srv s2;
    rc = srv_start(&s2, "key", "--api-key", "sekrit", "--api-key-file", keyfile, "--strict-model", "--alias",
                   "rwkv-alias", "--cors", "http://example.test", "--cors", main_origin, "--cache-mb", "0",
                   "--parallel", "1", "--queue", "1", "--quiet", NULL);
    unsetenv("RWKV_API_KEY");
    CHECK(rc == 0, "second rwkv serve did not start (see %s)", s2.log);

    /* ---- endpoints ---- */
    CHECK(get(port, "/health", &b) == 200 && b && strstr(b, "\"ok\""), "/health: %s", b ? b : "");
    free(b);
    CHECK(get(port, "/v1/models", &b) == 200 && b && strstr(b, "\"tiny-rwkv-7v0-834K\""), "/v1/models: %s", b ? b : "");
    free(b);
    CHECK(get(port, "/v1/models/tiny-rwkv-7v0-834K", &b) == 200, "/v1/models/ID");
    free(b);
    CHECK(get(port, "/", &b) == 200 && b && strstr(b, "<title>rwkv chat</title>") && !strstr(b, "http://") &&
              !strstr(b, "https://"),
          "web page is served and self-contained");
    free(b);
    int st = post(port, "/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":5,\"temperature\":0}", &b);
    CHECK(st == 200 && b && strstr(b, "\"text_completion\"") && json_int(b, "completion_tokens") == 5 &&
              json_int(b, "prompt_tokens") == 5 && strstr(b, "\"finish_reason\":\"length\""),
          "completion: %d %s", st, b ? b : "");
    free(b);
    /* any model name is served (the response names the served model) */
    st = post(port, "/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":2,\"model\":\"gpt-4\"}", &b);
    CHECK(st == 200 && b && strstr(b, "\"model\":\"tiny-rwkv-7v0-834K\""), "model gpt-4: %d %s", st, b ? b : "");
    free(b);
    st = get(port, "/v1/models/gpt-4", &b);
    CHECK(st == 200 && b && strstr(b, "\"id\":\"tiny-rwkv-7v0-834K\"") && strstr(b, "\"max_tokens\":4096"),
          "/v1/models/gpt-4: %d %s", st, b ? b : "");
    free(b);
    /* OPTIONS without --cors: allowed methods, no CORS headers */
    {
        const char *opt = "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://example.test\r\n"
                          "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n";
        char *resp = NULL;
        int closed = 0;
        st = exchange(port, opt, strlen(opt), 30, &resp, &closed);
        CHECK(st == 204 && resp && strstr(resp, "Allow: POST, OPTIONS") && !strstr(resp, "Access-Control-Allow-Origin"),
              "OPTIONS without --cors: %d %.300s", st, resp ? resp : "");
        free(resp);
    }
    st = post(port, "/v1/chat/completions",
              "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4,\"temperature\":0}", &b);
    CHECK(st == 200 && b && strstr(b, "\"chat.completion\"") && strstr(b, "\"role\":\"assistant\""),
          "chat: %d %s", st, b ? b : "");
    free(b);
    /* thinking: the reply after "<think" goes to reasoning_content until </think> */
    st = post(port, "/v1/chat/completions",
              "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":6,\"temperature\":0,"
              "\"think\":true}", &b);
    CHECK(st == 200 && b && strstr(b, "\"reasoning_content\""), "think: %d %s", st, b ? b : "");
    free(b);
    st = post(port, "/v1/chat/completions",
              "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":6,\"temperature\":0,"
              "\"chat_template_kwargs\":{\"enable_thinking\":false}}", &b);
    CHECK(st == 200 && b && !strstr(b, "\"reasoning_content\""), "no think: %d %s", st, b ? b : "");
    free(b);

    /* curl: a streamed chat */
    if (!file_exists("/usr/bin/curl")) {
        CHECK(0, "curl is not installed (apt-get install curl)");
    } else {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "curl -sN --max-time 30 http://127.0.0.1:%d/v1/chat/completions -H 'Content-Type: application/json' "
                 "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":6,\"stream\":true}'",
                 port);
        FILE *f = popen(cmd, "r");
        char out[16384];
        size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
        out[n] = 0;
        int prc = f ? pclose(f) : -1;
        CHECK(prc == 0 && strstr(out, "data: {") && n > 14 && !strcmp(out + n - 14, "data: [DONE]\n\n"),
              "curl stream (rc %d): %.200s", prc, out);
    }

    /* ---- malformed requests ---- */
    int n_cases = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        st = http(port, c->method, c->path, "", c->body, strlen(c->body), &b);
        int shape_ok = c->status == 200 || (b && strstr(b, "{\"error\":{\"message\":\"") && strstr(b, "\"type\":") &&
                                            strstr(b, "\"param\":") && strstr(b, "\"code\":"));
        CHECK(st == c->status && shape_ok, "malformed '%s': got %d, want %d: %s", c->name, st, c->status, b ? b : "");
        free(b);
        n_cases++;
    }
    special_cases(port, &n_cases);
    CHECK(n_cases >= 30, "only %d malformed cases", n_cases);
    CHECK(get(port, "/health", NULL) == 200, "server alive after the malformed requests");
    st = post(port, "/v1/completions", "{\"prompt\":\"still\",\"max_tokens\":3}", NULL);
    CHECK(st == 200, "completion after the malformed requests: %d", st);
    printf("test_server: %d malformed-request cases\n", n_cases);

    /* ---- node: the openai client and the web page in chromium ---- */
    char url[128];
    int have_node = file_exists("tests/server/node_modules/openai/package.json") &&
                    file_exists("tests/server/node_modules/playwright-core/package.json");
    if (!have_node)
        fprintf(stderr, "\n*** tests/server/node_modules is missing: run `npm ci` in tests/server "
                        "(the openai and playwright-core packages). Counted as FAILED.\n\n");
    CHECK(have_node, "tests/server/node_modules (openai, playwright-core) is not installed");
    CHECK(file_exists("/usr/bin/chromium"), "/usr/bin/chromium is not installed (apt-get install chromium)");
    if (have_node) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
        CHECK(run_node("openai.mjs", url) == 0, "tests/server/openai.mjs failed");
        CHECK(run_node("responses.mjs", url) == 0, "tests/server/responses.mjs failed");
        CHECK(run_node("tools.mjs", url) == 0, "tests/server/tools.mjs failed");
        random_world_tools();
        if (file_exists("/usr/bin/chromium")) {
            snprintf(url, sizeof url, "http://127.0.0.1:%d/' http://127.0.0.1:%d/ '4096", port, s2.port);
            CHECK(run_node("webpage.mjs", url) == 0, "tests/server/webpage.mjs failed");
        }
    }

    /* ---- the second server: API keys, strict model names, CORS ---- */
    const char *small = "{\"prompt\":\"a\",\"max_tokens\":1}";
    if (s2.port) {
        st = http(s2.port, "POST", "/v1/completions", "", small, strlen(small), &b);
        CHECK(st == 401 && b && strstr(b, "invalid_api_key"), "missing key: %d", st);
        free(b);
        st = http(s2.port, "POST", "/v1/completions", "Authorization: Bearer wrong\r\n", small, strlen(small), NULL);
        CHECK(st == 401, "wrong key: %d", st);
        st = http(s2.port, "POST", "/v1/completions", "Authorization: Basic c2Vrcml0\r\n", small, strlen(small), NULL);
        CHECK(st == 401, "basic auth: %d", st);
        st = http(s2.port, "GET", "/v1/models", "", "", 0, NULL);
        CHECK(st == 401, "models without key: %d", st);
        st = http(s2.port, "POST", "/v1/completions", "Authorization: Bearer sekrit\r\n", small, strlen(small), NULL);
        CHECK(st == 200, "right key: %d", st);
        CHECK(http(s2.port, "GET", "/health", "", "", 0, NULL) == 200, "health needs no key");
        n_cases += 4;
        /* every key of the file and of RWKV_API_KEY works; a commented-out one does not */
        static const char *const keys[] = {"filekey1", "filekey2", "envkey", "filekey3"};
        for (int i = 0; i < 4; i++) {
            char hdr[128];
            snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", keys[i]);
            st = http(s2.port, "GET", "/v1/models", hdr, "", 0, &b);
            CHECK(st == (i < 3 ? 200 : 401), "key %s: %d", keys[i], st);
            if (i == 0)
                CHECK(b && strstr(b, "\"id\":\"tiny-rwkv-7v0-834K\"") && strstr(b, "\"id\":\"rwkv-alias\""),
                      "/v1/models lists the alias: %s", b ? b : "");
            free(b);
        }
        /* --strict-model: other names are 404, the alias is served */
        const char *auth = "Authorization: Bearer sekrit\r\n";
        const char *gpt4 = "{\"prompt\":\"a\",\"max_tokens\":1,\"model\":\"gpt-4\"}";
        st = http(s2.port, "POST", "/v1/completions", auth, gpt4, strlen(gpt4), &b);
        CHECK(st == 404 && b && strstr(b, "\"model_not_found\"") && strstr(b, "\"param\":\"model\""),
              "strict: unknown model: %d %s", st, b ? b : "");
        free(b);
        const char *alias = "{\"prompt\":\"a\",\"max_tokens\":1,\"model\":\"rwkv-alias\"}";
        st = http(s2.port, "POST", "/v1/completions", auth, alias, strlen(alias), &b);
        CHECK(st == 200 && b && strstr(b, "\"model\":\"tiny-rwkv-7v0-834K\""), "strict: alias: %d %s", st, b ? b : "");
        free(b);
        CHECK(http(s2.port, "GET", "/v1/models/gpt-17", auth, "", 0, NULL) == 404, "strict: /v1/models/gpt-17");
        CHECK(http(s2.port, "GET", "/v1/models/rwkv-alias", auth, "", 0, NULL) == 200, "strict: /v1/models/rwkv-alias");
        n_cases += 3;
        /* CORS: a preflight from an allowed origin, a request from it, and another origin */
        const char *pre = "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://example.test\r\n"
                          "Access-Control-Request-Method: POST\r\n"
                          "Access-Control-Request-Headers: authorization, content-type, x-stainless-os\r\n"
                          "Connection: close\r\n\r\n";
        char *resp = NULL;
        int closed = 0;
        st = exchange(s2.port, pre, strlen(pre), 30, &resp, &closed);
        CHECK(st == 204 && resp && strstr(resp, "Access-Control-Allow-Origin: http://example.test\r\n") &&
                  strstr(resp, "Access-Control-Allow-Methods: POST, OPTIONS\r\n") &&
                  strstr(resp, "Access-Control-Allow-Headers: authorization, content-type, x-stainless-os\r\n"),
              "CORS preflight: %d %.400s", st, resp ? resp : "");
        free(resp);
        const char *corspost = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://example.test\r\n"
                               "Authorization: Bearer sekrit\r\nContent-Length: 29\r\nConnection: close\r\n\r\n"
                               "{\"prompt\":\"a\",\"max_tokens\":1}";
        st = exchange(s2.port, corspost, strlen(corspost), 30, &resp, &closed);
        CHECK(st == 200 && resp && strstr(resp, "Access-Control-Allow-Origin: http://example.test\r\n"),
              "CORS on a POST: %d %.300s", st, resp ? resp : "");
        free(resp);
        const char *evil = "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.test\r\n"
                           "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n";
        st = exchange(s2.port, evil, strlen(evil), 30, &resp, &closed);
        CHECK(st == 204 && resp && !strstr(resp, "Access-Control-Allow-Origin"), "CORS: other origin: %d %.300s", st,
              resp ? resp : "");
        free(resp);
        n_cases += 3;
    }

    /* ---- the prompt cache: turn 2 prefills only its new text and answers as without cache ---- */
    const char *turn1 = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":12,\"temperature\":0}";
    st = post(port, "/v1/chat/completions", turn1, &b);
    char *reply1 = json_str(b, "content");
    int len_finish = b && strstr(b, "\"finish_reason\":\"length\"");
    CHECK(st == 200 && reply1, "turn 1: %d %s", st, b ? b : "");
    free(b);
    if (reply1) {
        char turn2[2048];
        /* reply1 is plain text from the byte model; escape quotes and backslashes */
        char esc[1024], *w = esc;
        for (const char *r = reply1; *r && w < esc + sizeof esc - 8; r++) {
            if (*r == '"' || *r == '\\') *w++ = '\\';
            if (*r == '\n') {
                *w++ = '\\';
                *w++ = 'n';
                continue;
            }
            *w++ = *r;
        }
        *w = 0;
        snprintf(turn2, sizeof turn2,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":\"%s\"},"
                 "{\"role\":\"user\",\"content\":\"And then?\"}],\"max_tokens\":12,\"temperature\":0}", esc);
        double pre0 = metric(port, "rwkv_prefill_tokens_total"), hits0 = metric(port, "rwkv_cache_hits_total");
        st = post(port, "/v1/chat/completions", turn2, &b);
        double pre1 = metric(port, "rwkv_prefill_tokens_total"), hits1 = metric(port, "rwkv_cache_hits_total");
        char *reply2 = json_str(b, "content");
        long ptok = json_int(b, "prompt_tokens"), cached = json_int(b, "cached_tokens");
        /* new text: ["\n\n" if turn 1 ended by length] + "User: And then?\n\nAssistant:" (bytes = tokens) */
        long new_tokens = (long)strlen("User: And then?\n\nAssistant:") + (len_finish ? 2 : 0);
        CHECK(st == 200 && reply2, "turn 2: %d %s", st, b ? b : "");
        CHECK(hits1 == hits0 + 1, "turn 2 is a cache hit (%g -> %g)", hits0, hits1);
        CHECK((long)(pre1 - pre0) == new_tokens, "turn 2 prefilled %g tokens, want only the new %ld", pre1 - pre0, new_tokens);
        CHECK(ptok - cached == new_tokens, "usage: prompt %ld cached %ld", ptok, cached);
        free(b);
        /* the same request on the cache-less server */
        if (s2.port) {
            st = http(s2.port, "POST", "/v1/chat/completions", "Authorization: Bearer sekrit\r\n", turn2, strlen(turn2), &b);
            char *ref = json_str(b, "content");
            CHECK(st == 200 && json_int(b, "cached_tokens") == 0, "uncached turn 2: %d %s", st, b ? b : "");
            CHECK(ref && reply2 && !strcmp(ref, reply2), "cached reply '%s' != uncached '%s'", reply2 ? reply2 : "", ref ? ref : "");
            free(ref);
            free(b);
        }
        free(reply2);
    }
    free(reply1);

    /* ---- queue full: one slot, a queue of one; a third concurrent request gets 429. Each long
     * request is sent once the server shows the one before running or queued (its gauges), so
     * the order does not hang on sleeps; they stream, and only their status lines are read, so
     * a slow machine (sanitizers, load, emulation) need not finish 2 x 3000 tokens in time. ---- */
    if (s2.port) {
        const char *longreq = "{\"prompt\":\"the\",\"max_tokens\":3000,\"stream\":true,\"temperature\":0}";
        char req[512];
        int h = snprintf(req, sizeof req,
                         "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer sekrit\r\n"
                         "Content-Length: %zu\r\n\r\n%s", strlen(longreq), longreq);
        static const char *const gauge[2] = {"rwkv_active_sequences", "rwkv_queue_length"};
        int fds[2];
        for (int i = 0; i < 2; i++) {
            fds[i] = connect_port(s2.port);
            send_all(fds[i], req, (size_t)h);
            CHECK(metric_wait(s2.port, NULL, gauge[i], 1) == 1, "long request %d %s", i,
                  i ? "queued" : "running");
        }
        st = http(s2.port, "POST", "/v1/completions", "Authorization: Bearer sekrit\r\n", small, strlen(small), &b);
        CHECK(st == 429 && b && strstr(b, "rate_limit_exceeded"), "queue full: %d %s", st, b ? b : "");
        free(b);
        n_cases++;
        for (int i = 0; i < 2; i++) { /* closing the first lets the queued one run */
            char head[13] = {0};
            ssize_t k = recv(fds[i], head, 12, MSG_WAITALL);
            CHECK(k == 12 && !strcmp(head, "HTTP/1.1 200"), "long request %d answered: %s", i, head);
            close(fds[i]);
        }
        CHECK(srv_stop(&s2) == 0, "second server: clean exit on SIGTERM");
    }

    /* ---- a client that goes away is dropped ---- */
    {
        double c0 = metric(port, "rwkv_cancelled_total");
        const char *body = "{\"prompt\":\"the\",\"max_tokens\":4000,\"stream\":true,\"temperature\":0}";
        char req[512];
        int h = snprintf(req, sizeof req,
                         "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
        int fd = connect_port(port);
        send_all(fd, req, (size_t)h);
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        CHECK(k > 0, "stream started");
        close(fd);
        double c1 = c0;
        for (int i = 0; i < 100 && c1 == c0; i++) {
            usleep(50000);
            c1 = metric(port, "rwkv_cancelled_total");
        }
        CHECK(c1 == c0 + 1, "disconnected client dropped (%g -> %g)", c0, c1);
        CHECK(metric(port, "rwkv_active_sequences") == 0, "no active sequence left");
        /* the same for a non-streaming request (its connection is suspended meanwhile) */
        const char *nbody = "{\"prompt\":\"the\",\"max_tokens\":4000,\"temperature\":0}";
        h = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(nbody), nbody);
        double g0 = metric(port, "rwkv_generated_tokens_total");
        fd = connect_port(port);
        send_all(fd, req, (size_t)h);
        usleep(200000);
        close(fd);
        double c2 = c1;
        for (int i = 0; i < 100 && c2 == c1; i++) {
            usleep(50000);
            c2 = metric(port, "rwkv_cancelled_total");
        }
        double g1 = metric(port, "rwkv_generated_tokens_total");
        CHECK(c2 == c1 + 1, "disconnected non-streaming client dropped (%g -> %g)", c1, c2);
        CHECK(g1 - g0 < 4000, "its generation was cut short (%g tokens)", g1 - g0);
        CHECK(metric(port, "rwkv_active_sequences") == 0, "no active sequence left");
    }

    /* ---- load: warm-up round to the plateau, then the measured round ---- */
    int errs = load_round(port, 200);
    long rss1 = rss_kb(s.pid);
    errs += load_round(port, 1000);
    long rss2 = rss_kb(s.pid);
    printf("test_server: RSS after warm-up %ld kB, after 320 streams + 1000 requests %ld kB\n", rss1, rss2);
    CHECK(errs == 0, "%d load errors", errs);
    CHECK(rss1 > 0 && rss2 <= rss1 + rss1 / 4 + 4096, "RSS grew from %ld kB to %ld kB", rss1, rss2);
    int idle = 0;
    for (int i = 0; i < 50 && !idle; i++) { /* replies are out; the counters follow at once */
        idle = metric(port, "rwkv_queue_length") == 0 && metric(port, "rwkv_active_sequences") == 0;
        if (!idle) usleep(20000);
    }
    CHECK(idle, "idle after load");
    CHECK(metric(port, "rwkv_cache_bytes") <= 16.0 * 1048576, "cache within --cache-mb");
    CHECK(get(port, "/health", NULL) == 200, "alive after load");

    CHECK(srv_stop(&s) == 0, "clean exit on SIGTERM");
    /* the access log: one line per request; none with --quiet */
    size_t log_len = 0;
    char *log = test_read_file(s.log, &log_len);
    CHECK(log && strstr(log, " 127.0.0.1 POST /v1/completions 200 tokens=5+5 ms=") &&
              strstr(log, " 127.0.0.1 GET /health 200 tokens=0+0 ms="),
          "access log of the main server (%s)", s.log);
    free(log);
    log = test_read_file(s2.log, &log_len);
    CHECK(log && !strstr(log, " GET /health "), "--quiet: no access log (%s)", s2.log);
    free(log);

    fair_prefill();
    connection_limits();
    framing_cases(&n_cases);
    shutdown_answers();
    graceful_drain();
    loading();
    start_up_errors("/tmp");
    host_name();

    printf("test_server: %d bad-input cases in all, %.1f s\n", n_cases, now_s() - t_start);
    if (test_failed == 0) {
        unlink(s.log);
        unlink(s2.log);
    }
    unlink(keyfile);
    return test_summary("test_server");
}
