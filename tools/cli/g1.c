/* g1.c — the G1/World chat template shared by `rwkv chat` and `rwkv serve` (see g1.h). */
#include "g1.h"

#include <string.h>

size_t g1_clean(char *s, size_t len) {
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        char ch = s[r];
        if (ch == '\r' && r + 1 < len && s[r + 1] == '\n') continue;
        if (ch == '\n' && w > 0 && s[w - 1] == '\n') continue;
        s[w++] = ch;
    }
    size_t a = 0;
    while (a < w && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')) a++;
    while (w > a && (s[w - 1] == ' ' || s[w - 1] == '\t' || s[w - 1] == '\n' || s[w - 1] == '\r')) w--;
    memmove(s, s + a, w - a);
    s[w - a] = '\0';
    return w - a;
}

const char *g1_think_suffix(g1_think m) {
    switch (m) {
    case G1_THINK_ON: return " <think";
    case G1_THINK_OFF: return " <think>\n</think";
    default: return "";
    }
}
