/* mom generate: sampling from a trained model, modality by modality.
 *
 * The prompt is BOS, then an image (BOI codes EOI) and / or a recording
 * (BOSP units EOSP) if given, then the text, then BOI or BOSP if --then
 * asks for one. The text is bytes (--prompt) in libmom's own vocabulary,
 * and token ids (--prompt-ids) in any: a pretrained vocabulary's text is
 * its tokenizer's ids, which are also what is printed for it. It is prefilled once; with --n N the state is branched
 * into N sequences that step together, each with its own random stream.
 * Text goes to stdout; each image is decoded through the codebook to a
 * PNG and each recording's units are written as a list (and as a WAV
 * through the units codebook), in --out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "mom_data.h"
#include "progress.h"
#include "stop_signal.h"

typedef struct gen_opts {
    const char *model, *prompt, *prompt_ids, *image, *audio, *then, *vq_path, *units_path, *out, *setting, *backend;
    float temperature, top_p;
    int top_k, max_tokens, max_context, n, threads, ddim_steps, device;
    int64_t seed;
} gen_opts;

typedef struct tok_buf {
    int32_t *tok;
    uint8_t *mod;
    size_t n, cap;
} tok_buf;

static int push(tok_buf *b, int32_t t, int mod)
{
    if (b->n == b->cap) {
        const size_t nc = b->cap ? 2 * b->cap : 256;
        int32_t *t2 = realloc(b->tok, nc * sizeof(int32_t));
        if (!t2) return -1;
        b->tok = t2;
        uint8_t *m2 = realloc(b->mod, nc);
        if (!m2) return -1;
        b->mod = m2;
        b->cap = nc;
    }
    b->tok[b->n] = t;
    b->mod[b->n++] = (uint8_t)mod;
    return 0;
}

static void tok_free(tok_buf *b)
{
    free(b->tok);
    free(b->mod);
    memset(b, 0, sizeof(*b));
}

/* The codebooks: the flag's, else the one `mom train` left beside the
 * model (DIR/data/NAME, DIR/NAME), else none. */
static const char *find_codebook(const char *flag, const char *model, const char *name, char *buf, size_t cap)
{
    if (flag) return flag;
    const char *slash = strrchr(model, '/');
    const int dl = slash ? (int)(slash - model) : 1;
    const char *dir = slash ? model : ".";
    const char *forms[] = {"%.*s/data/%s", "%.*s/%s"};
    for (int i = 0; i < 2; i++) {
        snprintf(buf, cap, forms[i], dl, dir, name);
        FILE *f = fopen(buf, "rb");
        if (f) {
            fclose(f);
            return buf;
        }
    }
    return NULL;
}

typedef struct gen {
    gen_opts o;
    mom_ctx *ctx;
    mom_model *m;
    mom_vocab_layout lay;
    mom_vq *vq;
    mom_units *units;
    int V;
    int out_made;   /* --out exists */
    int continuous; /* images are patches drawn by diffusion (Transfusion) */
} gen;

static int fail(gen *g, mom_status s) { return tool_error("generate", g->ctx, s); }

/* The id of special token `which` (MOM_TOK_*) in the model's vocabulary. */
static int32_t special(const gen *g, int which) { return mom_vocab_special(&g->lay, which); }

/* --out is made when the first file goes there. */
static int ensure_out(gen *g)
{
    if (!g->out_made && make_dir("generate", g->o.out)) return -1;
    g->out_made = 1;
    return 0;
}

/* Checks that a codebook's size is the model's vocabulary part. */
static int codebook_fits(const char *what, const char *path, int codes, int in_layout)
{
    if (codes == in_layout) return 0;
    fprintf(stderr, "mom generate: the %s codebook %s has %d codes, but the model's vocabulary has %d %s tokens\n",
            what, path, codes, in_layout, what);
    return -1;
}

