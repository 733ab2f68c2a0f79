/* mom data: building dataset files.
 *   import     from a manifest of text / image / audio documents, from one
 *              file of each kind, or from JSON lines of pre-tokenized segments
 *   vq-train   the image codebook (k-means over p x p patches)
 *   units-train the speech-unit codebook (k-means over log-mel frames)
 *   decode-images  a dataset's images (codes or patches) back to PNG files */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "common.h"
#include "mom_data.h"
#include "stop_signal.h"

static const char *usage =
    "usage: mom data import --manifest DOCS.jsonl --out OUT.bin [--vq VQ | --patch P --size S [--channels C]] [--units UNITS]\n"
    "       mom data import --text FILE | --image FILE (--vq VQ | --patch P --size S) | --audio FILE --units UNITS  --out OUT.bin\n"
    "       mom data import --jsonl TOKENS.jsonl --out OUT.bin [--vocab V] [--modalities M] [--patch P --size S [--channels C]]\n"
    "       mom data vq-train --list IMAGES.txt --out VQ.safetensors [--size 8 --patch 2 --codes 256]\n"
    "       mom data units-train --list AUDIO.txt --out UNITS.safetensors [--codes 128]\n"
    "       mom data decode-images --data D.bin [--vq VQ] --out DIR [--max 16]\n";

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The paths of a list file, one per line, relative to the list's folder. */
static char **read_list(const char *list, size_t *n)
{
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "mom data: cannot open the list %s\n", list);
        return NULL;
    }
    const char *slash = strrchr(list, '/');
    const int dlen = slash ? (int)(slash - list) : 0;
    char **v = NULL, line[4096];
    size_t cap = 0;
    *n = 0;
    int bad = 0;
    while (!bad && fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "mom data: %s: line %zu is longer than %zu bytes\n", list, *n + 1, sizeof(line) - 1);
            bad = 1;
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, cap * sizeof(char *));
            if (!nv) {
                bad = 1;
                break;
            }
            v = nv;
        }
        const size_t sz = strlen(line) + (size_t)dlen + 2;
        if (!(v[*n] = malloc(sz))) {
            bad = 1;
            break;
        }
        if (line[0] == '/' || !dlen) snprintf(v[*n], sz, "%s", line);
        else snprintf(v[*n], sz, "%.*s/%s", dlen, list, line);
        (*n)++;
    }
    bad = bad || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "mom data: cannot read the list %s\n", list);
        free_list(v, *n);
        *n = 0;
        return NULL;
    }
    if (!*n) fprintf(stderr, "mom data: the list %s names no files\n", list);
    return v;
}

static void print_dataset(mom_ctx *ctx, const char *out)
{
    mom_dataset *d = NULL;
    if (mom_dataset_open(ctx, out, &d)) return;
    mom_vocab_layout l;
    mom_dataset_vocab_layout(d, &l);
    printf("{\"out\": \"%s\", \"tokens\": %lld, \"documents\": %lld, \"vocab_size\": %lld, \"n_modalities\": %d",
           out, (long long)mom_dataset_n_tokens(d), (long long)mom_dataset_n_docs(d),
           (long long)mom_dataset_vocab_size(d), mom_dataset_n_modalities(d));
    if (mom_vocab_layout_is_set(&l))
        printf(", \"vocab_layout\": {\"special\": %d, \"text\": %d, \"image\": %d, \"speech\": %d}", l.n_special,
               l.n_text, l.n_image, l.n_speech);
    mom_patch_geometry g;
    mom_dataset_patch_geometry(d, &g);
    if (mom_patch_dim(&g))
        printf(", \"patches\": {\"patch\": %d, \"size\": %d, \"channels\": %d, \"positions\": %lld, \"images\": %lld}",
               g.patch_size, g.image_size, g.channels, (long long)mom_dataset_n_patches(d),
               (long long)(mom_dataset_n_patches(d) / mom_patches_per_image(&g)));
    printf("}\n");
    mom_dataset_destroy(&d);
}

/* s inside a JSON string: quotes, backslashes and control bytes escaped. */
static void put_json_chars(FILE *f, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
}

