/* Checkpoints survive the writer's death and a full disk. A child saves a
 * model over and over, each version with its own marker value, and is
 * killed at many different moments; after every kill the checkpoint at
 * the path loads and is one whole version. A save that runs out of file
 * size (RLIMIT_FSIZE, as a full disk) fails with MOM_ERR_IO and leaves the
 * previous checkpoint loadable and unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "test_util.h"

static mom_config big(void) { return tu_config(3, 1024, 128, 4, 16); } /* a few MB: a save takes a while */

static const char *MARK = "norm_f.weight";

/* The marker of the checkpoint at path: norm_f.weight[0] (every entry of
 * it equal, else -1), or -2 when it does not load. */
static float marker_of(mom_ctx *ctx, const char *path)
{
    mom_model *m = NULL;
    if (mom_model_load(ctx, path, &m) != MOM_OK) return -2.0f;
    size_t n = tu_tensor_size(m, MARK);
    float *p = malloc(n * 4), v = -2.0f;
    if (mom_model_get_param(m, MARK, p, n) == MOM_OK) {
        v = p[0];
        for (size_t i = 1; i < n; i++)
            if (p[i] != v) v = -1.0f;
    }
    free(p);
    mom_model_destroy(&m);
    return v;
}

static void set_marker(mom_model *m, float v)
{
    size_t n = tu_tensor_size(m, MARK);
    float *p = malloc(n * 4);
    for (size_t i = 0; i < n; i++) p[i] = v;
    assert_int_equal(mom_model_set_param(m, MARK, p, n), MOM_OK);
    free(p);
}

/* A fresh folder, a context and a model whose first checkpoint (marker
 * `first`) is saved at path. */
typedef struct saved {
    char dir[256], path[300];
    mom_ctx *ctx;
    mom_model *m;
} saved;

static void save_first(saved *s, const char *tag, float first)
{
    assert_int_equal(tu_make_temp_dir(s->dir, sizeof s->dir, tag), 0);
    snprintf(s->path, sizeof s->path, "%s/model.safetensors", s->dir);
    assert_int_equal(tu_ctx_create(&s->ctx, 1, NULL), MOM_OK);
    mom_config c = big();
    s->m = tu_new_model(s->ctx, &c, 1);
    set_marker(s->m, first);
    assert_int_equal(mom_model_save(s->m, s->path), MOM_OK);
}

static void drop_saved(saved *s)
{
    mom_model_destroy(&s->m);
    mom_ctx_destroy(&s->ctx);
    tu_remove_tree(s->dir);
}

static void test_kill_during_save(void **st)
{
    (void)st;
    saved sv;
    save_first(&sv, "crash", 1.0f);
    mom_ctx *ctx = sv.ctx;
    mom_model *m = sv.m;
    const char *path = sv.path;
    /* Time one save, to spread the kills over it. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mom_model_save(m, path), MOM_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const long save_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000 + 1;
    enum { KILLS = 40 };
    int whole = 0;
    for (int k = 0; k < KILLS; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* Versions 2, 3, ... saved back to back until killed. */
            for (int v = 2;; v++) {
                set_marker(m, (float)v);
                if (mom_model_save(m, path) != MOM_OK) _exit(3);
            }
        }
        struct timespec d = {0, (long)((k * 7919L) % (3 * save_us)) * 1000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        const float v = marker_of(ctx, path);
        if (v < 1.0f) fail_msg("kill %d (after %ld us of a %ld us save): the checkpoint does not load as a whole "
                               "version (%g)", k, (long)d.tv_nsec / 1000, save_us, (double)v);
        whole++;
    }
    fprintf(stderr, "%d kills during saves of %ld us each: the checkpoint loaded whole every time\n", whole, save_us);
    drop_saved(&sv);
}

static void test_full_disk(void **st)
{
    (void)st;
    saved sv;
    save_first(&sv, "full", 7.0f);
    mom_ctx *ctx = sv.ctx;
    mom_model *m = sv.m;
    const char *path = sv.path, *dir = sv.dir;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Room for 64 KiB a file: the new checkpoint cannot be written. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        setrlimit(RLIMIT_FSIZE, &rl);
        set_marker(m, 8.0f);
        const mom_status s = mom_model_save(m, path);
        const int named = strstr(mom_ctx_last_error(ctx), dir) != NULL;
        _exit(s == MOM_ERR_IO && named ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) fail_msg("a save past the file-size limit did not fail with MOM_ERR_IO naming the file");
    assert_true(marker_of(ctx, path) == 7.0f); /* the previous checkpoint, whole */
    drop_saved(&sv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_save),
        cmocka_unit_test(test_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
