#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, int64_t total, const char *const *names, int n_mod)
{
    p->tty = isatty(2);
    p->total = total;
    p->t0 = now_seconds();
    p->last_print = -1e9;
    p->names = names;
    p->n_mod = n_mod;
    p->saved_step = -1;
    p->saved_t = 0;
}

void progress_saved(progress *p, int64_t step)
{
    p->saved_step = step;
    p->saved_t = now_seconds();
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

void progress_update(progress *p, int64_t step, int64_t step0, double tokens_per_s, const mom_losses *l)
{
    const double now = now_seconds();
    const int last = step == p->total;
    /* A terminal redraws often; a log gets a line every ~10 s and at the end. */
    if (!last && now - p->last_print < (p->tty ? 0.2 : 10.0)) return;
    p->last_print = now;
    const double done = (double)(step - step0), left = (double)(p->total - step);
    const double eta = done > 0 ? (now - p->t0) / done * left : 0;
    char eta_s[32], losses[256], saved[64] = "";
    fmt_time(eta_s, sizeof(eta_s), eta);
    if (p->saved_step >= 0) {
        char ago[32];
        fmt_time(ago, sizeof(ago), now - p->saved_t);
        snprintf(saved, sizeof(saved), "  saved step %lld, %s ago", (long long)p->saved_step, ago);
    }
    int o = 0;
    for (int k = 0; k < p->n_mod && o < (int)sizeof(losses); k++) {
        if (isnan(l->by_modality[k])) o += snprintf(losses + o, sizeof(losses) - (size_t)o, " %s -", p->names[k]);
        else o += snprintf(losses + o, sizeof(losses) - (size_t)o, " %s %.3f", p->names[k], l->by_modality[k]);
    }
    if (p->tty) {
        char bar[21];
        int fill = (int)(20.0 * (double)step / (double)(p->total ? p->total : 1));
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[K[%s] step %lld/%lld  %.0f tok/s  loss %.3f (%s )  ETA %s%s", bar, (long long)step,
                (long long)p->total, tokens_per_s, l->loss, losses + 1, eta_s, saved);
    } else {
        fprintf(stderr, "step %lld/%lld  %.0f tok/s  loss %.4f (%s )  ETA %s%s\n", (long long)step,
                (long long)p->total, tokens_per_s, l->loss, losses + 1, eta_s, saved);
    }
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->tty) fprintf(stderr, "\n");
}
