/* The context: last-error message, threads, and the backend chosen from the
 * registry (src/backend.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ctx.h"

const char *mom_version(void) { return MOM_VERSION_STRING; }

const char *mom_status_str(mom_status s)
{
    switch (s) {
    case MOM_OK: return "ok";
    case MOM_ERR_INVALID_ARG: return "invalid argument";
    case MOM_ERR_CONFIG: return "invalid config";
    case MOM_ERR_IO: return "I/O error";
    case MOM_ERR_FORMAT: return "bad file format";
    case MOM_ERR_NOMEM: return "out of memory";
    case MOM_ERR_DATA: return "data out of range";
    case MOM_ERR_BACKEND: return "backend failure";
    case MOM_ERR_NOT_FOUND: return "not found";
    case MOM_ERR_UNSUPPORTED: return "unsupported";
    case MOM_ERR_NONFINITE: return "non-finite gradient";
    case MOM_ERR_STOPPED: return "stopped";
    }
    return "unknown status";
}

mom_status mom_fail(mom_ctx *ctx, mom_status s, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
        va_end(ap);
    }
    return s;
}

void mom_clear_error(mom_ctx *ctx)
{
    if (ctx) ctx->err[0] = '\0';
}

void mom_ctx_set_stop(mom_ctx *ctx, int stop)
{
    if (ctx) atomic_store(&ctx->stop, stop != 0);
}

mom_status mom_check_stop(mom_ctx *ctx, const char *what)
{
    if (!ctx || !atomic_load(&ctx->stop)) return MOM_OK;
    return mom_fail(ctx, MOM_ERR_STOPPED, "%s: stopped (mom_ctx_set_stop)", what);
}

void mom_ctx_default_settings(mom_ctx_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof(*s));
    s->n_threads = 0;
    s->cpu = NULL;
    s->matmul_bf16 = 0;
    s->backend = NULL;
    s->device = -1;
    s->allow_software = 0;
}

/* mom_ctx_create has no context to keep its reason in when it fails. */
static _Thread_local char create_err[512];
const char *mom_ctx_create_error(void) { return create_err; }

static mom_status create_fail(mom_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mom_status create_fail(mom_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(create_err, sizeof(create_err), fmt, ap);
    va_end(ap);
    return s;
}

/* "auto": the first backend after cpu that starts, else NULL with each
 * one's reason in why ("a; b"). */
static backend *first_device_backend(const mom_ctx_settings *s, char *desc, size_t desc_cap, char *why, size_t why_cap)
{
    size_t used = 0;
    why[0] = '\0';
    for (int i = 1; be_registry[i]; i++) {
        backend *be = NULL;
        if (be_create(be_registry[i], s, &be, desc, desc_cap) == MOM_OK) return be;
        const int w = snprintf(why + used, why_cap - used, "%s%s", used ? "; " : "", desc);
        if (w > 0) used = (size_t)w < why_cap - used ? used + (size_t)w : why_cap - 1;
    }
    if (!why[0]) snprintf(why, why_cap, "this build has no device backend");
    return NULL;
}

mom_status mom_ctx_create(mom_ctx **out, const mom_ctx_settings *s)
{
    create_err[0] = '\0';
    if (!out) return create_fail(MOM_ERR_INVALID_ARG, "mom_ctx_create: out is NULL");
    *out = NULL;
    mom_ctx_settings def;
    if (!s) {
        mom_ctx_default_settings(&def);
        s = &def;
    }
    for (size_t i = 0; i < sizeof s->reserved / sizeof s->reserved[0]; i++)
        if (s->reserved[i])
            return create_fail(MOM_ERR_INVALID_ARG,
                               "settings: reserved[%zu] is set: a field of a newer libmom than %s; start the struct "
                               "from mom_ctx_default_settings",
                               i, mom_version());
    if (s->n_threads < 0 || s->n_threads > 4096)
        return create_fail(MOM_ERR_INVALID_ARG, "n_threads = %d is not in [0, 4096]", s->n_threads);
    if (s->matmul_bf16 != 0 && s->matmul_bf16 != 1)
        return create_fail(MOM_ERR_INVALID_ARG, "matmul_bf16 = %d is not 0 or 1", s->matmul_bf16);
    if (s->allow_software != 0 && s->allow_software != 1)
        return create_fail(MOM_ERR_INVALID_ARG, "allow_software = %d is not 0 or 1", s->allow_software);
    if (s->device < -1)
        return create_fail(MOM_ERR_INVALID_ARG, "device = %d is not -1 (the backend's default) or a device index",
                           s->device);
    const char *name = s->backend ? s->backend : getenv("MOM_BACKEND");
    if (!name || !*name) name = "cpu";
    const int is_auto = !strcmp(name, "auto");
    const be_entry *e = is_auto ? be_registry[0] : be_find(name);
    if (!e) {
        char names[256];
        be_names(names, sizeof(names));
        return create_fail(MOM_ERR_INVALID_ARG, "backend \"%s\" is not one of this build's: %s", name, names);
    }
    if (is_auto && s->device >= 0)
        return create_fail(MOM_ERR_INVALID_ARG, "device = %d with backend auto: a device index needs its backend named",
                           s->device);
    mom_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return create_fail(MOM_ERR_NOMEM, "out of memory for a context");
    ctx->n_threads = s->n_threads;
    char desc[sizeof(ctx->backend_name)]; /* the backend's description, or why it did not start */
    if (is_auto) {
        char why[sizeof(ctx->err)];
        ctx->be = first_device_backend(s, desc, sizeof(desc), why, sizeof(why));
        if (!ctx->be) mom_fail(ctx, MOM_OK, "backend auto: %s; running on the CPU", why);
    }
    if (!ctx->be) {
        const mom_status st = be_create(e, s, &ctx->be, desc, sizeof(desc));
        if (st != MOM_OK) {
            free(ctx);
            return create_fail(st, "backend %s: %s", e->name, desc);
        }
    }
    snprintf(ctx->backend_name, sizeof(ctx->backend_name), "%s", desc);
    *out = ctx;
    return MOM_OK;
}

void mom_ctx_destroy(mom_ctx **ctx)
{
    if (!ctx || !*ctx) return;
    if ((*ctx)->be) (*ctx)->be->destroy((*ctx)->be);
    free(*ctx);
    *ctx = NULL;
}

const char *mom_ctx_last_error(const mom_ctx *ctx) { return ctx ? ctx->err : "no context"; }

const char *mom_ctx_backend_name(const mom_ctx *ctx) { return ctx ? ctx->backend_name : ""; }

mom_status mom_devices_string(const char *backend, char *buf, size_t cap)
{
    if (buf && cap) buf[0] = '\0';
    if (!backend || !buf || !cap) return MOM_ERR_INVALID_ARG;
    const be_entry *e = be_find(backend);
    if (!e) return MOM_ERR_NOT_FOUND;
    e->list_devices(buf, cap);
    return MOM_OK;
}

const char *mom_backend_name(int i)
{
    int n = 0;
    while (be_registry[n]) n++;
    return i >= 0 && i < n ? be_registry[i]->name : NULL;
}

void mom_vulkan_devices_string(char *buf, size_t cap)
{
    if (mom_devices_string("vulkan", buf, cap) == MOM_ERR_NOT_FOUND) buf[0] = '\0';
}
