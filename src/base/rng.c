/* base/rng.c — xoshiro256** generator with splitmix64 seeding (public-domain algorithms by
 * Blackman & Vigna); integer-exact, so streams are identical on every machine. */
#include "ponder/rng.h"
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void pd_rng_seed(pd_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t pd_rng_u64(pd_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t pd_rng_below(pd_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = pd_rng_u64(r); while (x >= limit);
    return x % n;
}

int64_t pd_rng_range(pd_rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + (int64_t)pd_rng_below(r, (uint64_t)(hi - lo) + 1);
}

double pd_rng_uniform(pd_rng *r) { return (double)(pd_rng_u64(r) >> 11) * 0x1.0p-53; }
float pd_rng_uniformf(pd_rng *r) { return (float)(pd_rng_u64(r) >> 40) * 0x1.0p-24f; }

double pd_rng_normal(pd_rng *r) {
    double u1 = pd_rng_uniform(r), u2 = pd_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t pd_rng_derive(uint64_t seed, uint64_t index) {
    uint64_t x = seed ^ (index * 0xD1B54A32D192ED03ull);
    splitmix64(&x);
    return splitmix64(&x);
}
