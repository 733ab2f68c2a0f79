/* The fixture of the file suites (files, import_image, import_audio): a
 * fresh temporary folder per test and a context whose only use is its
 * error message. Define FIXTURE_TAG (the folder name's tag) and include
 * after cmocka.h, ctx.h and test_util.h. */
#ifndef MOM_TEST_DIR_FIXTURE_H
#define MOM_TEST_DIR_FIXTURE_H

typedef struct fixture {
    char dir[64];
    mom_ctx ctx; /* only err is used by the functions under test */
    char path[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tu_make_temp_dir(f->dir, sizeof f->dir, FIXTURE_TAG)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_remove_tree(f->dir);
    free(f);
    return 0;
}

/* dir/name in a buffer owned by the fixture (valid until the next call). */
static const char *in_dir(fixture *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

#endif
