/*
 * harness.h - the tiny test harness shared by the test programs.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints the failure; each program
 * ends by printing "N passed, N failed" for its own checks, which
 * tests/run.sh adds up into the suite's last line.
 */
#ifndef REPFIX_HARNESS_H
#define REPFIX_HARNESS_H

#include "repfix.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond)                                                              \
            t_passed++;                                                        \
        else {                                                                 \
            t_failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static inline int t_report(void)
{
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

/* The result of running a buffer through a context. */
typedef struct {
    char *out;
    size_t len;
    repfix_finding *f;
    size_t nf;
    repfix_status st;
} t_result;

static inline void t_result_free(t_result *r)
{
    free(r->out);
    free(r->f);
    memset(r, 0, sizeof *r);
}

typedef struct {
    int format, mode, keep, kinds, unicode_padding;
} t_params;

static inline t_params t_defaults(void)
{
    t_params p = {REPFIX_FORMAT_TEXT, REPFIX_MODE_FIX, 1, (int)REPFIX_KINDS_ALL, 0};
    return p;
}

/*
 * Runs src through a prepared context (freed here), feeding `in_chunk`
 * bytes at a time (0 = all at once; a negative value -s = pseudo-random
 * sizes of 1..rand_max from seed s) with output buffers of `out_chunk`
 * bytes (0 = 64 KiB).
 */
static inline t_result t_run_ctx(repfix_ctx *ctx, const char *src, size_t len, long in_chunk,
                                 size_t rand_max, size_t out_chunk)
{
    t_result r = {0};
    if (!ctx) {
        r.st = REPFIX_E_NOMEM;
        return r;
    }
    size_t cap = len * 2 + 64, fcap = 16;
    r.out = malloc(cap + 1);
    r.f = malloc(fcap * sizeof *r.f);
    size_t osz = out_chunk ? out_chunk : 65536, pos = 0;
    char *obuf = malloc(osz);
    unsigned long seed = in_chunk < 0 ? (unsigned long)-in_chunk : 1;
    for (;;) {
        size_t n = len - pos;
        if (in_chunk > 0 && (size_t)in_chunk < n)
            n = (size_t)in_chunk;
        if (in_chunk < 0) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            size_t k = (size_t)(seed >> 33) % rand_max + 1;
            if (k < n)
                n = k;
        }
        repfix_in in = {src + pos, n, 0};
        int last = pos + n == len;
        for (;;) {
            repfix_out out = {obuf, osz, 0};
            r.st = repfix_process(ctx, &out, &in, last ? REPFIX_END : REPFIX_CONTINUE);
            if (r.len + out.pos > cap) {
                cap = (r.len + out.pos) * 2;
                r.out = realloc(r.out, cap + 1);
            }
            memcpy(r.out + r.len, obuf, out.pos);
            r.len += out.pos;
            repfix_finding f;
            while (repfix_next_finding(ctx, &f)) {
                if (r.nf == fcap) {
                    fcap *= 2;
                    r.f = realloc(r.f, fcap * sizeof *r.f);
                }
                r.f[r.nf++] = f;
            }
            if (r.st != REPFIX_OK)
                goto done;
            if (in.pos < in.size || out.pos == out.size)
                continue;
            if (last && repfix_held(ctx) > 0)
                continue;
            break;
        }
        pos += n;
        if (pos >= len)
            break;
    }
done:
    r.out[r.len] = '\0';
    free(obuf);
    repfix_ctx_free(ctx);
    return r;
}

/*
 * Runs src through a fresh context with parameters p, feeding `in_chunk`
 * bytes at a time (0 = all at once; a negative value -s = pseudo-random
 * sizes from seed s) with output buffers of `out_chunk` bytes.
 */
static inline t_result t_run(const char *src, size_t len, t_params p, long in_chunk,
                             size_t out_chunk)
{
    repfix_ctx *ctx = repfix_ctx_new();
    if (ctx) {
        repfix_set_param(ctx, REPFIX_P_FORMAT, p.format);
        repfix_set_param(ctx, REPFIX_P_MODE, p.mode);
        repfix_set_param(ctx, REPFIX_P_KEEP, p.keep);
        repfix_set_param(ctx, REPFIX_P_KINDS, p.kinds);
        repfix_set_param(ctx, REPFIX_P_UNICODE_PADDING, p.unicode_padding);
    }
    return t_run_ctx(ctx, src, len, in_chunk, 97, out_chunk);
}

/* Same bytes and same findings (all fields). */
static inline int t_same(const t_result *a, const t_result *b)
{
    if (a->len != b->len || memcmp(a->out, b->out, a->len) != 0 || a->nf != b->nf)
        return 0;
    for (size_t i = 0; i < a->nf; i++)
        if (memcmp(&a->f[i], &b->f[i], sizeof a->f[i]) != 0)
            return 0;
    return 1;
}

static inline char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while ((r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap + 1);
        }
    }
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
}

/* Decodes the visible markers of a spec section (a tests/spec file): "→" a
 * tab, "␍" a CR, "␀" a NUL, a final "⏎" line: no line end at the end. */
static inline char *t_decode_markers(const char *p, size_t n, size_t *len)
{
    char *o = malloc(n + 1);
    if (!o) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (!strncmp(p + i, "→", 3)) { o[k++] = '\t'; i += 3; }
        else if (!strncmp(p + i, "␍", 3)) { o[k++] = '\r'; i += 3; }
        else if (!strncmp(p + i, "␀", 3)) { o[k++] = '\0'; i += 3; }
        else if (!strncmp(p + i, "⏎\n", 4) && i + 4 == n) { i += 4; }
        else o[k++] = p[i++];
    }
    o[k] = '\0';
    *len = k;
    return o;
}

#endif
