/* A run folder of mom train: the flags it was started with (args.txt),
 * its default name, and its checkpoints, saved so that a run killed at
 * any moment leaves the last whole one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "run_folder.h"

/* Re-reads args.txt ("--flag value" per line) as if typed before the
 * command line's own flags. */
int run_load_args(const char *dir, arg_opt *o, int n, const char *summary)
{
    char path[4096], line[4200];
    snprintf(path, sizeof(path), "%s/args.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mom train: --resume %s: no %s (is it a run folder?)\n", dir, path);
        return -1;
    }
    static char store[64][4200];
    int k = 0, rc = 0;
    while (k < 64 && fgets(store[k], sizeof(store[k]), f)) {
        store[k][strcspn(store[k], "\n")] = '\0';
        if (!store[k][0]) continue;
        snprintf(line, sizeof(line), "%s", store[k]);
        char *sp = strchr(store[k], ' ');
        char *av[4] = {"mom", "train", store[k], NULL};
        int ac = 3;
        if (sp) {
            *sp = '\0';
            av[3] = sp + 1;
            ac = 4;
        }
        if (args_parse("train", summary, o, n, ac, av, 2)) {
            fprintf(stderr, "mom train: %s: bad line '%s'\n", path, line);
            rc = -1;
            break;
        }
        k++;
    }
    fclose(f);
    for (int i = 0; i < n; i++) o[i].seen = 0;
    return rc;
}

int run_save_args(const char *dir, const arg_opt *o, int n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/args.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(o[i].name, "--resume") || !strcmp(o[i].name, "--out")) continue;
        switch (o[i].type) {
        case ARG_STR:
            if (*(const char **)o[i].dst) fprintf(f, "%s %s\n", o[i].name, *(const char **)o[i].dst);
            break;
        case ARG_INT: fprintf(f, "%s %d\n", o[i].name, *(int *)o[i].dst); break;
        case ARG_I64: fprintf(f, "%s %lld\n", o[i].name, (long long)*(int64_t *)o[i].dst); break;
        case ARG_FLOAT: fprintf(f, "%s %.9g\n", o[i].name, (double)*(float *)o[i].dst); break;
        case ARG_FLAG: break;
        }
    }
    return fclose(f);
}

void run_default_dir(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, cap, "runs/%s", stamp);
    struct stat st;
    for (int i = 2; stat(buf, &st) == 0; i++) snprintf(buf, cap, "runs/%s-%d", stamp, i);
}

/* path becomes a symbolic link to target, in one rename (a reader sees the
 * old link or the new one, never none). */
static int link_atomically(const char *target, const char *path)
{
    char tmp[2500];
    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) || rename(tmp, path)) {
        fprintf(stderr, "mom train: cannot link %s to %s: %s\n", path, target, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A checkpoint is a pair, model and optimizer, that must change as one: a
 * run killed between two renames would leave a model of one step with the
 * optimizer of another. So each save goes to a folder of its own,
 * DIR/ckpt-STEP, then the link DIR/checkpoint moves to it in one rename,
 * then the previous folder goes; DIR/model.safetensors and
 * DIR/optim.safetensors are links through DIR/checkpoint. */
int run_save_checkpoint(const char *dir, mom_ctx *ctx, mom_model *m, uint64_t data_rng)
{
    char gen[32], mp[2200], op[2200], link[2100], old[64] = "";
    snprintf(gen, sizeof(gen), "ckpt-%lld", (long long)mom_model_steps_done(m));
    char gen_dir[2100];
    snprintf(gen_dir, sizeof(gen_dir), "%s/%s", dir, gen);
    snprintf(link, sizeof(link), "%s/checkpoint", dir);
    const ssize_t n = readlink(link, old, sizeof(old) - 1);
    old[n > 0 ? n : 0] = '\0';
    if (make_dir("train", gen_dir)) return 1;
    snprintf(mp, sizeof(mp), "%s/model.safetensors", gen_dir);
    snprintf(op, sizeof(op), "%s/optim.safetensors", gen_dir);
    mom_status s = mom_model_save(m, mp);
    if (!s) s = mom_model_save_optim(m, op, data_rng);
    if (s) return tool_error("train", ctx, s);
    if (link_atomically(gen, link)) return 1;
    const char *names[2] = {"model.safetensors", "optim.safetensors"};
    for (int i = 0; i < 2; i++) {
        char p[2100], t[64], cur[64] = "";
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        snprintf(t, sizeof(t), "checkpoint/%s", names[i]);
        const ssize_t k = readlink(p, cur, sizeof(cur) - 1);
        cur[k > 0 ? k : 0] = '\0';
        if (strcmp(cur, t) && link_atomically(t, p)) return 1;
    }
    sync_dir(dir);
    /* The previous save, now that nothing points to it. */
    if (old[0] && strcmp(old, gen)) {
        char od[2200];
        for (int i = 0; i < 2; i++) {
            snprintf(od, sizeof(od), "%s/%s/%s", dir, old, names[i]);
            unlink(od);
        }
        snprintf(od, sizeof(od), "%s/%s", dir, old);
        rmdir(od);
    }
    return 0;
}