static int load_codebooks(gen *g)
{
    char vb[4200], ub[4200];
    const char *vp = g->lay.n_image && !g->continuous ? find_codebook(g->o.vq_path, g->o.model, "vq.safetensors", vb, sizeof(vb)) : NULL;
    const char *up =
        g->lay.n_speech ? find_codebook(g->o.units_path, g->o.model, "units.safetensors", ub, sizeof(ub)) : NULL;
    /* A build without image or audio support still generates: codes and
     * units are then written as lists. */
    mom_status s;
    if (vp && (s = mom_vq_load(g->ctx, vp, &g->vq)) && s != MOM_ERR_UNSUPPORTED) return fail(g, s);
    if (g->vq && codebook_fits("image", vp, mom_vq_codes(g->vq), g->lay.n_image)) return -1;
    if (g->lay.n_image && !g->vq) fprintf(stderr, "mom generate: no image codebook: images are written as code lists\n");
    if (up && (s = mom_units_load(g->ctx, up, &g->units)) && s != MOM_ERR_UNSUPPORTED) return fail(g, s);
    if (g->units && codebook_fits("speech", up, mom_units_codes(g->units), g->lay.n_speech)) return -1;
    return 0;
}

/* --prompt-ids "5 17 9" (or comma-separated): text token ids, each one
 * of the vocabulary's text part (a pretrained vocabulary's own specials,
 * such as its end-of-text, included; the specials libmom adds are not). */
static int push_prompt_ids(gen *g, tok_buf *p)
{
    const char *c = g->o.prompt_ids;
    for (;;) {
        while (*c == ' ' || *c == ',') c++;
        if (!*c) return 0;
        char *end;
        const long id = strtol(c, &end, 10), text0 = mom_vocab_first(&g->lay, MOM_MOD_TEXT);
        if (end == c || (*end && *end != ' ' && *end != ',') || id < text0 || id >= text0 + g->lay.n_text) {
            fprintf(stderr, "mom generate: --prompt-ids: \"%.*s\" is not a text token id of the model (text ids: "
                            "[%d, %d))\n",
                    (int)strcspn(c, " ,"), c, mom_vocab_first(&g->lay, MOM_MOD_TEXT),
                    mom_vocab_first(&g->lay, MOM_MOD_TEXT) + g->lay.n_text);
            return -1;
        }
        if (push(p, (int32_t)id, MOM_MOD_TEXT)) {
            fprintf(stderr, "mom generate: out of memory building the prompt\n");
            return -1;
        }
        c = end;
    }
}

