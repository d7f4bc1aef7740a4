/* serve_page.c — the web chat page served at GET /. The page lives in tools/serve/web/index.html and is
 * embedded at build time with the assembler's .incbin (path relative to the repository root, where
 * make runs; the Makefile rebuilds this object when the page changes). A NUL byte is appended. */
#include "serve.h"

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".globl srv_page_html\n"
        "srv_page_html:\n"
        ".incbin \"tools/serve/web/index.html\"\n"
        ".globl srv_page_html_end\n"
        "srv_page_html_end:\n"
        ".byte 0\n"
        ".popsection\n");

extern const char srv_page_html_end[];

size_t srv_page_len(void) { return (size_t)(srv_page_html_end - srv_page_html); }
