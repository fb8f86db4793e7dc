/* expr.c - the rule expression language: a recursive-descent parser to an
 * AST, a static type check and an evaluator.
 *
 * Grammar (lowest precedence first):
 *   rule    := or [ "for" NUMBER UNIT ]        UNIT: ms | s | m
 *   or      := and { "or" and }
 *   and     := not { "and" not }
 *   not     := "not" not | cmp
 *   cmp     := sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
 *   sum     := prod { ("+" | "-") prod }
 *   prod    := unary { ("*" | "/") unary }
 *   unary   := "-" unary | primary
 *   primary := NUMBER | "true" | "false" | IDENT "." IDENT
 *            | ("abs" | "min" | "max") "(" or { "," or } ")" | "(" or ")"
 * Input is bounded (HT_TWIN_MAX_EXPR bytes, nesting depth) so hostile rules
 * cannot exhaust the stack; nothing here allocates per evaluation.
 */
#include "twin_internal.h"

#include "ht_err.h"
#include "ht_mem.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 48
#define MAX_NODES 512
#define MAX_REFS 32

enum op {
    OP_NUM,
    OP_BOOL,
    OP_REF,
    OP_NEG,
    OP_NOT,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_ABS,
    OP_MIN,
    OP_MAX,
};

struct node {
    enum op op;
    size_t pos; /* byte offset in the source, for errors */
    double num; /* OP_NUM; OP_BOOL uses num != 0 */
    size_t ref; /* OP_REF: index into refs */
    struct node *a, *b;
};

struct ht_twin_expr {
    struct node *root;
    int64_t for_ms;
    char *refs[MAX_REFS];
    size_t ref_pos[MAX_REFS];
    size_t nrefs;
};

enum tok {
    T_END,
    T_NUM,
    T_IDENT,
    T_LP,
    T_RP,
    T_COMMA,
    T_DOT,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_EQ,
    T_NE,
};

struct parser {
    const char *src;
    size_t pos; /* where the current token starts */
    size_t end; /* where it ends */
    enum tok tok;
    double num;
    int depth;
    int nodes;
    struct ht_twin_expr *x;
    char *err;
    size_t errlen;
    size_t errpos;
    bool failed;
};

/* Record the first error only: later ones are consequences. */
static void perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->errpos = pos;
    if (p->err && p->errlen) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(p->err, p->errlen, "at %zu: %s", pos, msg);
    }
}

static bool ident_start(int c)
{
    return isalpha(c) || c == '_';
}
static bool ident_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Advance to the next token. */
static void next(struct parser *p)
{
    const char *s = p->src;
    size_t i = p->end;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    p->pos = i;
    unsigned char c = (unsigned char)s[i];
    if (!c) {
        p->tok = T_END;
        p->end = i;
        return;
    }
    if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[i + 1]))) {
        size_t j = i;
        while (isdigit((unsigned char)s[j]))
            j++;
        if (s[j] == '.')
            for (j++; isdigit((unsigned char)s[j]); j++)
                ;
        if ((s[j] == 'e' || s[j] == 'E') &&
            (isdigit((unsigned char)s[j + 1]) ||
             ((s[j + 1] == '+' || s[j + 1] == '-') &&
              isdigit((unsigned char)s[j + 2])))) {
            j += 2;
            while (isdigit((unsigned char)s[j]))
                j++;
        }
        char buf[64];
        if (j - i >= sizeof buf) {
            perr(p, i, "number too long");
            p->tok = T_END;
            return;
        }
        memcpy(buf, s + i, j - i);
        buf[j - i] = 0;
        p->num = strtod(buf, NULL);
        if (!isfinite(p->num))
            perr(p, i, "number out of range");
        p->tok = T_NUM;
        p->end = j;
        return;
    }
    if (ident_start(c)) {
        size_t j = i;
        while (ident_char((unsigned char)s[j]))
            j++;
        p->tok = T_IDENT;
        p->end = j;
        return;
    }
    p->end = i + 1;
    switch (c) {
    case '(':
        p->tok = T_LP;
        return;
    case ')':
        p->tok = T_RP;
        return;
    case ',':
        p->tok = T_COMMA;
        return;
    case '.':
        p->tok = T_DOT;
        return;
    case '+':
        p->tok = T_PLUS;
        return;
    case '-':
        p->tok = T_MINUS;
        return;
    case '*':
        p->tok = T_STAR;
        return;
    case '/':
        p->tok = T_SLASH;
        return;
    case '<':
        if (s[i + 1] == '=') {
            p->tok = T_LE;
            p->end++;
        } else
            p->tok = T_LT;
        return;
    case '>':
        if (s[i + 1] == '=') {
            p->tok = T_GE;
            p->end++;
        } else
            p->tok = T_GT;
        return;
    case '=':
        if (s[i + 1] == '=') {
            p->tok = T_EQ;
            p->end++;
            return;
        }
        perr(p, i, "'=' is not an operator; use '=='");
        break;
    case '!':
        if (s[i + 1] == '=') {
            p->tok = T_NE;
            p->end++;
            return;
        }
        perr(p, i, "'!' is not an operator; use 'not'");
        break;
    case '&':
        perr(p, i, "'&' is not an operator; use 'and'");
        break;
    case '|':
        perr(p, i, "'|' is not an operator; use 'or'");
        break;
    default:
        if (isprint(c))
            perr(p, i, "unexpected character '%c'", c);
        else
            perr(p, i, "unexpected byte 0x%02x", c);
    }
    p->tok = T_END;
}

