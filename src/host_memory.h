/* Host blocks: from 8 MiB up an anonymous mapping that asks for
 * transparent huge pages (a hint: without them, plain pages), else an
 * aligned allocation. Kernels that stream such a block (a decode's
 * quantized weights, the scan's rows 2 KiB or more apart) lose a TLB miss
 * per 4 KiB page and the hardware prefetcher at every page boundary on
 * plain pages: on the development machine, a quantized product streamed
 * its weights clearly slower from a file's 4 KiB-page mapping than from
 * huge pages. */
#ifndef MOM_HOST_MEMORY_H
#define MOM_HOST_MEMORY_H

#include <stddef.h>

typedef struct host_memory {
    void *p;      /* 64-byte aligned (page aligned when mapped), zeroed; NULL when empty */
    size_t bytes;
    int mapped;   /* from mmap, else posix_memalign */
} host_memory;

/* bytes of zeroed memory into h (0: done; -1: out of memory, h empty). */
int host_memory_alloc(host_memory *h, size_t bytes);
/* Frees h's block (an empty h is fine) and empties h. */
void host_memory_free(host_memory *h);

#endif
