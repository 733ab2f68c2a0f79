/* Builds a dataset file from a manifest of documents whose segments are
 * text, text files, images and recordings (see mom_data.h): each segment
 * is tokenized into the unified vocabulary (an image into VQ codes, or
 * into continuous patch positions with their vectors) and the documents
 * are written with their layout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "file_util.h"
#include "json.h"
#include "mom_data.h"

typedef struct doc_buf {
    int32_t *tok;
    uint8_t *mod;
    size_t n, cap;
    int64_t *starts;
    size_t n_docs, cap_docs;
    float *patches; /* [n_rows, patch_dim]: one row per patch position */
    size_t n_rows, cap_rows;
} doc_buf;

static int push(doc_buf *d, int32_t token, int modality)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 65536;
        int32_t *t = realloc(d->tok, nc * sizeof(int32_t));
        if (!t) return -1;
        d->tok = t;
        uint8_t *m = realloc(d->mod, nc);
        if (!m) return -1;
        d->mod = m;
        d->cap = nc;
    }
    d->tok[d->n] = token;
    d->mod[d->n++] = (uint8_t)modality;
    return 0;
}

/* libmom's own order (text_first 0), so the importers below write the
 * MOM_TOK_* values as the special tokens' ids. */
mom_status mom_import_layout(const mom_vq *vq, const mom_units *units, mom_vocab_layout *out)
{
    if (!out) return MOM_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    out->n_special = MOM_N_SPECIAL;
    out->n_text = MOM_TEXT_BYTES;
    out->n_image = vq ? mom_vq_codes(vq) : 0;
    out->n_speech = units ? mom_units_codes(units) : 0;
    return MOM_OK;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    const unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
    return len;
}

static mom_status push_text(mom_ctx *ctx, const char *what, const unsigned char *s, size_t n, doc_buf *d)
{
    for (size_t i = 0; i < n;) {
        const size_t len = utf8_len(s + i, n - i);
        if (!len) return mom_fail(ctx, MOM_ERR_DATA, "%s: not UTF-8 at byte %zu (0x%02x)", what, i, s[i]);
        for (size_t j = 0; j < len; j++)
            if (push(d, MOM_N_SPECIAL + s[i + j], MOM_MOD_TEXT)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", what);
        i += len;
    }
    return MOM_OK;
}

static mom_status push_text_file(mom_ctx *ctx, const char *path, doc_buf *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0;
    unsigned char *buf = file_read_all(f, &n);
    const int err = errno;
    fclose(f);
    if (!buf)
        return err == ENOMEM ? mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path)
                             : mom_fail(ctx, MOM_ERR_IO, "%s: read failed", path);
    mom_status s = push_text(ctx, path, buf, n, d);
    free(buf);
    return s;
}

static mom_status push_image(mom_ctx *ctx, const char *path, const mom_vq *vq, const mom_vocab_layout *lay,
                             doc_buf *d)
{
    const int size = mom_vq_image_size(vq), ch = mom_vq_channels(vq), nt = mom_vq_tokens_per_image(vq) + 2;
    float *px = malloc(sizeof(float) * (size_t)size * size * ch);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)nt);
    uint8_t *mod = malloc((size_t)nt);
    mom_status s = !px || !tok || !mod ? mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path) : MOM_OK;
    if (!s) s = mom_image_load(ctx, path, size, ch, px);
    if (!s) s = mom_vq_image_tokens(ctx, vq, lay, px, size, size, ch, tok, mod);
    for (int i = 0; !s && i < nt; i++)
        if (push(d, tok[i], mod[i])) s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    free(px);
    free(tok);
    free(mod);
    return s;
}

/* A continuous image: BOI, one (pad, image) position per patch, EOI, and
 * the patches' rows. */