/* Is the current token the identifier kw? */
static bool is_kw(const struct parser *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->tok == T_IDENT && p->end - p->pos == n &&
           !strncmp(p->src + p->pos, kw, n);
}

static bool reserved(const char *s, size_t n)
{
    static const char *const kws[] = {"and", "or",  "not", "true", "false",
                                      "for", "abs", "min", "max",  NULL};
    for (int i = 0; kws[i]; i++)
        if (strlen(kws[i]) == n && !strncmp(s, kws[i], n))
            return true;
    return false;
}

static struct node *mk(struct parser *p, enum op op, size_t pos, struct node *a,
                       struct node *b)
{
    if (++p->nodes > MAX_NODES) {
        perr(p, pos, "expression too complex (more than %d nodes)", MAX_NODES);
        return NULL;
    }
    struct node *n = ht_calloc(1, sizeof *n);
    n->op = op;
    n->pos = pos;
    n->a = a;
    n->b = b;
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    free(n);
}

static struct node *p_or(struct parser *p);

/* A reference "component.property": interned so each distinct reference
 * is looked up once per evaluation. */
static struct node *p_ref(struct parser *p, size_t start)
{
    size_t clen = p->end - p->pos;
    if (clen > 32)
        perr(p, p->pos, "component name longer than 32 characters");
    next(p);
    if (p->tok != T_DOT || p->pos != start + clen) {
        perr(p, start, "'%.*s' is not a reference; write component.property",
             (int)(clen > 40 ? 40 : clen), p->src + start);
        return NULL;
    }
    next(p);
    if (p->tok != T_IDENT || p->pos != start + clen + 1) {
        perr(p, p->pos, "expected a property name after '.'");
        return NULL;
    }
    size_t plen = p->end - p->pos;
    if (plen > 32)
        perr(p, p->pos, "property name longer than 32 characters");
    if (p->failed)
        return NULL;
    size_t len = clen + 1 + plen;
    const char *s = p->src + start;
    size_t i;
    for (i = 0; i < p->x->nrefs; i++)
        if (strlen(p->x->refs[i]) == len && !strncmp(p->x->refs[i], s, len))
            break;
    if (i == p->x->nrefs) {
        if (i == MAX_REFS) {
            perr(p, start, "more than %d distinct references", MAX_REFS);
            return NULL;
        }
        p->x->refs[i] = ht_strndup(s, len);
        p->x->ref_pos[i] = start;
        p->x->nrefs++;
    }
    next(p);
    struct node *n = mk(p, OP_REF, start, NULL, NULL);
    if (n)
        n->ref = i;
    return n;
}

/* abs(x), min(a, b, ...), max(a, b, ...): min/max fold to binary nodes. */
static struct node *p_call(struct parser *p, enum op op, size_t start)
{
    next(p);
    if (p->tok != T_LP) {
        perr(p, p->pos, "expected '(' after function name");
        return NULL;
    }
    next(p);
    struct node *acc = p_or(p);
    int nargs = 1;
    while (!p->failed && p->tok == T_COMMA) {
        next(p);
        struct node *arg = p_or(p);
        nargs++;
        if (op == OP_ABS) {
            node_free(arg);
            break;
        }
        acc = mk(p, op, start, acc, arg);
        if (!acc)
            node_free(arg);
    }
    if (!p->failed && op == OP_ABS && nargs != 1)
        perr(p, start, "abs() takes exactly one argument");
    if (!p->failed && op != OP_ABS && nargs < 2)
        perr(p, start, "%s() takes at least two arguments",
             op == OP_MIN ? "min" : "max");
    if (!p->failed && p->tok != T_RP)
        perr(p, p->pos, "expected ')' or ','");
    if (p->failed) {
        node_free(acc);
        return NULL;
    }
    next(p);
    if (op == OP_ABS)
        acc = mk(p, OP_ABS, start, acc, NULL);
    return acc;
}

