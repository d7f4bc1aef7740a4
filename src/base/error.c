/* error.c — the thread-local "last error" message behind rwkv_last_error(). */
#include "internal.h"

#include <stdio.h>

static _Thread_local char last_error[512];

rwkv_status rwkv_fail(rwkv_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *rwkv_last_error(void) { return last_error; }

const char *rwkv_status_name(rwkv_status status) {
    switch (status) {
    case RWKV_OK: return "ok";
    case RWKV_ERR_INVALID_ARG: return "invalid argument";
    case RWKV_ERR_IO: return "I/O error";
    case RWKV_ERR_FORMAT: return "format error";
    case RWKV_ERR_UNSUPPORTED: return "unsupported";
    case RWKV_ERR_SHAPE: return "shape error";
    case RWKV_ERR_NOMEM: return "out of memory";
    case RWKV_ERR_RANGE: return "out of range";
    case RWKV_ERR_MISMATCH: return "state/model mismatch";
    }
    return "unknown status";
}