/* BOS, [image], [recording], text, [BOI | BOSP]. */
static int build_prompt(gen *g, tok_buf *p)
{
    const mom_vocab_layout *v = &g->lay;
    int bad = push(p, special(g, MOM_TOK_BOS), MOM_MOD_TEXT);
    mom_status s;
    if (g->o.image && g->continuous) {
        fprintf(stderr, "mom generate: --image %s: image prompts for a continuous-image model are not supported yet\n",
                g->o.image);
        return -1;
    }
    if (g->o.image) {
        if (!g->vq) {
            fprintf(stderr, "mom generate: --image %s needs an image codebook (--vq) and a build with image support\n",
                    g->o.image);
            return -1;
        }
        const int size = mom_vq_image_size(g->vq), ch = mom_vq_channels(g->vq), nt = mom_vq_tokens_per_image(g->vq) + 2;
        float *px = malloc(sizeof(float) * (size_t)size * size * ch);
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)nt);
        uint8_t *mod = malloc((size_t)nt);
        s = !px || !tok || !mod ? MOM_ERR_NOMEM : mom_image_load(g->ctx, g->o.image, size, ch, px);
        if (!s) s = mom_vq_image_tokens(g->ctx, g->vq, v, px, size, size, ch, tok, mod);
        for (int i = 0; !s && i < nt; i++) bad |= push(p, tok[i], mod[i]);
        free(px);
        free(tok);
        free(mod);
        if (s) return fail(g, s);
    }
    if (g->o.audio) {
        if (!g->units) {
            fprintf(stderr, "mom generate: --audio %s needs a speech-unit codebook (--units) and a build with audio "
                            "support\n",
                    g->o.audio);
            return -1;
        }
        int32_t *u = NULL;
        size_t n = 0;
        if ((s = mom_units_encode_file(g->ctx, g->units, g->o.audio, &u, &n))) return fail(g, s);
        bad |= push(p, special(g, MOM_TOK_BOSP), MOM_MOD_TEXT);
        for (size_t i = 0; i < n; i++) bad |= push(p, mom_vocab_first(v, MOM_MOD_SPEECH) + u[i], MOM_MOD_SPEECH);
        bad |= push(p, special(g, MOM_TOK_EOSP), MOM_MOD_TEXT);
        free(u);
    }
    for (const unsigned char *c = (const unsigned char *)(g->o.prompt ? g->o.prompt : ""); *c; c++) {
        if (*c >= v->n_text) {
            fprintf(stderr, "mom generate: --prompt byte %d at offset %d is not one of the model's %d text tokens\n",
                    *c, (int)(c - (const unsigned char *)g->o.prompt), v->n_text);
            return -1;
        }
        bad |= push(p, mom_vocab_first(v, MOM_MOD_TEXT) + *c, MOM_MOD_TEXT);
    }
    if (g->o.prompt_ids && push_prompt_ids(g, p)) return -1;
    if (g->o.then && !strcmp(g->o.then, "image")) bad |= push(p, special(g, MOM_TOK_BOI), MOM_MOD_TEXT);
    if (g->o.then && !strcmp(g->o.then, "speech")) bad |= push(p, special(g, MOM_TOK_BOSP), MOM_MOD_TEXT);
    if (bad) {
        fprintf(stderr, "mom generate: out of memory building the prompt\n");
        return -1;
    }
    return 0;
}

/* What one sequence has produced so far. */
typedef struct sample_out {
    char *text;
    size_t n_text, cap_text;
    tok_buf seg; /* the codes or units of the image or recording under way */
    int in_seg;  /* MOM_TOK_BOI or MOM_TOK_BOSP came, its end not yet; else 0 */
    int images, recordings, done;
} sample_out;

/* The codes of an image as a list: without a codebook, or without PNG
 * support in this build. */
static int write_codes(gen *g, int k, int j, const sample_out *so, int32_t base)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/sample%d_image%d.codes.txt", g->o.out, k, j);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mom generate: cannot write %s\n", path);
        return -1;
    }
    for (size_t i = 0; i < so->seg.n; i++) fprintf(f, "%s%d", i ? " " : "", so->seg.tok[i] - base);
    fprintf(f, "\n");
    if (fclose(f)) {
        fprintf(stderr, "mom generate: cannot write %s\n", path);
        return -1;
    }
    fprintf(stderr, "mom generate: sample %d: image codes -> %s\n", k, path);
    return 0;
}

static int write_image(gen *g, int k, sample_out *so)
{
    const int j = so->images++;
    const int32_t base = mom_vocab_first(&g->lay, MOM_MOD_IMAGE);
    if (ensure_out(g)) return -1;
    if (!g->vq || so->seg.n != (size_t)mom_vq_tokens_per_image(g->vq)) return write_codes(g, k, j, so, base);
    char path[4300];
    const int size = mom_vq_image_size(g->vq), ch = mom_vq_channels(g->vq);
    float *px = malloc(sizeof(float) * (size_t)size * size * ch);
    int32_t *codes = malloc(sizeof(int32_t) * so->seg.n);
    mom_status s = !px || !codes ? MOM_ERR_NOMEM : MOM_OK;
    for (size_t i = 0; !s && i < so->seg.n; i++) codes[i] = so->seg.tok[i] - base;
    snprintf(path, sizeof(path), "%s/sample%d_image%d.png", g->o.out, k, j);
    if (!s) s = mom_vq_decode(g->ctx, g->vq, codes, px);
    if (!s) s = mom_image_write_png(g->ctx, path, size, ch, px);
    free(px);
    free(codes);
    if (s == MOM_ERR_UNSUPPORTED) return write_codes(g, k, j, so, base);
    if (s) return fail(g, s);
    fprintf(stderr, "mom generate: sample %d: image -> %s\n", k, path);
    return 0;
}

