/* Large host blocks (host_memory.h). */
#include "host_memory.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

int host_memory_alloc(host_memory *h, size_t bytes)
{
    memset(h, 0, sizeof(*h));
    if (bytes >= 4 * HUGE_PAGE) { /* smaller blocks would waste most of a huge page */
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
            (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
            *h = (host_memory){p, bytes, 1};
            return 0;
        }
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return -1;
    memset(p, 0, bytes);
    *h = (host_memory){p, bytes, 0};
    return 0;
}

void host_memory_free(host_memory *h)
{
    if (h->mapped) munmap(h->p, h->bytes);
    else free(h->p);
    memset(h, 0, sizeof(*h));
}