/* A one-document manifest next to out, for --text / --image / --audio. */
static int single_file_manifest(const char *out, const char *kind, const char *file, char *path, size_t cap)
{
    snprintf(path, cap, "%s.manifest.tmp", out);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    /* The manifest sits beside OUT, so a relative path is made absolute
     * from the working folder (even when the file does not exist, so the
     * error names the path the user meant). */
    char cwd[4096] = "";
    if (file[0] != '/' && !getcwd(cwd, sizeof(cwd))) cwd[0] = '\0';
    fprintf(f, "{\"segments\": [{\"%s\": \"", kind);
    if (cwd[0]) {
        put_json_chars(f, cwd);
        fputc('/', f);
    }
    put_json_chars(f, file);
    fprintf(f, "\"}]}\n");
    return fclose(f);
}

static int data_import(int argc, char **argv)
{
    const char *jsonl = NULL, *manifest = NULL, *text = NULL, *image = NULL, *audio = NULL, *out = NULL;
    const char *vq_path = NULL, *units_path = NULL;
    int vocab = 0, n_mod = 0, patch = 0, size = 0, channels = 0;
    arg_opt o[] = {
        {"--manifest", ARG_STR, &manifest, "DOCS.jsonl",
         "one document a line: {\"segments\": [{\"text\": \"...\"}, {\"image\": \"a.png\"}, {\"audio\": \"a.wav\"}, "
         "{\"text_file\": \"a.txt\"}]}", 0},
        {"--text", ARG_STR, &text, "FILE", "one UTF-8 text file as one document (byte-level tokens)", 0},
        {"--image", ARG_STR, &image, "FILE", "one image (PNG, PGM/PPM, ...) as one document (needs --vq or --patch)", 0},
        {"--audio", ARG_STR, &audio, "FILE", "one recording (WAV, ...) as one document (needs --units)", 0},
        {"--vq", ARG_STR, &vq_path, "VQ", "image codebook from mom data vq-train", 0},
        {"--units", ARG_STR, &units_path, "UNITS", "speech-unit codebook from mom data units-train", 0},
        {"--patch", ARG_INT, &patch, "P",
         "continuous images instead of codes: P x P patches, one position each, pixels scaled to [-1, 1] (not with --vq)",
         0},
        {"--size", ARG_INT, &size, "S", "with --patch: images resized to S x S (a multiple of P)", 0},
        {"--channels", ARG_INT, &channels, "C", "with --patch: 1 gray (default) or 3 RGB (with --jsonl: any)", 0},
        {"--jsonl", ARG_STR, &jsonl, "TOKENS.jsonl",
         "pre-tokenized: {\"segments\": [{\"modality\": 0, \"tokens\": [5, 17]}, ...]} a line; with --patch also "
         "{\"modality\": 1, \"patches\": [[P*P*C numbers], ...]} between BOI (2) and EOI (3) token segments", 0},
        {"--vocab", ARG_INT, &vocab, "V", "with --jsonl: vocabulary size (default: largest token + 1)", 0},
        {"--modalities", ARG_INT, &n_mod, "M", "with --jsonl: modalities (default: largest id + 1)", 0},
        {"--out", ARG_STR, &out, "OUT.bin", "the dataset file to write", 0},
    };
    const int n_o = (int)(sizeof(o) / sizeof(o[0]));
    int r = args_parse("data import", "Writes one dataset file; nothing is written unless every document imports.", o,
                       n_o, argc, argv, 3);
    if (r) return r > 0 ? 0 : 2;
    const int sources = !!jsonl + !!manifest + !!text + !!image + !!audio;
    if (!out || sources != 1) {
        fprintf(stderr, "mom data import: give --out and exactly one of --manifest, --text, --image, --audio, --jsonl\n");
        return 2;
    }
    const int with_patches = args_seen(o, n_o, "--patch");
    if (with_patches && vq_path) {
        fprintf(stderr, "mom data import: --vq (images as codes) and --patch %d (images as patches) exclude each other\n",
                patch);
        return 2;
    }
    if (!with_patches && (args_seen(o, n_o, "--size") || args_seen(o, n_o, "--channels"))) {
        fprintf(stderr, "mom data import: --size and --channels go with --patch\n");
        return 2;
    }
    if (with_patches && (text || audio)) {
        fprintf(stderr, "mom data import: --patch goes with --manifest, --image or --jsonl\n");
        return 2;
    }
    if (with_patches && !args_seen(o, n_o, "--size")) {
        fprintf(stderr, "mom data import: --patch %d needs --size S (the images' side, a multiple of %d)\n", patch, patch);
        return 2;
    }
    if (with_patches && (patch < 1 || size < 1 || size % patch)) {
        fprintf(stderr, "mom data import: --size %d is not a positive multiple of --patch %d\n", size, patch);
        return 2;
    }
    if (image && !vq_path && !with_patches) {
        fprintf(stderr, "mom data import: --image needs --vq VQ (codes) or --patch P --size S (patches)\n");
        return 2;
    }
    if (with_patches && channels == 0) channels = 1;
    if (with_patches && (channels < 1 || (!jsonl && channels != 1 && channels != 3))) {
        fprintf(stderr, "mom data import: --channels %d (images: 1 gray or 3 RGB)\n", channels);
        return 2;
    }
    const mom_patch_geometry geom = {with_patches ? patch : 0, with_patches ? size : 0, with_patches ? channels : 0};
    /* Ctrl-C and SIGTERM stop the import between documents, or before the
     * written file is renamed into place: OUT is then left as it was. */
    stop_signal_install();
    mom_ctx *ctx = tool_ctx("data", 0, NULL);
    if (!ctx) return 1;
    stop_signal_forward(ctx);
    mom_vq *vq = NULL;
    mom_units *units = NULL;
    mom_status s = MOM_OK;
    if (vq_path) s = mom_vq_load(ctx, vq_path, &vq);
    if (!s && units_path) s = mom_units_load(ctx, units_path, &units);
    char tmp[4200] = "";
    if (!s && jsonl) s = mom_dataset_import_jsonl(ctx, jsonl, out, vocab, n_mod, &geom);
    else if (!s && manifest) s = mom_dataset_import_manifest(ctx, manifest, out, vq, units, &geom);
    else if (!s) {
        const char *kind = text ? "text_file" : image ? "image" : "audio", *file = text ? text : image ? image : audio;
        if (single_file_manifest(out, kind, file, tmp, sizeof(tmp))) {
            fprintf(stderr, "mom data import: cannot write %s\n", tmp);
            s = MOM_ERR_IO;
        } else {
            s = mom_dataset_import_manifest(ctx, tmp, out, vq, units, &geom);
        }
        remove(tmp);
    }
    if (!s) print_dataset(ctx, out);
    char lost[4200];
    snprintf(lost, sizeof(lost), "nothing written to %s", out);
    int rc = s == MOM_ERR_STOPPED ? stop_signal_exit("data import", lost) : s ? tool_error("data import", ctx, s) : 0;
    stop_signal_forward(NULL);
    mom_vq_destroy(&vq);
    mom_units_destroy(&units);
    mom_ctx_destroy(&ctx);
    return rc;
}