static struct node *p_primary(struct parser *p)
{
    size_t start = p->pos;
    if (p->failed)
        return NULL;
    switch (p->tok) {
    case T_NUM: {
        struct node *n = mk(p, OP_NUM, start, NULL, NULL);
        if (n)
            n->num = p->num;
        size_t numend = p->end;
        next(p);
        if (p->tok == T_IDENT && p->pos == numend &&
            (is_kw(p, "ms") || is_kw(p, "s") || is_kw(p, "m"))) {
            perr(p, p->pos, "a duration is only allowed after 'for'");
            node_free(n);
            return NULL;
        }
        return n;
    }
    case T_LP: {
        next(p);
        struct node *n = p_or(p);
        if (!p->failed && p->tok != T_RP)
            perr(p, p->pos, "expected ')'");
        if (p->failed) {
            node_free(n);
            return NULL;
        }
        next(p);
        return n;
    }
    case T_IDENT:
        if (is_kw(p, "true") || is_kw(p, "false")) {
            struct node *n = mk(p, OP_BOOL, start, NULL, NULL);
            if (n)
                n->num = is_kw(p, "true");
            next(p);
            return n;
        }
        if (is_kw(p, "abs"))
            return p_call(p, OP_ABS, start);
        if (is_kw(p, "min"))
            return p_call(p, OP_MIN, start);
        if (is_kw(p, "max"))
            return p_call(p, OP_MAX, start);
        if (reserved(p->src + p->pos, p->end - p->pos)) {
            perr(p, start, "unexpected keyword '%.*s'", (int)(p->end - p->pos),
                 p->src + p->pos);
            return NULL;
        }
        return p_ref(p, start);
    case T_END:
        perr(p, start, "unexpected end of expression");
        return NULL;
    default:
        perr(p, start, "unexpected '%.*s'", (int)(p->end - p->pos),
             p->src + p->pos);
        return NULL;
    }
}

/* Depth guard shared by the recursive productions. */
static bool enter(struct parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        perr(p, p->pos, "expression nested too deeply");
        return false;
    }
    return true;
}

static struct node *p_unary(struct parser *p)
{
    struct node *n = NULL;
    if (!enter(p))
        return NULL;
    if (p->tok == T_MINUS) {
        size_t start = p->pos;
        next(p);
        struct node *a = p_unary(p);
        n = a ? mk(p, OP_NEG, start, a, NULL) : NULL;
        if (!n)
            node_free(a);
    } else {
        n = p_primary(p);
    }
    p->depth--;
    return n;
}

/* Left-associative binary levels share one loop. */
static struct node *binary(struct parser *p,
                           struct node *(*sub)(struct parser *),
                           const enum tok *toks, const enum op *ops, int n)
{
    struct node *acc = sub(p);
    while (acc && !p->failed) {
        int k;
        for (k = 0; k < n && p->tok != toks[k]; k++)
            ;
        if (k == n)
            break;
        size_t pos = p->pos;
        next(p);
        struct node *rhs = sub(p);
        if (!rhs) {
            node_free(acc);
            return NULL;
        }
        struct node *m = mk(p, ops[k], pos, acc, rhs);
        if (!m) {
            node_free(acc);
            node_free(rhs);
            return NULL;
        }
        acc = m;
    }
    if (p->failed) {
        node_free(acc);
        return NULL;
    }
    return acc;
}

static struct node *p_prod(struct parser *p)
{
    static const enum tok t[] = {T_STAR, T_SLASH};
    static const enum op o[] = {OP_MUL, OP_DIV};
    return binary(p, p_unary, t, o, 2);
}

static struct node *p_sum(struct parser *p)
{
    static const enum tok t[] = {T_PLUS, T_MINUS};
    static const enum op o[] = {OP_ADD, OP_SUB};
    return binary(p, p_prod, t, o, 2);
}

