/* grammar.h — the compiled form of a grammar, shared by the GBNF compiler (grammar.c) and the
 * matcher (grammar_match.c). Not installed.
 *
 * A compiled grammar is a list of rules over bytes. Each rule has alternatives; an alternative is
 * a run of elements in `elems` ending with an END element. An element is
 *  - LIT: a byte string (UTF-8 of a literal),
 *  - CLASS: one character of a character class, as a small DFA over the bytes of its UTF-8
 *    encoding (so that a character split across tokens is matched byte by byte),
 *  - REF: a call of another rule.
 * Repetitions are compiled into helper rules whose recursive call is the last element of an
 * alternative (a tail call: it pushes nothing), so `x*` runs in constant stack depth.
 *
 * Positions number every place where a parse can stand: element e owns the ids
 * elems[e].pos .. + (LIT: its length; CLASS: its DFA states; REF: 1). A parse stack is a list of
 * positions: the top one is inside a LIT or CLASS element, those below are "continue at the start
 * of this element" return addresses. */
#ifndef RWKV_TEXT_GRAMMAR_H
#define RWKV_TEXT_GRAMMAR_H

#include "base/internal.h"

enum { GE_END = 0, GE_LIT = 1, GE_CLASS = 2, GE_REF = 3 };

/* Results of a CLASS DFA transition (otherwise: the next state, >= 0). */
#define GC_FAIL (-1)
#define GC_DONE (-2)

typedef struct g_elem {
    uint32_t kind; /* GE_* */
    uint32_t a;    /* LIT: offset in lit; CLASS: class id; REF: rule id */
    uint32_t b;    /* LIT: length (>= 1) */
    uint32_t pos;  /* first position id */
} g_elem;

typedef struct g_class {
    uint32_t trans_off; /* offset of state 0's row in ctrans (rows of 256) */
    uint32_t n_states;
} g_class;

struct rwkv_grammar {
    g_elem *elems;       /* [n_elems]; elements 0, 1 are the start: REF root, END */
    uint32_t n_elems;
    uint32_t *alt_first; /* [n_alts] first element of each alternative */
    uint32_t n_alts;
    uint32_t *rule_alt;  /* [n_rules + 1]: the alternatives of rule r are rule_alt[r] .. [r+1] */
    uint32_t n_rules;
    uint8_t *lit;        /* literal bytes */
    size_t n_lit;
    int32_t *ctrans;     /* class DFA rows: [state * 256 + byte] -> next state, GC_FAIL, GC_DONE */
    size_t n_ctrans;
    g_class *classes;
    uint32_t n_classes;
    uint32_t *pos_elem;  /* [n_pos] the element of each position */
    uint32_t n_pos;
};

/* Start position: the REF root element. */
#define G_START_POS 0u

#endif /* RWKV_TEXT_GRAMMAR_H */