static int write_recording(gen *g, int k, sample_out *so)
{
    char path[4300];
    const int j = so->recordings++;
    const int32_t base = mom_vocab_first(&g->lay, MOM_MOD_SPEECH);
    if (ensure_out(g)) return -1;
    snprintf(path, sizeof(path), "%s/sample%d_speech%d.units.txt", g->o.out, k, j);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mom generate: cannot write %s\n", path);
        return -1;
    }
    for (size_t i = 0; i < so->seg.n; i++) {
        so->seg.tok[i] -= base; /* unit ids from here on */
        fprintf(f, "%s%d", i ? " " : "", so->seg.tok[i]);
    }
    fprintf(f, "\n");
    if (fclose(f)) {
        fprintf(stderr, "mom generate: cannot write %s\n", path);
        return -1;
    }
    fprintf(stderr, "mom generate: sample %d: speech units -> %s\n", k, path);
    if (!g->units || !so->seg.n) return 0;
    snprintf(path, sizeof(path), "%s/sample%d_speech%d.wav", g->o.out, k, j);
    mom_status s = mom_units_write_wav(g->ctx, g->units, so->seg.tok, so->seg.n, 0, path);
    if (s == MOM_ERR_UNSUPPORTED) return 0; /* built without audio: the list alone */
    if (s) return fail(g, s);
    fprintf(stderr, "mom generate: sample %d: speech -> %s\n", k, path);
    return 0;
}

/* A build without PNG support writes the image as a netpbm file (PGM or
 * PPM), which needs no library; the name gets .pgm / .ppm. */
static int write_netpbm(char *path, size_t cap, int size, int channels, const float *px)
{
    char *dot = strrchr(path, '.');
    if (dot && (size_t)(dot - path) + 5 <= cap) strcpy(dot, channels == 1 ? ".pgm" : ".ppm");
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P%d\n%d %d\n255\n", channels == 1 ? 5 : 6, size, size);
    for (size_t i = 0; i < (size_t)size * size * channels; i++) fputc((int)(px[i] * 255.0f + 0.5f), f);
    return fclose(f) ? -1 : 0;
}

/* Continuous images: sequence k has just been fed BOI; draws the image by
 * DDIM and writes it (--out FILE.png names the first image of one sample). */
static int draw_image(gen *g, mom_state *st, int k, sample_out *so)
{
    const mom_patch_geometry *pg = &mom_model_config(g->m)->patches;
    const size_t np = (size_t)pg->image_size * pg->image_size * pg->channels;
    float *px = malloc(sizeof(float) * np);
    if (!px) return -1;
    const int j = so->images++;
    char path[4300];
    const size_t ol = strlen(g->o.out);
    /* --out FILE.png: the first image there, any others beside it as
     * FILE_K_J.png; else images go into the folder --out. */
    const int file_mode = ol > 4 && !strcmp(g->o.out + ol - 4, ".png");
    if (file_mode && k == 0 && j == 0) snprintf(path, sizeof(path), "%s", g->o.out);
    else if (file_mode) snprintf(path, sizeof(path), "%.*s_%d_%d.png", (int)(ol - 4), g->o.out, k, j);
    else snprintf(path, sizeof(path), "%s/sample%d_image%d.png", g->o.out, k, j);
    mom_status s = file_mode || !ensure_out(g) ? MOM_OK : MOM_ERR_IO;
    if (!s) s = mom_state_generate_image(st, k, g->o.ddim_steps, (uint64_t)g->o.seed * 7919u + (uint64_t)k * 104729u + (uint64_t)j, px);
    if (!s) s = mom_image_write_png(g->ctx, path, pg->image_size, pg->channels, px);
    if (s == MOM_ERR_UNSUPPORTED) s = write_netpbm(path, sizeof(path), pg->image_size, pg->channels, px) ? MOM_ERR_IO : MOM_OK;
    free(px);
    so->in_seg = 0;
    if (s) return fail(g, s);
    fprintf(stderr, "mom generate: sample %d: image -> %s\n", k, path);
    return 0;
}