static int data_train_codebook(int argc, char **argv, int images)
{
    const char *list = NULL, *out = NULL;
    int size = 8, patch = 2, codes = images ? 256 : 128, iters = 25, channels = 1;
    int64_t seed = 0;
    arg_opt o[] = {
        {"--list", ARG_STR, &list, "FILES.txt", images ? "image files, one a line" : "recordings, one a line", 0},
        {"--out", ARG_STR, &out, "OUT.safetensors", "the codebook to write", 0},
        {"--codes", ARG_INT, &codes, "K", images ? "codebook size (default 256)" : "codebook size (default 128)", 0},
        {"--iters", ARG_INT, &iters, "N", "k-means iterations (default 25)", 0},
        {"--seed", ARG_I64, &seed, "S", "k-means seed (default 0)", 0},
        {"--size", ARG_INT, &size, "S", "images: resized to S x S (default 8)", 0},
        {"--patch", ARG_INT, &patch, "P", "images: P x P patches, one token each (default 2)", 0},
        {"--channels", ARG_INT, &channels, "C", "images: 1 gray or 3 RGB (default 1)", 0},
    };
    const int n_o = images ? 8 : 5;
    const char *cmd = images ? "data vq-train" : "data units-train";
    int r = args_parse(cmd, images ? "k-means over every image patch." : "k-means over every log-mel frame.", o, n_o,
                       argc, argv, 3);
    if (r) return r > 0 ? 0 : 2;
    if (!list || !out) {
        fprintf(stderr, "mom %s: --list and --out are required\n", cmd);
        return 2;
    }
    size_t n = 0;
    char **paths = read_list(list, &n);
    if (!paths || !n) {
        free_list(paths, n);
        return 1;
    }
    mom_ctx *ctx = tool_ctx("data", 0, NULL);
    if (!ctx) {
        free_list(paths, n);
        return 1;
    }
    mom_status s;
    if (images) {
        mom_vq *vq = NULL;
        s = mom_vq_train(ctx, (const char *const *)paths, n, size, patch, channels, codes, iters, (uint64_t)seed, &vq);
        if (!s) s = mom_vq_save(ctx, vq, out);
        mom_vq_destroy(&vq);
    } else {
        mom_units *u = NULL;
        s = mom_units_train(ctx, (const char *const *)paths, n, codes, iters, (uint64_t)seed, &u);
        if (!s) s = mom_units_save(ctx, u, out);
        mom_units_destroy(&u);
    }
    if (!s) printf("{\"out\": \"%s\", \"files\": %zu, \"codes\": %d}\n", out, n, codes);
    int rc = s ? tool_error(cmd, ctx, s) : 0;
    free_list(paths, n);
    mom_ctx_destroy(&ctx);
    return rc;
}

