/* twin_internal.h - shared inside twins/: the compiled rule expressions. */
#ifndef HT_TWIN_INTERNAL_H
#define HT_TWIN_INTERNAL_H

#include "twin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Static type of an expression node; ANY when a reference's type is not
 * known until run time. */
enum twin__type { TWIN_T_ANY, TWIN_T_NUM, TWIN_T_BOOL };

/* A run-time value. UNKNOWN propagates: any unknown operand makes the whole
 * expression unknown (docs/twins.md: a rule with an unknown input is not
 * active). */
struct twin__val {
    enum { TWIN_V_UNKNOWN, TWIN_V_NUM, TWIN_V_BOOL } t;
    double n;
    bool b;
};

/* Parse src into a compiled expression (*out new, free with
 * twin__expr_free). HT_OK or HT_EPARSE with "at N: ..." in err and the byte
 * offset in *pos (may be NULL). References stay unresolved. */
int twin__expr_parse(const char *src, struct ht_twin_expr **out, char *err,
                     size_t errlen, size_t *pos);
void twin__expr_free(struct ht_twin_expr *x);
/* The duration qualifier in ms (0 if none). */
int64_t twin__expr_for_ms(const struct ht_twin_expr *x);
/* Distinct references ("component.property"), in order of appearance. */
size_t twin__expr_nrefs(const struct ht_twin_expr *x);
const char *twin__expr_ref(const struct ht_twin_expr *x, size_t i);
/* Byte offset of the first use of reference i (for error messages). */
size_t twin__expr_ref_pos(const struct ht_twin_expr *x, size_t i);
/* Type-check with the static type of each reference (types[i] for ref i).
 * HT_OK or HT_EPARSE with "at N: ..." in err. The root must be a
 * condition (boolean). */
int twin__expr_typecheck(const struct ht_twin_expr *x,
                         const enum twin__type *types, char *err, size_t errlen,
                         size_t *pos);
/* Evaluate with reference values vals[i] (borrowed). */
struct twin__val twin__expr_eval(const struct ht_twin_expr *x,
                                 const struct twin__val *vals);
/* The same with a deadband: every ordering comparison's limit moves by
 * hold (>= 0) towards keeping the condition true (see expr.c). */
struct twin__val twin__expr_eval_hold(const struct ht_twin_expr *x,
                                      const struct twin__val *vals,
                                      double hold);
/* Whether the expression has an ordering comparison a deadband acts on. */
bool twin__expr_has_order(const struct ht_twin_expr *x);

#endif
