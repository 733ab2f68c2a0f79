/* mom_dataset_import_jsonl: JSON lines of pre-tokenized segments (and
 * patch vectors) into a dataset file, through mom_dataset_write. */
#include "ctx.h"
#include "dataset_format.h"
#include "json.h"
#include "mom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef struct growbuf {
    void *p;
    size_t n, cap; /* in elements */
} growbuf;

static int gb_reserve(growbuf *g, size_t extra, size_t elem)
{
    if (extra > SIZE_MAX / elem - g->n) return -1;
    size_t need = g->n + extra;
    if (need <= g->cap && g->p) return 0; /* a buffer even for 0: callers index it ("tokens": []) */
    size_t nc = g->cap ? g->cap : 4096;
    while (nc < need) nc = nc > SIZE_MAX / elem / 2 ? need : nc * 2;
    void *q = realloc(g->p, nc * elem);
    if (!q) return -1;
    g->p = q;
    g->cap = nc;
    return 0;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* A "patches" segment: each patch one position (MOM_TOK_PAD, image) and
 * one row of pat. */
static mom_status import_patches(mom_ctx *ctx, const char *in, long long line, size_t s, const json_value *pp,
                                 const mom_patch_geometry *geom, int vocab, growbuf *tok, growbuf *mod, growbuf *pat)
{
    if (!geom)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: line %lld: segment %zu: patches need a patch geometry (mom data import --patch P --size S "
                        "[--channels C])", in, line, s);
    if (vocab <= MOM_TOK_PAD)
        return mom_fail(ctx, MOM_ERR_DATA,
                        "%s: line %lld: segment %zu: patches need vocab_size > %d (a patch position's token is the pad "
                        "token %d): %d", in, line, s, MOM_TOK_PAD, MOM_TOK_PAD, vocab);
    const size_t dim = (size_t)mom_patch_dim(geom), n = pp->n_items;
    if (gb_reserve(tok, n, sizeof(int32_t)) != 0 || gb_reserve(mod, n, 1) != 0 ||
        (n && dim > SIZE_MAX / sizeof(float) / n) || gb_reserve(pat, n * dim, sizeof(float)) != 0)
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: line %lld: out of memory", in, line);
    float *row = (float *)pat->p + pat->n;
    for (size_t i = 0; i < n; i++, row += dim) {
        const json_value *v = &pp->items[i];
        if (v->type != JSON_ARRAY)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: patch %zu is not an array of numbers", in,
                            line, s, i);
        if (v->n_items != dim)
            return mom_fail(ctx, MOM_ERR_DATA,
                            "%s: line %lld: segment %zu: patch %zu has %zu values, patch_dim is %zu (%d x %d pixels x %d "
                            "channels)", in, line, s, i, v->n_items, dim, geom->patch_size, geom->patch_size,
                            geom->channels);
        for (size_t k = 0; k < dim; k++) {
            const json_value *x = &v->items[k];
            if (x->type != JSON_NUMBER)
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: patch %zu: value %zu is not a number", in,
                                line, s, i, k);
            row[k] = (float)x->number;
            if (!isfinite(row[k]))
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: patch %zu: value %zu (%g) is not a finite float32",
                                in, line, s, i, k, x->number);
        }
        ((int32_t *)tok->p)[tok->n + i] = MOM_TOK_PAD;
        ((uint8_t *)mod->p)[mod->n + i] = MOM_MOD_IMAGE;
    }
    tok->n += n;
    mod->n += n;
    pat->n += n * dim;
    return MOM_OK;
}

/* Appends one document (the parsed line) to tok/mod (and its patch rows
 * to pat). */