/* The continuous images of a file with patches as DIR/image-N.png. */
static mom_status decode_patch_images(mom_ctx *ctx, const mom_dataset *d, const char *out, int max, int *written)
{
    mom_patch_geometry g;
    mom_dataset_patch_geometry(d, &g);
    const int per = mom_patches_per_image(&g), dim = mom_patch_dim(&g);
    float *rows = malloc(sizeof(float) * (size_t)per * (size_t)dim);
    float *px = malloc(sizeof(float) * (size_t)g.image_size * (size_t)g.image_size * (size_t)g.channels);
    mom_status s = rows && px ? MOM_OK : MOM_ERR_NOMEM;
    const int32_t *tok = mom_dataset_tokens(d);
    const int64_t n = mom_dataset_n_tokens(d);
    /* Open checked that a patch run is one whole image between BOI and EOI. */
    for (int64_t i = 0; !s && i + per + 1 < n && *written < max; i++) {
        if (tok[i] != MOM_TOK_BOI || tok[i + 1] != MOM_TOK_PAD || mom_dataset_modalities(d)[i + 1] != MOM_MOD_IMAGE)
            continue;
        const int64_t start = i + 1;
        char path[4200];
        snprintf(path, sizeof(path), "%s/image-%d.png", out, *written);
        if (!(s = mom_dataset_fill_patches(d, 1, per, &start, rows)) && !(s = mom_image_from_patches(ctx, &g, rows, px)) &&
            !(s = mom_image_write_png(ctx, path, g.image_size, g.channels, px))) {
            printf("%s (tokens %lld..%lld)\n", path, (long long)start, (long long)(start + per - 1));
            (*written)++;
        }
    }
    free(rows);
    free(px);
    return s;
}

/* Every begin-image ... end-image run of a dataset, decoded through the
 * codebook (or, in a file with patches, from its patch vectors) and
 * written as DIR/image-N.png (the first --max of them). */
