/* serve_util.c — small helpers every layer of the server uses: formatted appends to a buffer,
 * UTF-8 sanitising for JSON, and OpenAI's error object. */
#include "serve.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers and UTF-8 ------------------------------------------------------------------- */

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

/* Length of the valid UTF-8 character at s[0..n) (1..4), or 0 if it is not valid. */
static size_t utf8_char_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int srv_utf8_clean(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] && u[i] < 0x80) { /* ASCII, the common case */
            i++;
            continue;
        }
        size_t k = utf8_char_len(u + i, len - i);
        if (k == 0 || u[i] == 0) return 0;
        i += k;
    }
    return 1;
}

char *srv_utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    cli_buf b = {0};
    if (cli_buf_add(&b, "", 0)) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_char_len(u + i, len - i);
        int bad = k == 0 || (k == 1 && u[i] == 0); /* NUL is not allowed in jansson strings */
        if (bad ? cli_buf_add(&b, "\xEF\xBF\xBD", 3) : cli_buf_add(&b, s + i, k)) {
            cli_buf_free(&b);
            return NULL;
        }
        i += bad ? 1 : k;
    }
    if (out_len) *out_len = b.len;
    return b.data;
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
    size_t mlen = 0;
    char *msg = srv_utf8_sanitize(message, strlen(message), &mlen);
    json_t *o = json_pack("{s:{s:s%, s:s, s:o, s:o}}", "error", "message", msg ? msg : "error",
                          msg ? mlen : 5, "type", type, "param",
                          param && *param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    free(msg);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt ? txt : strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                              "\"param\":null,\"code\":null}}");
}