/* Comparisons do not chain: "a < b < c" is an error, not a surprise. */
static struct node *p_cmp(struct parser *p)
{
    static const enum tok t[] = {T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE};
    static const enum op o[] = {OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE};
    struct node *a = p_sum(p);
    if (!a)
        return NULL;
    for (int k = 0; k < 6; k++) {
        if (p->tok != t[k])
            continue;
        size_t pos = p->pos;
        next(p);
        struct node *b = p_sum(p);
        struct node *m = b ? mk(p, o[k], pos, a, b) : NULL;
        if (!m) {
            node_free(a);
            node_free(b);
            return NULL;
        }
        for (int j = 0; j < 6; j++)
            if (p->tok == t[j]) {
                perr(p, p->pos, "comparisons do not chain; use 'and'");
                node_free(m);
                return NULL;
            }
        return m;
    }
    return a;
}

static struct node *p_not(struct parser *p)
{
    struct node *n;
    if (!enter(p))
        return NULL;
    if (is_kw(p, "not")) {
        size_t start = p->pos;
        next(p);
        struct node *a = p_not(p);
        n = a ? mk(p, OP_NOT, start, a, NULL) : NULL;
        if (!n)
            node_free(a);
    } else {
        n = p_cmp(p);
    }
    p->depth--;
    return n;
}

/* "and"/"or" are identifiers to the lexer, so these levels test keywords. */
static struct node *kw_level(struct parser *p,
                             struct node *(*sub)(struct parser *),
                             const char *kw, enum op op)
{
    struct node *acc = sub(p);
    while (acc && !p->failed && is_kw(p, kw)) {
        size_t pos = p->pos;
        next(p);
        struct node *rhs = sub(p);
        struct node *m = rhs ? mk(p, op, pos, acc, rhs) : NULL;
        if (!m) {
            node_free(acc);
            node_free(rhs);
            return NULL;
        }
        acc = m;
    }
    if (p->failed) {
        node_free(acc);
        return NULL;
    }
    return acc;
}

static struct node *p_and(struct parser *p)
{
    return kw_level(p, p_not, "and", OP_AND);
}

static struct node *p_or(struct parser *p)
{
    struct node *n;
    if (!enter(p))
        return NULL;
    n = kw_level(p, p_and, "or", OP_OR);
    p->depth--;
    return n;
}

/* "for 5s", "for 500 ms", "for 2m". */
static void p_duration(struct parser *p)
{
    next(p);
    if (p->tok != T_NUM) {
        perr(p, p->pos, "expected a duration after 'for' (e.g. 5s)");
        return;
    }
    double v = p->num;
    size_t numpos = p->pos;
    next(p);
    double mult;
    if (is_kw(p, "ms"))
        mult = 1;
    else if (is_kw(p, "s"))
        mult = 1000;
    else if (is_kw(p, "m"))
        mult = 60000;
    else {
        perr(p, p->pos, "expected a duration unit: ms, s or m");
        return;
    }
    double ms = v * mult;
    if (ms < 1 || ms > 86400000.0) {
        perr(p, numpos, "duration must be between 1 ms and 24 h");
        return;
    }
    p->x->for_ms = (int64_t)llround(ms);
    next(p);
}

void twin__expr_free(struct ht_twin_expr *x)
{
    if (!x)
        return;
    node_free(x->root);
    for (size_t i = 0; i < x->nrefs; i++)
        free(x->refs[i]);
    free(x);
}

int twin__expr_parse(const char *src, struct ht_twin_expr **out, char *err,
                     size_t errlen, size_t *pos)
{
    *out = NULL;
    if (pos)
        *pos = 0;
    if (!src) {
        if (err && errlen)
            snprintf(err, errlen, "at 0: no expression");
        return HT_EPARSE;
    }
    size_t len = strnlen(src, HT_TWIN_MAX_EXPR + 1);
    struct parser p = {.src = src, .err = err, .errlen = errlen};
    if (len > HT_TWIN_MAX_EXPR) {
        perr(&p, HT_TWIN_MAX_EXPR, "expression longer than %d bytes",
             HT_TWIN_MAX_EXPR);
        if (pos)
            *pos = p.errpos;
        return HT_EPARSE;
    }
    p.x = ht_calloc(1, sizeof *p.x);
    next(&p);
    if (p.tok == T_END && !p.failed)
        perr(&p, p.pos, "empty expression");
    if (!p.failed)
        p.x->root = p_or(&p);
    if (!p.failed && is_kw(&p, "for"))
        p_duration(&p);
    if (!p.failed && p.tok != T_END) {
        if (p.tok == T_RP)
            perr(&p, p.pos, "unbalanced ')'");
        else
            perr(&p, p.pos, "unexpected '%.*s' after the expression",
                 (int)(p.end - p.pos > 40 ? 40 : p.end - p.pos), p.src + p.pos);
    }
    if (p.failed) {
        if (pos)
            *pos = p.errpos;
        twin__expr_free(p.x);
        return HT_EPARSE;
    }
    *out = p.x;
    return HT_OK;
}