static int data_decode_images(int argc, char **argv)
{
    const char *data = NULL, *vq_path = NULL, *out = NULL;
    int max = 16;
    arg_opt o[] = {
        {"--data", ARG_STR, &data, "D.bin", "a dataset file with a vocabulary layout", 0},
        {"--vq", ARG_STR, &vq_path, "VQ", "the image codebook the data was made with (not for a file with patches)", 0},
        {"--out", ARG_STR, &out, "DIR", "an existing folder for the PNG files", 0},
        {"--max", ARG_INT, &max, "N", "images to write at most (default 16)", 0},
    };
    int r = args_parse("data decode-images", "Turns image tokens back into pixels.", o, 4, argc, argv, 3);
    if (r) return r > 0 ? 0 : 2;
    if (!data || !out || max < 1) {
        fprintf(stderr, "mom data decode-images: --data and --out are required, --max >= 1\n");
        return 2;
    }
    mom_ctx *ctx = tool_ctx("data", 0, NULL);
    if (!ctx) return 1;
    mom_dataset *d = NULL;
    mom_vq *vq = NULL;
    mom_status s = mom_dataset_open(ctx, data, &d);
    if (!s && !vq_path) {
        int written = 0;
        mom_patch_geometry g;
        mom_dataset_patch_geometry(d, &g);
        if (!mom_patch_dim(&g)) {
            fprintf(stderr, "mom data decode-images: %s has no patches: give its codebook (--vq)\n", data);
            s = MOM_ERR_INVALID_ARG;
        } else {
            s = decode_patch_images(ctx, d, out, max, &written);
        }
        int rc = s ? (s == MOM_ERR_INVALID_ARG ? 2 : tool_error("data decode-images", ctx, s)) : 0;
        if (!rc && !written) fprintf(stderr, "mom data decode-images: %s has no images\n", data);
        mom_dataset_destroy(&d);
        mom_ctx_destroy(&ctx);
        return rc ? rc : written ? 0 : 1;
    }
    if (!s) s = mom_vq_load(ctx, vq_path, &vq);
    mom_vocab_layout l;
    mom_dataset_vocab_layout(d, &l);
    if (!s && l.n_image != mom_vq_codes(vq)) {
        fprintf(stderr, "mom data decode-images: %s has %d image codes, %s has %d\n", data, l.n_image, vq_path,
                mom_vq_codes(vq));
        s = MOM_ERR_DATA;
    }
    const int nt = mom_vq_tokens_per_image(vq), size = mom_vq_image_size(vq), ch = mom_vq_channels(vq);
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)(nt > 0 ? nt : 1));
    float *px = malloc(sizeof(float) * (size_t)(size > 0 ? size * size * ch : 1));
    if (!s && (!codes || !px)) s = MOM_ERR_NOMEM;
    const int32_t *tok = mom_dataset_tokens(d);
    const int64_t n = mom_dataset_n_tokens(d), base = l.n_special + l.n_text;
    int written = 0;
    for (int64_t i = 0; !s && i + nt + 1 < n && written < max; i++) {
        if (tok[i] != MOM_TOK_BOI || tok[i + nt + 1] != MOM_TOK_EOI) continue;
        for (int k = 0; k < nt; k++) codes[k] = (int32_t)(tok[i + 1 + k] - base);
        char path[4200];
        snprintf(path, sizeof(path), "%s/image-%d.png", out, written);
        if (!(s = mom_vq_decode(ctx, vq, codes, px)) && !(s = mom_image_write_png(ctx, path, size, ch, px))) {
            printf("%s (tokens %lld..%lld)\n", path, (long long)i + 1, (long long)(i + nt));
            written++;
        }
    }
    int rc = s ? tool_error("data decode-images", ctx, s) : 0;
    if (!rc && !written) fprintf(stderr, "mom data decode-images: %s has no images\n", data);
    free(codes);
    free(px);
    mom_vq_destroy(&vq);
    mom_dataset_destroy(&d);
    mom_ctx_destroy(&ctx);
    return rc ? rc : written ? 0 : 1;
}

int cmd_data(int argc, char **argv)
{
    const char *sub = argc >= 3 ? argv[2] : "";
    if (!strcmp(sub, "import")) return data_import(argc, argv);
    if (!strcmp(sub, "vq-train")) return data_train_codebook(argc, argv, 1);
    if (!strcmp(sub, "units-train")) return data_train_codebook(argc, argv, 0);
    if (!strcmp(sub, "decode-images")) return data_decode_images(argc, argv);
    const int help = !strcmp(sub, "--help") || !strcmp(sub, "-h");
    fputs(usage, help ? stdout : stderr);
    return help ? 0 : 2;
}
