/* ponder/expr.h — exact arithmetic expressions (countdown answers): integers, + - * /, unary
 * minus, parentheses; evaluated with int64 rationals (overflow is an error, never UB), never
 * with floats. Literals are collected so callers can check which numbers were used. */
#ifndef PONDER_EXPR_H
#define PONDER_EXPR_H
#include <stddef.h>
#include <stdint.h>
#include "ponder/error.h"

typedef struct { int64_t num, den; } pd_rat; /* den > 0, gcd(num, den) == 1 */

#define PD_EXPR_MAX_LITS 32
typedef struct {
    pd_rat value;
    int n_lits;
    int64_t lits[PD_EXPR_MAX_LITS]; /* integer literals in order of appearance */
} pd_expr_result;

/* Parse and evaluate s[0..len). Errors (PD_ERR_FORMAT / PD_ERR_RANGE) name the offset: bad
 * character, unbalanced parenthesis, division by zero, overflow, too many literals or nesting. */
pd_status pd_expr_eval(const char *s, size_t len, pd_expr_result *out);

#endif