int64_t twin__expr_for_ms(const struct ht_twin_expr *x)
{
    return x->for_ms;
}

size_t twin__expr_nrefs(const struct ht_twin_expr *x)
{
    return x->nrefs;
}

const char *twin__expr_ref(const struct ht_twin_expr *x, size_t i)
{
    return i < x->nrefs ? x->refs[i] : NULL;
}

size_t twin__expr_ref_pos(const struct ht_twin_expr *x, size_t i)
{
    return i < x->nrefs ? x->ref_pos[i] : 0;
}

/* ---- static types ---- */

struct tc {
    const enum twin__type *types;
    char *err;
    size_t errlen;
    size_t errpos;
    bool failed;
};

static void tc_err(struct tc *c, size_t pos, const char *msg)
{
    if (c->failed)
        return;
    c->failed = true;
    c->errpos = pos;
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "at %zu: %s", pos, msg);
}

static bool fits(enum twin__type have, enum twin__type want)
{
    return have == TWIN_T_ANY || have == want;
}

static enum twin__type tc_node(struct tc *c, const struct node *n)
{
    enum twin__type a, b;
    switch (n->op) {
    case OP_NUM:
        return TWIN_T_NUM;
    case OP_BOOL:
        return TWIN_T_BOOL;
    case OP_REF:
        return c->types ? c->types[n->ref] : TWIN_T_ANY;
    case OP_NEG:
    case OP_ABS:
        if (!fits(tc_node(c, n->a), TWIN_T_NUM))
            tc_err(c, n->pos, "operand must be a number");
        return TWIN_T_NUM;
    case OP_NOT:
        if (!fits(tc_node(c, n->a), TWIN_T_BOOL))
            tc_err(c, n->pos, "'not' needs a condition");
        return TWIN_T_BOOL;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MIN:
    case OP_MAX:
        a = tc_node(c, n->a);
        b = tc_node(c, n->b);
        if (!fits(a, TWIN_T_NUM) || !fits(b, TWIN_T_NUM))
            tc_err(c, n->pos, "arithmetic needs numbers");
        return TWIN_T_NUM;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        a = tc_node(c, n->a);
        b = tc_node(c, n->b);
        if (!fits(a, TWIN_T_NUM) || !fits(b, TWIN_T_NUM))
            tc_err(c, n->pos, "ordering comparisons need numbers");
        return TWIN_T_BOOL;
    case OP_EQ:
    case OP_NE:
        a = tc_node(c, n->a);
        b = tc_node(c, n->b);
        if (a != TWIN_T_ANY && b != TWIN_T_ANY && a != b)
            tc_err(c, n->pos, "'==' and '!=' compare values of one type");
        return TWIN_T_BOOL;
    case OP_AND:
    case OP_OR:
        a = tc_node(c, n->a);
        b = tc_node(c, n->b);
        if (!fits(a, TWIN_T_BOOL) || !fits(b, TWIN_T_BOOL))
            tc_err(c, n->pos, "'and'/'or' need conditions");
        return TWIN_T_BOOL;
    }
    return TWIN_T_ANY;
}

int twin__expr_typecheck(const struct ht_twin_expr *x,
                         const enum twin__type *types, char *err, size_t errlen,
                         size_t *pos)
{
    struct tc c = {.types = types, .err = err, .errlen = errlen};
    enum twin__type t = tc_node(&c, x->root);
    if (!c.failed && t == TWIN_T_NUM)
        tc_err(&c, 0,
               "a rule must be a condition (a comparison or a "
               "boolean), not a number");
    if (pos)
        *pos = c.errpos;
    return c.failed ? HT_EPARSE : HT_OK;
}

/* ---- evaluation ---- */

static const struct twin__val unknown = {.t = TWIN_V_UNKNOWN};

static struct twin__val vnum(double n)
{
    if (!isfinite(n))
        return unknown;
    return (struct twin__val){.t = TWIN_V_NUM, .n = n};
}

static struct twin__val vbool(bool b)
{
    return (struct twin__val){.t = TWIN_V_BOOL, .b = b};
}

