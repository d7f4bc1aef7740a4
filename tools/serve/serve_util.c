/* serve_util.c — small helpers every layer of the server uses: formatted appends to a buffer
 * and OpenAI's error object. */
#include "serve.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers -------------------------------------------------------------------------------- */

int srv_buf_printf(cli_buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof small) return cli_buf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = cli_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

/* ---- errors ------------------------------------------------------------------------------- */

char *srv_error_json(int status, const char *message, const char *param) {
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = status == 401 ? "invalid_api_key"
                       : status == 404 ? (param && !strcmp(param, "model") ? "model_not_found" : "not_found")
                       : status == 405 ? "method_not_allowed"
                       : status == 413 ? "request_too_large"
                       : status == 429 ? "rate_limit_exceeded"
                       : status == 501 ? "not_implemented"
                       : status == 503 ? "overloaded" : NULL;
    if (status == 429) type = "rate_limit_error";
    json_t *o = json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", cli_json_str(message), "type", type,
                          "param", param && *param ? cli_json_str(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt ? txt : strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                              "\"param\":null,\"code\":null}}");
}
