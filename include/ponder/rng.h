/* ponder/rng.h — deterministic random numbers (xoshiro256**, seeded by splitmix64).
 * Same seed → same stream on every machine: no libc rand(), no floats in the integer path. */
#ifndef PONDER_RNG_H
#define PONDER_RNG_H
#include <stdint.h>

typedef struct { uint64_t s[4]; } pd_rng;

void pd_rng_seed(pd_rng *r, uint64_t seed);
uint64_t pd_rng_u64(pd_rng *r);
uint64_t pd_rng_below(pd_rng *r, uint64_t n);      /* uniform in [0, n), unbiased; n > 0 */
int64_t pd_rng_range(pd_rng *r, int64_t lo, int64_t hi); /* uniform in [lo, hi] inclusive */
double pd_rng_uniform(pd_rng *r);                  /* [0, 1), 53 bits */
float pd_rng_uniformf(pd_rng *r);                  /* [0, 1), 24 bits */
double pd_rng_normal(pd_rng *r);                   /* N(0,1), Box–Muller */
/* Derive an independent stream (e.g. per sequence, per item) from a parent seed and an index. */
uint64_t pd_rng_derive(uint64_t seed, uint64_t index);

#endif