/* Strict three-valued evaluation: every operand is evaluated and any
 * unknown (or ill-typed) operand makes the result unknown, so a rule never
 * fires or clears on guesses.
 *
 * hold is the deadband of an active alarm: each ordering comparison moves
 * its limit by hold in the direction that keeps the whole condition true
 * (so a value hovering at a limit does not chatter). Under "not" the
 * direction flips; operands of == and != get none (their polarity is not
 * known). hold is 0 for a plain evaluation. */
static struct twin__val ev(const struct node *n, const struct twin__val *vals,
                           double hold)
{
    struct twin__val a, b;
    switch (n->op) {
    case OP_NUM:
        return vnum(n->num);
    case OP_BOOL:
        return vbool(n->num != 0);
    case OP_REF:
        return vals[n->ref];
    case OP_NEG:
    case OP_ABS:
        a = ev(n->a, vals, 0);
        if (a.t != TWIN_V_NUM)
            return unknown;
        return vnum(n->op == OP_NEG ? -a.n : fabs(a.n));
    case OP_NOT:
        a = ev(n->a, vals, -hold);
        return a.t == TWIN_V_BOOL ? vbool(!a.b) : unknown;
    default:
        break;
    }
    bool logic = n->op == OP_AND || n->op == OP_OR;
    a = ev(n->a, vals, logic ? hold : 0);
    b = ev(n->b, vals, logic ? hold : 0);
    if (a.t == TWIN_V_UNKNOWN || b.t == TWIN_V_UNKNOWN)
        return unknown;
    switch (n->op) {
    case OP_AND:
    case OP_OR:
        if (a.t != TWIN_V_BOOL || b.t != TWIN_V_BOOL)
            return unknown;
        return vbool(n->op == OP_AND ? (a.b && b.b) : (a.b || b.b));
    case OP_EQ:
    case OP_NE: {
        if (a.t != b.t)
            return unknown;
        bool eq = a.t == TWIN_V_BOOL ? a.b == b.b : a.n == b.n;
        return vbool(n->op == OP_EQ ? eq : !eq);
    }
    default:
        break;
    }
    if (a.t != TWIN_V_NUM || b.t != TWIN_V_NUM)
        return unknown;
    switch (n->op) {
    case OP_ADD:
        return vnum(a.n + b.n);
    case OP_SUB:
        return vnum(a.n - b.n);
    case OP_MUL:
        return vnum(a.n * b.n);
    case OP_DIV:
        return b.n == 0 ? unknown : vnum(a.n / b.n);
    case OP_MIN:
        return vnum(a.n < b.n ? a.n : b.n);
    case OP_MAX:
        return vnum(a.n > b.n ? a.n : b.n);
    case OP_LT:
        return vbool(a.n < b.n + hold);
    case OP_LE:
        return vbool(a.n <= b.n + hold);
    case OP_GT:
        return vbool(a.n > b.n - hold);
    case OP_GE:
        return vbool(a.n >= b.n - hold);
    default:
        return unknown;
    }
}

struct twin__val twin__expr_eval(const struct ht_twin_expr *x,
                                 const struct twin__val *vals)
{
    return ev(x->root, vals, 0);
}

struct twin__val twin__expr_eval_hold(const struct ht_twin_expr *x,
                                      const struct twin__val *vals, double hold)
{
    return ev(x->root, vals, hold);
}

/* Whether a deadband can act: an ordering comparison outside == / !=. */
static bool has_order(const struct node *n)
{
    if (!n || n->op == OP_EQ || n->op == OP_NE)
        return false;
    if (n->op >= OP_LT && n->op <= OP_GE)
        return true;
    return has_order(n->a) || has_order(n->b);
}

bool twin__expr_has_order(const struct ht_twin_expr *x)
{
    return x && has_order(x->root);
}

int ht_twin_expr_check(const char *src, char *err, size_t errlen, size_t *pos)
{
    struct ht_twin_expr *x;
    int rc = twin__expr_parse(src, &x, err, errlen, pos);
    if (rc == HT_OK) {
        rc = twin__expr_typecheck(x, NULL, err, errlen, pos);
        twin__expr_free(x);
    }
    return rc;
}

size_t ht_twin_rule_nrefs(const struct ht_twin_rule *r)
{
    return r && r->expr ? r->expr->nrefs : 0;
}

const char *ht_twin_rule_ref(const struct ht_twin_rule *r, size_t i)
{
    return r && r->expr ? twin__expr_ref(r->expr, i) : NULL;
}
