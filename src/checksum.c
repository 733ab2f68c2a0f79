/* MOM64, the checksum of the dataset files (FNV-1a style, but word-wise
 * and in four independent lanes so it runs at memory speed on multi-GB
 * files):
 *   h[i] = 0xcbf29ce484222325 ^ i, i = 0..3
 *   for each 32-byte block of the input (the last one zero-padded):
 *     for i = 0..3: w = u64 LE at 8i; h[i] = (h[i] ^ w) * 0x9e3779b97f4a7c15; h[i] ^= h[i] >> 32
 *   result = FNV-1a 64 over the 32 bytes of h[0..3] (each LE) followed by
 *            the input length as u64 LE.
 *
 * Where it sits in a dataset file and what it covers: src/dataset_format.h. */
#include "checksum.h"
#include "little_endian.h"

#include <string.h>

#define MOM64_MUL 0x9e3779b97f4a7c15ull
#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

void mom64_init(mom64 *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) s->h[i] = FNV_BASIS ^ (uint64_t)i;
}

static void mom64_block(uint64_t h[4], const uint8_t *p)
{
    for (int i = 0; i < 4; i++) {
        uint64_t x = (h[i] ^ get_u64(p + 8 * i)) * MOM64_MUL;
        h[i] = x ^ (x >> 32);
    }
}

void mom64_update(mom64 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->len += n;
    if (s->nbuf) {
        size_t k = 32 - s->nbuf < n ? 32 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k;
        p += k;
        n -= k;
        if (s->nbuf < 32) return;
        mom64_block(s->h, s->buf);
        s->nbuf = 0;
    }
    uint64_t h0 = s->h[0], h1 = s->h[1], h2 = s->h[2], h3 = s->h[3];
    for (; n >= 32; p += 32, n -= 32) {
        uint64_t a = (h0 ^ get_u64(p)) * MOM64_MUL, b = (h1 ^ get_u64(p + 8)) * MOM64_MUL;
        uint64_t c = (h2 ^ get_u64(p + 16)) * MOM64_MUL, d = (h3 ^ get_u64(p + 24)) * MOM64_MUL;
        h0 = a ^ (a >> 32);
        h1 = b ^ (b >> 32);
        h2 = c ^ (c >> 32);
        h3 = d ^ (d >> 32);
    }
    s->h[0] = h0, s->h[1] = h1, s->h[2] = h2, s->h[3] = h3;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

uint64_t mom64_final(mom64 *s)
{
    if (s->nbuf) {
        memset(s->buf + s->nbuf, 0, 32 - s->nbuf);
        mom64_block(s->h, s->buf);
        s->nbuf = 0;
    }
    uint8_t tail[40];
    for (int i = 0; i < 4; i++) put_u64(tail + 8 * i, s->h[i]);
    put_u64(tail + 32, s->len);
    uint64_t r = FNV_BASIS;
    for (int i = 0; i < 40; i++) r = (r ^ tail[i]) * FNV_PRIME;
    return r;
}
