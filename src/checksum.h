/* MOM64, the checksum of the dataset files: specified at the top of
 * src/checksum.c, which defines it. Internal (the fuzz target for dataset
 * files reseals its inputs with it: tests/fuzz/fuzz_dataset.c).
 *
 * Streaming: mom64_init, then mom64_update over the bytes in order (any
 * split gives the same result), then mom64_final. */
#ifndef MOM_CHECKSUM_H
#define MOM_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct mom64 {
    uint64_t h[4];
    uint64_t len;
    uint8_t buf[32];
    size_t nbuf;
} mom64;

void mom64_init(mom64 *s);
void mom64_update(mom64 *s, const void *data, size_t n);
uint64_t mom64_final(mom64 *s);

#endif