/* Appends n bytes to a sample's text (and to stdout when streaming). */
static int put_text(sample_out *so, const char *c, size_t n, int stream)
{
    if (stream) {
        fwrite(c, 1, n, stdout);
        fflush(stdout);
    }
    if (so->n_text + n > so->cap_text) {
        size_t cap = so->cap_text ? 2 * so->cap_text : 256;
        while (cap < so->n_text + n) cap *= 2;
        char *nt = realloc(so->text, cap);
        if (!nt) return -1;
        so->text = nt;
        so->cap_text = cap;
    }
    memcpy(so->text + so->n_text, c, n);
    so->n_text += n;
    return 0;
}

/* Takes sequence k's next token into its output. */
static int take(gen *g, int k, sample_out *so, int32_t t, int stream)
{
    const mom_vocab_layout *v = &g->lay;
    const int mod = mom_vocab_layout_modality(v, t);
    /* EOS first: a pretrained vocabulary's end-of-text may be BOS too. */
    if (t == special(g, MOM_TOK_EOS)) {
        so->done = 1;
        return 0;
    }
    const int which = mom_vocab_which_special(v, t);
    if (which == MOM_TOK_BOI || which == MOM_TOK_BOSP) {
        so->seg.n = 0;
        so->in_seg = which;
        return 0;
    }
    if (which == MOM_TOK_EOI || which == MOM_TOK_EOSP) so->in_seg = 0;
    if (which == MOM_TOK_EOI) return write_image(g, k, so);
    if (which == MOM_TOK_EOSP) return write_recording(g, k, so);
    if (which >= 0) return 0;
    if (mod != MOM_MOD_TEXT) return push(&so->seg, t, mod);
    if (!v->text_first) {
        const char c = (char)(t - mom_vocab_first(v, MOM_MOD_TEXT));
        return put_text(so, &c, 1, stream);
    }
    char id[16]; /* a pretrained tokenizer's id: the user's tokenizer decodes it */
    const int n = snprintf(id, sizeof(id), "%s%d", so->n_text ? " " : "", t);
    return put_text(so, id, (size_t)n, stream);
}