static mom_status import_doc(mom_ctx *ctx, const char *in, long long line, const json_value *root, growbuf *tok,
                             growbuf *mod, growbuf *pat, int vocab, int n_mod, const mom_patch_geometry *geom)
{
    const json_value *segs = json_get(root, "segments");
    if (!root || root->type != JSON_OBJECT || !segs || segs->type != JSON_ARRAY)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: not an object with a \"segments\" array", in, line);
    const size_t before = tok->n, values_before = pat->n; /* pat counts floats */
    for (size_t s = 0; s < segs->n_items; s++) {
        const json_value *seg = &segs->items[s];
        const json_value *m = json_get(seg, "modality"), *tt = json_get(seg, "tokens"), *pp = json_get(seg, "patches");
        if (!m || !!tt == !!pp || (tt && tt->type != JSON_ARRAY) || (pp && pp->type != JSON_ARRAY))
            return mom_fail(ctx, MOM_ERR_FORMAT,
                            "%s: line %lld: segment %zu: needs \"modality\" and either a \"tokens\" or a \"patches\" array",
                            in, line, s);
        if (m->type != JSON_NUMBER || !m->is_int)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: modality is not an integer", in, line, s);
        if (m->integer < 0 || m->integer >= n_mod)
            return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: modality %lld out of range [0, %d)", in, line, s,
                            (long long)m->integer, n_mod);
        if (pp) {
            if (m->integer != MOM_MOD_IMAGE)
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: patches have modality %d (image), not %lld",
                                in, line, s, MOM_MOD_IMAGE, (long long)m->integer);
            mom_status st = import_patches(ctx, in, line, s, pp, geom, vocab, tok, mod, pat);
            if (st != MOM_OK) return st;
            continue;
        }
        if (gb_reserve(tok, tt->n_items, sizeof(int32_t)) != 0 || gb_reserve(mod, tt->n_items, 1) != 0)
            return mom_fail(ctx, MOM_ERR_NOMEM, "%s: line %lld: out of memory", in, line);
        int32_t *tp = (int32_t *)tok->p + tok->n;
        uint8_t *mp = (uint8_t *)mod->p + mod->n;
        for (size_t i = 0; i < tt->n_items; i++) {
            const json_value *v = &tt->items[i];
            if (v->type != JSON_NUMBER || !v->is_int) {
                if (v->type == JSON_NUMBER)
                    return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: token %.17g is not an integer at index %zu",
                                    in, line, s, v->number, i);
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: token is not a number at index %zu", in,
                                line, s, i);
            }
            if (v->integer < 0 || v->integer >= vocab)
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: token %lld out of range [0, %d) at index %zu",
                                in, line, s, (long long)v->integer, vocab, i);
            /* With patches, (pad, image) is a patch position, which has a row. */
            if (geom && v->integer == MOM_TOK_PAD && m->integer == MOM_MOD_IMAGE)
                return mom_fail(ctx, MOM_ERR_DATA,
                                "%s: line %lld: segment %zu: token %d with modality %d at index %zu is a patch position: "
                                "give it as \"patches\"", in, line, s, MOM_TOK_PAD, MOM_MOD_IMAGE, i);
            tp[i] = (int32_t)v->integer;
            mp[i] = (uint8_t)m->integer;
        }
        tok->n += tt->n_items;
        mod->n += tt->n_items;
    }
    if (tok->n == before) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: document has no tokens", in, line);
    if (!geom) return MOM_OK;
    /* The image rule, here so that the message names the line (token
     * offsets count from the document's start). */
    char what[4200];
    snprintf(what, sizeof what, "%s: line %lld", in, line);
    const int64_t n = (int64_t)(tok->n - before), rows = (int64_t)(pat->n - values_before) / mom_patch_dim(geom);
    const doc_bounds one = {NULL, NULL, 1, n};
    int64_t got = 0;
    /* pat->p is still NULL when no patch has been read yet. */
    const float *doc_rows = pat->p ? (const float *)pat->p + values_before : NULL;
    return dataset_check_patches(ctx, what, (const int32_t *)tok->p + before, (const uint8_t *)mod->p + before, n,
                                 &one, geom, doc_rows, rows, &got);
}

