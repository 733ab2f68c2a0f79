#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int tool_error(const char *cmd, const mom_ctx *ctx, mom_status s)
{
    const char *msg = ctx ? mom_ctx_last_error(ctx) : "";
    fprintf(stderr, "mom %s: %s\n", cmd, msg && *msg ? msg : mom_status_str(s));
    return 1;
}

const char *tool_backend_choices(void)
{
    static char buf[256];
    if (buf[0]) return buf;
    size_t used = 0;
    for (int i = 0; mom_backend_name(i) && used < sizeof(buf); i++) {
        const int w = snprintf(buf + used, sizeof(buf) - used, "%s|", mom_backend_name(i));
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used < sizeof(buf)) snprintf(buf + used, sizeof(buf) - used, "auto");
    return buf;
}

mom_ctx *tool_ctx_on(const char *cmd, int n_threads, const char *matmul, const char *backend, int device)
{
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    s.n_threads = n_threads;
    s.backend = backend;
    s.device = device;
    if (matmul && strcmp(matmul, "fp32") && strcmp(matmul, "bf16")) {
        fprintf(stderr, "mom %s: --matmul %s: expected fp32 or bf16\n", cmd, matmul);
        return NULL;
    }
    s.matmul_bf16 = matmul && !strcmp(matmul, "bf16");
    mom_ctx *ctx = NULL;
    mom_status st = mom_ctx_create(&ctx, &s);
    if (st) {
        fprintf(stderr, "mom %s: cannot start: %s\n", cmd, mom_ctx_create_error());
        return NULL;
    }
    /* --backend auto that fell back to the CPU says so, once. */
    const char *note = mom_ctx_last_error(ctx);
    if (note && *note) fprintf(stderr, "mom %s: %s\n", cmd, note);
    return ctx;
}

mom_ctx *tool_ctx(const char *cmd, int n_threads, const char *matmul)
{
    return tool_ctx_on(cmd, n_threads, matmul, NULL, -1);
}

void print_losses(FILE *f, const mom_losses *l, int n_mod)
{
    fprintf(f, "\"loss\": %.9g, \"loss_by_modality\": [", l->loss);
    for (int k = 0; k < n_mod; k++) {
        if (isnan(l->by_modality[k])) fprintf(f, "%snull", k ? ", " : "");
        else fprintf(f, "%s%.9g", k ? ", " : "", l->by_modality[k]);
    }
    fprintf(f, "], \"targets_by_modality\": [");
    for (int k = 0; k < n_mod; k++) fprintf(f, "%s%lld", k ? ", " : "", (long long)l->count[k]);
    fprintf(f, "]");
}

/* mkdir -p: the parents are made too. */
int make_dir(const char *cmd, const char *p)
{
    char buf[4096];
    const int len = snprintf(buf, sizeof(buf), "%s", p);
    if (len <= 0 || (size_t)len >= sizeof(buf)) {
        fprintf(stderr, "mom %s: folder name '%s' is empty or too long\n", cmd, p);
        return -1;
    }
    for (char *c = buf + (buf[0] == '/'); ; c++) {
        const int end = *c == '\0';
        if (*c != '/' && !end) continue;
        *c = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST) {
            fprintf(stderr, "mom %s: cannot create folder %s: %s\n", cmd, buf, strerror(errno));
            return -1;
        }
        if (end) return 0;
        *c = '/';
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void sync_dir(const char *dir)
{
    const int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}
