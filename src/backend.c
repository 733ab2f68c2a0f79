/* Making a backend from the registry: finding an entry by name, and
 * refusing a backend whose op table lacks a required member (BE_OPS in
 * backend.h), so an incomplete backend fails when it is made, with the
 * member's name, instead of crashing when the model first calls it. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

/* Every member of the op table is in BE_OPS: each is one pointer after name. */
#define BE_COUNT(member) +1
_Static_assert(sizeof(backend) == offsetof(backend, alloc) + (0 BE_OPS(BE_COUNT, BE_COUNT)) * sizeof(void (*)(void)),
               "a member of struct backend is missing from BE_OPS (src/backend.h)");

/* The first required member be lacks, or NULL. */
static const char *missing_op(const backend *be)
{
#define BE_REQUIRED(member) \
    if (!be->member) return #member;
#define BE_OPTIONAL(member)
    BE_OPS(BE_REQUIRED, BE_OPTIONAL)
#undef BE_REQUIRED
#undef BE_OPTIONAL
    return be->name ? NULL : "name";
}

const be_entry *be_find(const char *name)
{
    for (int i = 0; name && be_registry[i]; i++)
        if (!strcmp(be_registry[i]->name, name)) return be_registry[i];
    return NULL;
}

void be_names(char *buf, size_t cap)
{
    size_t used = 0;
    for (int i = 0; be_registry[i] && used < cap; i++) {
        const int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", be_registry[i]->name);
        if (w < 0) return;
        used += (size_t)w;
    }
    if (used < cap) snprintf(buf + used, cap - used, "%sauto", used ? " or " : "");
}

mom_status be_create(const be_entry *e, const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap)
{
    *out = NULL;
    backend *be = NULL;
    const mom_status st = e->create(s, &be, desc, desc_cap);
    if (st != MOM_OK) return st;
    if (!be) {
        snprintf(desc, desc_cap, "its create gave no backend and no reason");
        return MOM_ERR_BACKEND;
    }
    const char *missing = missing_op(be);
    if (missing) {
        snprintf(desc, desc_cap, "incomplete: its op table has no %s (src/backend.h lists the members every backend fills)",
                 missing);
        if (be->destroy) be->destroy(be); /* else it cannot be freed: kept, a small leak on a refusal */
        return MOM_ERR_UNSUPPORTED;
    }
    *out = be;
    return MOM_OK;
}