mom_status mom_dataset_import_jsonl(mom_ctx *ctx, const char *jsonl_path, const char *out_path, int vocab_size,
                                    int n_modalities, const mom_patch_geometry *geom)
{
    if (!jsonl_path || !out_path)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_import_jsonl: %s is NULL",
                        jsonl_path ? "out_path" : "jsonl_path");
    if (vocab_size < 0)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: vocab_size must be >= 1 (or 0: largest token + 1): %d",
                        jsonl_path, vocab_size);
    if (n_modalities < 0 || n_modalities > MOM_MAX_MODALITIES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_modalities must be in [1, %d] (or 0: largest id + 1): %d",
                        jsonl_path, MOM_MAX_MODALITIES, n_modalities);
    if (!dataset_geometry_is_set(geom)) geom = NULL;
    mom_status gst = geom ? dataset_check_geometry(ctx, jsonl_path, geom, MOM_ERR_INVALID_ARG) : MOM_OK;
    if (gst) return gst;
    /* 0 asks for the smallest sizes that hold the data. */
    const int infer_vocab = vocab_size == 0, infer_mod = n_modalities == 0;
    if (infer_vocab) vocab_size = INT32_MAX;
    if (infer_mod) n_modalities = MOM_MAX_MODALITIES;
    FILE *f = fopen(jsonl_path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", jsonl_path, strerror(errno));
    growbuf tok = {0}, mod = {0}, docs = {0}, patches = {0};
    char *line = NULL;
    size_t line_cap = 0;
    long long line_no = 0;
    mom_status st = MOM_OK;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if ((st = mom_check_stop(ctx, jsonl_path))) break;
        const char *text = line;
        size_t n = (size_t)len;
        if (line_no == 1 && n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) { /* UTF-8 byte order mark */
            text += 3;
            n -= 3;
        }
        if (is_blank(text, n)) continue;
        json_value *root = NULL;
        char jerr[128];
        if (json_parse(text, n, &root, jerr, sizeof jerr) != 0) {
            st = mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: %s", jsonl_path, line_no, jerr);
            break;
        }
        if (gb_reserve(&docs, 1, sizeof(int64_t)) != 0) {
            json_free(root);
            st = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", jsonl_path);
            break;
        }
        ((int64_t *)docs.p)[docs.n] = (int64_t)tok.n;
        st = import_doc(ctx, jsonl_path, line_no, root, &tok, &mod, &patches, vocab_size, n_modalities, geom);
        json_free(root);
        if (st != MOM_OK) break;
        docs.n++;
        if (tok.n > (size_t)INT64_MAX / 16) {
            st = mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: line %lld: too many tokens", jsonl_path, line_no);
            break;
        }
    }
    if (st == MOM_OK && ferror(f)) st = mom_fail(ctx, MOM_ERR_IO, "%s: read failed: %s", jsonl_path, strerror(errno));
    fclose(f);
    free(line);
    if (st == MOM_OK && docs.n == 0) st = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no documents", jsonl_path);
    if (st == MOM_OK && gb_reserve(&docs, 1, sizeof(int64_t)) != 0)
        st = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", jsonl_path);
    if (st == MOM_OK) {
        ((int64_t *)docs.p)[docs.n] = (int64_t)tok.n;
        int max_tok = 0, max_mod = 0;
        for (size_t i = 0; i < tok.n && (infer_vocab || infer_mod); i++) {
            if (((const int32_t *)tok.p)[i] > max_tok) max_tok = ((const int32_t *)tok.p)[i];
            if (((const uint8_t *)mod.p)[i] > max_mod) max_mod = ((const uint8_t *)mod.p)[i];
        }
        if (infer_vocab) vocab_size = max_tok + 1;
        if (infer_mod) n_modalities = max_mod + 1;
        st = mom_dataset_write(ctx, out_path, tok.p, mod.p, (int64_t)tok.n, docs.p, (int64_t)docs.n, vocab_size,
                               n_modalities, NULL, geom ? patches.p : NULL, geom);
    }
    free(tok.p);
    free(mod.p);
    free(docs.p);
    free(patches.p);
    return st;
}
