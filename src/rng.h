/* A small deterministic RNG (xoshiro256** seeded by splitmix64): the same
 * seed gives the same model and the same batches on every machine. */
#ifndef MOM_RNG_H
#define MOM_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(rng *r);
/* Standard normal (Box-Muller, one value per call). */
float rng_normal(rng *r);
/* Uniform integer in [0, n). */
uint64_t rng_below(rng *r, uint64_t n);

#endif
