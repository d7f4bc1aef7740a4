/* g1.h — the G1/World chat template shared by `rwkv chat` and `rwkv serve`: message cleaning and
 * the thinking switch's prompt suffix (docs/RWKV7.md). */
#ifndef RWKV_G1_H
#define RWKV_G1_H

#include <stddef.h>

/* How a reply starts after "Assistant:": plain, reasoning first, or with an empty think block. */
typedef enum g1_think { G1_THINK_PLAIN = 0, G1_THINK_ON = 1, G1_THINK_OFF = 2 } g1_think;

/* G1 message cleaning in place: "\r\n" -> "\n", runs of 2+ newlines -> one "\n", then trimmed of
 * spaces, tabs and newlines at both ends. s[0..len) is rewritten and NUL-terminated (s must have
 * room for len + 1 bytes). Returns the new length. */
size_t g1_clean(char *s, size_t len);

/* The text that ends a turn's prompt after "Assistant:" ("", " <think" or " <think>\n</think"). */
const char *g1_think_suffix(g1_think m);

#endif