/* 0, -1 on failure (reported), or 128 + the signal that stopped it. */
static int run(gen *g)
{
    const gen_opts *o = &g->o;
    const int n = o->n, V = g->V;
    tok_buf prompt = {0};
    mom_state *st = NULL;
    mom_sampler *sp = NULL;
    sample_out *out = calloc((size_t)n, sizeof(sample_out));
    float *logits = malloc(sizeof(float) * (size_t)n * V);
    int32_t *next = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *next_mod = malloc((size_t)n);
    int rc = !out || !logits || !next || !next_mod ? -1 : build_prompt(g, &prompt);
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.n_seq = n;
    /* (An image of patches holds more positions than its one step.) */
    ss.max_tokens = o->max_context ? o->max_context : g->continuous ? 0 : (int64_t)prompt.n + o->max_tokens;
    mom_sampling sg;
    mom_sampling_default(&sg);
    sg.temperature = o->temperature;
    sg.top_k = o->top_k;
    sg.top_p = o->top_p;
    sg.seed = (uint64_t)o->seed;
    sg.image_tokens = g->vq ? mom_vq_tokens_per_image(g->vq) : 0;
    mom_status s = MOM_OK;
    if (!rc && ((s = mom_state_create(g->m, &ss, &st)) || (s = mom_sampler_create(g->m, &sg, n, &sp))))
        rc = fail(g, s);
    if (!rc && o->max_context && prompt.n > (size_t)o->max_context) {
        fprintf(stderr, "mom generate: the prompt has %zu tokens, more than --max-context %d\n", prompt.n,
                o->max_context);
        rc = -1;
    }
    const double t0 = now_seconds();
    if (!rc && (s = mom_state_prefill(st, 0, 1, (int)prompt.n, prompt.tok, prompt.mod, logits))) rc = fail(g, s);
    for (int k = 1; !rc && k < n; k++) { /* branch the prompt's state into every sample */
        if ((s = mom_state_copy(st, k, st, 0))) rc = fail(g, s);
        memcpy(logits + (size_t)k * V, logits, sizeof(float) * V);
    }
    for (int k = 0; !rc && k < n; k++) {
        for (size_t i = 0; !rc && i < prompt.n; i++)
            if ((s = mom_sampler_accept(sp, k, prompt.tok[i]))) rc = fail(g, s);
        /* --then opened an image or a recording */
        const int last = mom_vocab_which_special(&g->lay, prompt.tok[prompt.n - 1]);
        if (last == MOM_TOK_BOI || last == MOM_TOK_BOSP) out[k].in_seg = last;
    }
    const double t1 = now_seconds();
    int made = 0;
    double files_s = 0.0, image_s = 0.0; /* writing files, drawing images by diffusion: not decoding */
    int stopped = 0;
    for (int step = 0; !rc && step < o->max_tokens; step++) {
        if (stop_signal_received()) { /* Ctrl-C: the samples end here, whole files only */
            stopped = 1;
            break;
        }
        int live = 0;
        for (int k = 0; !rc && k < n; k++) {
            next[k] = special(g, MOM_TOK_PAD);
            next_mod[k] = MOM_MOD_TEXT;
            if (out[k].done) continue;
            if (g->continuous && out[k].in_seg == MOM_TOK_BOI) {
                /* The image after BOI comes from diffusion; then EOI closes it. */
                const double ti = now_seconds();
                if (draw_image(g, st, k, &out[k])) rc = -1;
                image_s += now_seconds() - ti;
                next[k] = special(g, MOM_TOK_EOI);
                if (!rc && (s = mom_sampler_accept(sp, k, next[k]))) rc = fail(g, s);
                live++;
                continue;
            }
            if ((s = mom_sampler_sample(sp, k, logits + (size_t)k * V, &next[k])) ||
                (s = mom_sampler_accept(sp, k, next[k]))) {
                rc = fail(g, s);
                break;
            }
            const int md = mom_vocab_layout_modality(&g->lay, next[k]);
            next_mod[k] = (uint8_t)(md < 0 ? 0 : md);
            const double tf = now_seconds();
            if (take(g, k, &out[k], next[k], n == 1)) rc = -1;
            files_s += now_seconds() - tf;
            live += !out[k].done;
        }
        made++;
        if (rc || !live || step + 1 == o->max_tokens || (ss.max_tokens && (int64_t)prompt.n + made >= ss.max_tokens))
            break;
        /* Finished samples are fed PAD so the batch keeps its shape. */
        if ((s = mom_state_step(st, next, next_mod, logits))) rc = fail(g, s);
    }
    const double t2 = now_seconds() - files_s - image_s;
    if (!rc) {
        for (int k = 0; k < n; k++)
            if (out[k].in_seg)
                fprintf(stderr, "mom generate: sample %d: the %s was cut off after %zu tokens (--max-tokens, "
                                "--max-context)\n",
                        k, out[k].in_seg == MOM_TOK_BOI ? "image" : "recording", out[k].seg.n);
        if (n == 1) printf("\n");
        else
            for (int k = 0; k < n; k++) printf("[%d] %.*s\n", k, (int)out[k].n_text, out[k].text ? out[k].text : "");
        fprintf(stderr,
                "{\"prompt_tokens\": %zu, \"samples\": %d, \"steps\": %d, \"prefill_s\": %.4f, \"decode_s\": %.4f, "
                "\"decode_tokens_per_s\": %.1f, \"diffusion_s\": %.4f}\n",
                prompt.n, n, made, t1 - t0, t2 - t1, t2 > t1 ? made * n / (t2 - t1) : 0.0, image_s);
        if (stopped) {
            char what[96];
            snprintf(what, sizeof(what), "the samples end after %d of --max-tokens %d", made, o->max_tokens);
            rc = stop_signal_exit("generate", what);
        }
    }
    for (int k = 0; out && k < n; k++) {
        free(out[k].text);
        tok_free(&out[k].seg);
    }
    free(out);
    free(logits);
    free(next);
    free(next_mod);
    tok_free(&prompt);
    mom_sampler_destroy(&sp);
    mom_state_destroy(&st);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    gen g;
    memset(&g, 0, sizeof(g));
    gen_opts *o = &g.o;
    o->temperature = 1.0f;
    o->top_p = 1.0f;
    o->max_tokens = 256;
    o->n = 1;
    o->ddim_steps = 50;
    o->out = "generated";
    o->device = -1;
    arg_opt opts[] = {
        {"--model", ARG_STR, &o->model, "MODEL.safetensors", "the model (required)", 0},
        {"--prompt", ARG_STR, &o->prompt, "TEXT", "text the sample continues (default: none)", 0},
        {"--prompt-ids", ARG_STR, &o->prompt_ids, "IDS",
         "text token ids the sample continues, such as \"5 17 9\" (a pretrained vocabulary's: its tokenizer's ids, "
         "also what is printed)", 0},
        {"--image", ARG_STR, &o->image, "IMAGE", "an image before the text (captioning)", 0},
        {"--audio", ARG_STR, &o->audio, "WAV", "a recording before the text (transcription)", 0},
        {"--then", ARG_STR, &o->then, "text|image|speech", "open an image or a recording after the prompt", 0},
        {"--setting", ARG_STR, &o->setting, "transfusion",
         "the model is a transfusion one: check it, and draw an image after the prompt unless --then says else", 0},
        {"--temperature", ARG_FLOAT, &o->temperature, "T", "softmax temperature, 0 = greedy (default 1)", 0},
        {"--top-k", ARG_INT, &o->top_k, "K", "keep the K most likely tokens, 0 = all (default 0)", 0},
        {"--top-p", ARG_FLOAT, &o->top_p, "P", "keep the most likely tokens up to mass P (default 1)", 0},
        {"--seed", ARG_I64, &o->seed, "S", "random seed: the same seed, the same output (default 0)", 0},
        {"--max-tokens", ARG_INT, &o->max_tokens, "N", "tokens to generate per sample (default 256)", 0},
        {"--max-context", ARG_INT, &o->max_context, "N",
         "most tokens a sample may hold, prompt included; a longer prompt is refused (default: no limit)", 0},
        {"--n", ARG_INT, &o->n, "N", "samples, stepped together as one batch (default 1)", 0},
        {"--out", ARG_STR, &o->out, "DIR", "where images and speech go (default generated); with a continuous-image "
         "model FILE.png takes the first image (others: FILE_K_J.png)", 0},
        {"--steps", ARG_INT, &o->ddim_steps, "N", "DDIM steps per image of a continuous-image model (default 50)", 0},
        {"--vq", ARG_STR, &o->vq_path, "VQ", "image codebook (default: the one beside the model)", 0},
        {"--units", ARG_STR, &o->units_path, "UNITS", "speech-unit codebook (default: beside the model)", 0},
        {"--threads", ARG_INT, &o->threads, "N", "threads (default: all cores)", 0},
        {"--backend", ARG_STR, &o->backend, tool_backend_choices(), "where it runs (default cpu, or MOM_BACKEND)", 0},
        {"--device", ARG_INT, &o->device, "N", "the backend's device N, as mom info lists them (default: its choice)", 0},
    };
    const int n_opts = (int)(sizeof(opts) / sizeof(opts[0]));
    int r = args_parse("generate",
                       "Samples from a model: text to stdout, images (PNG) and speech units (list, WAV) to --out.\n"
                       "After a begin-image token only image codes are drawn, as many as the codebook's images\n"
                       "have, then the image is closed; likewise speech units up to an end-of-speech token.",
                       opts, n_opts, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!o->model) {
        fprintf(stderr, "mom generate: --model is required\n");
        return 2;
    }
    if (o->then && strcmp(o->then, "text") && strcmp(o->then, "image") && strcmp(o->then, "speech")) {
        fprintf(stderr, "mom generate: --then %s: expected text, image or speech\n", o->then);
        return 2;
    }
    if (o->max_tokens < 1 || o->max_tokens > (1 << 24)) {
        fprintf(stderr, "mom generate: --max-tokens %d is not in [1, 16M]\n", o->max_tokens);
        return 2;
    }
    if (o->max_context < 0) {
        fprintf(stderr, "mom generate: --max-context %d is negative\n", o->max_context);
        return 2;
    }
    if (o->ddim_steps < 1 || o->ddim_steps > MOM_DIFFUSION_STEPS) {
        fprintf(stderr, "mom generate: --steps %d is not in [1, %d]\n", o->ddim_steps, MOM_DIFFUSION_STEPS);
        return 2;
    }
    if (o->n < 1 || o->n > 4096) {
        fprintf(stderr, "mom generate: --n %d is not in [1, 4096]\n", o->n);
        return 2;
    }
    /* From here Ctrl-C and SIGTERM end the samples before the next token. */
    stop_signal_install();
    if (!(g.ctx = tool_ctx_on("generate", o->threads, NULL, o->backend, o->device))) return 1;
    mom_status s = mom_model_load(g.ctx, o->model, &g.m);
    int rc = s ? fail(&g, s) : 0;
    if (!rc) {
        g.lay = mom_model_config(g.m)->vocab_layout;
        g.continuous = mom_patch_dim(&mom_model_config(g.m)->patches) > 0;
        g.V = mom_model_config(g.m)->vocab_size;
        if (!mom_vocab_layout_is_set(&g.lay)) {
            fprintf(stderr, "mom generate: %s has no vocabulary layout (text bytes, image codes, speech units), "
                            "so its tokens cannot be read as text; train it on data from `mom data import`\n",
                    o->model);
            rc = 1;
        }
    }
    if (!rc && o->prompt && g.lay.text_first) {
        fprintf(stderr, "mom generate: --prompt: %s's text tokens are a pretrained tokenizer's, not bytes; give them "
                        "with --prompt-ids\n",
                o->model);
        rc = 1;
    }
    if (!rc && o->setting) {
        if (strcmp(o->setting, "transfusion")) {
            fprintf(stderr, "mom generate: --setting %s: only transfusion changes what generate does\n", o->setting);
            rc = 1;
        } else if (!g.continuous) {
            fprintf(stderr, "mom generate: --setting transfusion: %s has no continuous images (config.patches)\n",
                    o->model);
            rc = 1;
        } else if (!o->then) {
            o->then = "image";
        }
    }
    if (!rc && o->then && !strcmp(o->then, "image") && !g.lay.n_image && !g.continuous) {
        fprintf(stderr, "mom generate: --then image: the model has no image tokens\n");
        rc = 1;
    }
    if (!rc && o->then && !strcmp(o->then, "speech") && !g.lay.n_speech) {
        fprintf(stderr, "mom generate: --then speech: the model has no speech tokens\n");
        rc = 1;
    }
    if (!rc && load_codebooks(&g)) rc = 1;
    if (!rc) {
        const int r = run(&g);
        rc = r < 0 ? 1 : r;
    }
    mom_vq_destroy(&g.vq);
    mom_units_destroy(&g.units);
    mom_model_destroy(&g.m);
    mom_ctx_destroy(&g.ctx);
    return rc;
}