static mom_status push_image_patches(mom_ctx *ctx, const char *path, const mom_patch_geometry *g, doc_buf *d)
{
    const size_t n = (size_t)mom_patches_per_image(g), dim = (size_t)mom_patch_dim(g);
    if (d->n_rows + n > d->cap_rows) {
        size_t nc = d->cap_rows ? 2 * d->cap_rows : 4096;
        while (nc < d->n_rows + n) nc *= 2;
        float *p = nc <= SIZE_MAX / sizeof(float) / dim ? realloc(d->patches, nc * dim * sizeof(float)) : NULL;
        if (!p) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
        d->patches = p;
        d->cap_rows = nc;
    }
    float *px = malloc(sizeof(float) * (size_t)g->image_size * (size_t)g->image_size * (size_t)g->channels);
    mom_status s = px ? mom_image_load(ctx, path, g->image_size, g->channels, px)
                      : mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    if (!s) s = mom_image_to_patches(ctx, g, px, d->patches + d->n_rows * dim);
    free(px);
    if (s) return s;
    d->n_rows += n;
    if (push(d, MOM_TOK_BOI, MOM_MOD_TEXT)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        if (push(d, MOM_TOK_PAD, MOM_MOD_IMAGE)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    if (push(d, MOM_TOK_EOI, MOM_MOD_TEXT)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    return MOM_OK;
}

static mom_status push_audio(mom_ctx *ctx, const char *path, const mom_units *u, const mom_vocab_layout *lay,
                             doc_buf *d)
{
    int32_t *units = NULL;
    size_t n = 0;
    mom_status s = mom_units_encode_file(ctx, u, path, &units, &n);
    const int32_t base = lay->n_special + lay->n_text + lay->n_image;
    if (!s && push(d, MOM_TOK_BOSP, MOM_MOD_TEXT)) s = MOM_ERR_NOMEM;
    for (size_t i = 0; !s && i < n; i++)
        if (push(d, base + units[i], MOM_MOD_SPEECH)) s = MOM_ERR_NOMEM;
    if (!s && push(d, MOM_TOK_EOSP, MOM_MOD_TEXT)) s = MOM_ERR_NOMEM;
    if (s == MOM_ERR_NOMEM) mom_fail(ctx, s, "%s: out of memory", path);
    free(units);
    return s;
}

/* dir/rel, or rel itself when absolute; -1 when it does not fit. */
static int resolve(char *out, size_t cap, const char *dir, const char *rel)
{
    const int n = rel[0] == '/' || !dir[0] ? snprintf(out, cap, "%s", rel) : snprintf(out, cap, "%s/%s", dir, rel);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static mom_status import_line(mom_ctx *ctx, const char *manifest, long long line, const char *dir,
                              const json_value *root, const mom_vq *vq, const mom_units *units,
                              const mom_patch_geometry *geom, const mom_vocab_layout *lay, doc_buf *d)
{
    const json_value *segs = json_get(root, "segments");
    if (!root || root->type != JSON_OBJECT || !segs || segs->type != JSON_ARRAY || !segs->n_items)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: not an object with a non-empty \"segments\" array", manifest,
                        line);
    if (push(d, MOM_TOK_BOS, MOM_MOD_TEXT)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", manifest);
    for (size_t i = 0; i < segs->n_items; i++) {
        const json_value *seg = &segs->items[i];
        const char *kinds[4] = {"text", "text_file", "image", "audio"};
        const json_value *v = NULL;
        int kind = -1;
        for (int k = 0; k < 4 && seg->type == JSON_OBJECT; k++)
            if ((v = json_get(seg, kinds[k]))) {
                kind = k;
                break;
            }
        if (kind < 0 || v->type != JSON_STRING || seg->n_keys != 1)
            return mom_fail(ctx, MOM_ERR_FORMAT,
                            "%s: line %lld: segment %zu: needs exactly one of \"text\", \"text_file\", \"image\", "
                            "\"audio\" with a string value", manifest, line, i);
        char path[4096];
        if (resolve(path, sizeof(path), dir, v->str))
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: line %lld: segment %zu: path too long: %.64s...", manifest,
                            line, i, v->str);
        mom_status s = MOM_OK;
        if (kind == 0) {
            char what[4200];
            snprintf(what, sizeof(what), "%s: line %lld: segment %zu", manifest, line, i);
            s = push_text(ctx, what, (const unsigned char *)v->str, v->str_len, d);
        } else if (kind == 1) {
            s = push_text_file(ctx, path, d);
        } else if (kind == 2) {
            s = vq     ? push_image(ctx, path, vq, lay, d)
                : geom ? push_image_patches(ctx, path, geom, d)
                       : mom_fail(ctx, MOM_ERR_INVALID_ARG,
                                  "%s: line %lld: an image segment needs an image codebook (--vq) or a patch size "
                                  "(--patch, --size)", manifest, line);
        } else {
            s = units ? push_audio(ctx, path, units, lay, d)
                      : mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: line %lld: an audio segment needs a units codebook (--units)",
                                 manifest, line);
        }
        if (s) return s;
    }
    if (push(d, MOM_TOK_EOS, MOM_MOD_TEXT)) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", manifest);
    return MOM_OK;
}

static int push_start(doc_buf *d, int64_t start)
{
    if (d->n_docs == d->cap_docs) {
        size_t nc = d->cap_docs ? 2 * d->cap_docs : 1024;
        int64_t *p = realloc(d->starts, nc * sizeof(int64_t));
        if (!p) return -1;
        d->starts = p;
        d->cap_docs = nc;
    }
    d->starts[d->n_docs++] = start;
    return 0;
}

mom_status mom_dataset_import_manifest(mom_ctx *ctx, const char *manifest_path, const char *out_path,
                                       const mom_vq *vq, const mom_units *units, const mom_patch_geometry *patches)
{
    if (!manifest_path || !out_path)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_import_manifest: %s is NULL",
                        manifest_path ? "out_path" : "manifest_path");
    const mom_patch_geometry *geom = patches && (patches->patch_size || patches->image_size || patches->channels)
                                         ? patches : NULL;
    if (geom && vq)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: images as codes (a codebook, --vq) or as patches (--patch %d), not both", manifest_path,
                        geom->patch_size);
    if (geom && (geom->patch_size < 1 || geom->image_size < geom->patch_size || geom->image_size % geom->patch_size ||
                 (geom->channels != 1 && geom->channels != 3)))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: patch %d, size %d, channels %d: the size must be a multiple of the patch, channels 1 or 3",
                        manifest_path, geom->patch_size, geom->image_size, geom->channels);
    FILE *f = fopen(manifest_path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", manifest_path, strerror(errno));
    char dir[4096];
    if (strlen(manifest_path) >= sizeof(dir)) {
        fclose(f);
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%.64s...: manifest path too long", manifest_path);
    }
    snprintf(dir, sizeof(dir), "%s", manifest_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else dir[0] = '\0';
    mom_vocab_layout lay;
    mom_import_layout(vq, units, &lay);
    doc_buf d = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    long long ln = 0;
    mom_status s = MOM_OK;
    while (!s && (len = getline(&line, &lcap, f)) >= 0) {
        ln++;
        if ((s = mom_check_stop(ctx, manifest_path))) break;
        size_t n = (size_t)len;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        if (!n) continue;
        json_value *root = NULL;
        char err[160];
        if (json_parse(line, n, &root, err, sizeof(err))) {
            s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: not valid JSON: %s", manifest_path, ln, err);
            break;
        }
        if (push_start(&d, (int64_t)d.n)) s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", manifest_path);
        if (!s) s = import_line(ctx, manifest_path, ln, dir, root, vq, units, geom, &lay, &d);
        json_free(root);
    }
    free(line);
    if (!s && ferror(f)) s = mom_fail(ctx, MOM_ERR_IO, "%s: read failed after line %lld", manifest_path, ln);
    fclose(f);
    if (!s && d.n_docs == 0) s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no documents", manifest_path);
    if (!s && push_start(&d, (int64_t)d.n)) s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", manifest_path);
    /* Continuous images have no codes in the layout, but modality 1. */
    int n_mod = mom_vocab_layout_n_modalities(&lay);
    if (geom && n_mod < 2) n_mod = 2;
    if (!s)
        s = mom_dataset_write(ctx, out_path, d.tok, d.mod, (int64_t)d.n, d.starts, (int64_t)d.n_docs - 1,
                              mom_vocab_layout_size(&lay), n_mod, &lay, d.patches, geom);
    free(d.tok);
    free(d.mod);
    free(d.starts);
    free(d.patches);
    return s;
}
