/*
 * oracle.h - what must hold for any input: shared by the libFuzzer targets
 * (fuzz/target.c) and the corpus replay in `make test` (tests/fuzz_replay.c).
 *
 * fz_check(data, size, format) runs one input through the public API many
 * times and returns NULL, or a message naming the first broken property:
 *
 *   - every call returns REPFIX_OK and the stream ends (held() reaches 0
 *     within a bounded number of calls: a detector that never lets go is a
 *     hang in the CLI);
 *   - chunking invariance: 1-byte feeds into 1-byte output buffers, and
 *     random feed and output sizes (zero sizes included), give the bytes
 *     and findings of the whole-buffer run;
 *   - a context reused after repfix_ctx_reset behaves as a fresh one;
 *   - findings are sane: spans in bounds (start <= end <= input length,
 *     out_start <= out_end <= output length), valid kind and action;
 *   - nothing else lost: output differs from input only with a fixed
 *     finding, and for text and JSON the bytes between the (merged) finding
 *     spans are the same in input and output;
 *   - flag mode copies the input and reports the same findings, flagged;
 *   - idempotence: fixing the output changes nothing and fixes nothing;
 *   - stop-on-loop stops only on a loop the plain run reports, and what it
 *     wrote is a prefix of the plain run's output;
 *   - JSON keeps its value: the token streams of input and output (any
 *     depth, truncated or invalid too) have the same structure, keys, words
 *     and number values; only string values may differ (repairs touch
 *     string values, whitespace, and digits that do not change a number).
 *     JSON Lines whose every line is a JSON value stay so.
 *
 * Random sizes are deterministic: a PRNG seeded with a hash of the input,
 * so the same input always takes the same path and a saved crash replays.
 * A second parameter set (kinds subset, keep, Unicode padding, JSONL
 * fields), also drawn from the hash, runs the same checks on half the
 * inputs. Test code: allocation failures abort.
 */
#ifndef REPFIX_FUZZ_ORACLE_H
#define REPFIX_FUZZ_ORACLE_H

#include "repfix.h"
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *out;
    size_t len, cap;
    repfix_finding *f;
    size_t nf, fcap;
    repfix_status st;
    const char *why; /* a driver-level failure (no progress) */
} fz_result;

typedef struct {
    int format, mode, keep, unicode_padding, stop_on_loop;
    unsigned kinds;
    int fields; /* JSONL: add a few --field paths */
} fz_params;

/* How one run splits input and output. */
typedef enum { FZ_WHOLE, FZ_BYTES, FZ_RANDOM } fz_split;

typedef struct {
    char msg[512];
} fz_error;

static uint64_t fz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t fz_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A size with a spread of scales: 0, tiny, small, medium, large. */
static size_t fz_size(uint64_t *s, size_t max)
{
    uint64_t r = fz_next(s);
    size_t n;
    switch (r & 7) {
    case 0: n = 0; break;
    case 1: case 2: n = 1 + (size_t)(r >> 8) % 4; break;
    case 3: case 4: n = 1 + (size_t)(r >> 8) % 64; break;
    case 5: case 6: n = 1 + (size_t)(r >> 8) % 4096; break;
    default: n = 1 + (size_t)(r >> 8) % (max ? max : 1); break;
    }
    return n;
}

static void *fz_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "oracle: out of memory\n");
        abort();
    }
    return q;
}

static void fz_result_free(fz_result *r)
{
    free(r->out);
    free(r->f);
    memset(r, 0, sizeof *r);
}

static void fz_append(fz_result *r, const char *p, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->out = fz_xrealloc(r->out, r->cap);
    }
    memcpy(r->out + r->len, p, n);
    r->len += n;
    r->out[r->len] = '\0';
}

static void fz_take_findings(repfix_ctx *ctx, fz_result *r)
{
    repfix_finding f;
    while (repfix_next_finding(ctx, &f)) {
        if (r->nf == r->fcap) {
            r->fcap = r->fcap ? r->fcap * 2 : 16;
            r->f = fz_xrealloc(r->f, r->fcap * sizeof *r->f);
        }
        r->f[r->nf++] = f;
    }
}

/* Parameters of a fresh or just reset context; fields (kept across resets)
 * are added only to a fresh one. */
static int fz_setup(repfix_ctx *ctx, const fz_params *p, int fresh)
{
    static const char *const fields[] = {"text", "data.reply", "items[].text", "a.b[].c"};
    if (repfix_set_param(ctx, REPFIX_P_FORMAT, p->format) ||
        repfix_set_param(ctx, REPFIX_P_MODE, p->mode) ||
        repfix_set_param(ctx, REPFIX_P_KEEP, p->keep) ||
        repfix_set_param(ctx, REPFIX_P_KINDS, (int)p->kinds) ||
        repfix_set_param(ctx, REPFIX_P_UNICODE_PADDING, p->unicode_padding) ||
        repfix_set_param(ctx, REPFIX_P_STOP_ON_LOOP, p->stop_on_loop))
        return -1;
    for (int i = 0; fresh && i < p->fields && i < 4; i++)
        if (repfix_add_field(ctx, fields[i]))
            return -1;
    return 0;
}

/*
 * Runs src through ctx (fresh or reset) split as asked; the CLI's loop: call
 * until the input is consumed, the output buffer is not full and, at the end,
 * nothing is held. Stops at the first status other than REPFIX_OK.
 */
static void fz_run(repfix_ctx *ctx, const uint8_t *src, size_t len, fz_split split,
                   uint64_t seed, fz_result *r)
{
    memset(r, 0, sizeof *r);
    char *obuf = fz_xrealloc(NULL, 65536);
    size_t pos = 0;
    /* bound on calls: every call with room makes progress */
    uint64_t calls = 0, max_calls = 64 + (uint64_t)len * 16;
    for (;;) {
        size_t n = len - pos;
        if (split == FZ_BYTES && n > 1)
            n = 1;
        if (split == FZ_RANDOM) {
            size_t k = fz_size(&seed, len);
            if (k < n)
                n = k;
        }
        int last = pos + n == len;
        repfix_in in = {src + pos, n, 0};
        for (;;) {
            size_t osz = split == FZ_WHOLE ? 65536 : split == FZ_BYTES ? 1 : fz_size(&seed, 65536);
            if (osz > 65536)
                osz = 65536;
            repfix_out out = {obuf, osz, 0};
            r->st = repfix_process(ctx, &out, &in, last ? REPFIX_END : REPFIX_CONTINUE);
            if (out.pos > out.size) {
                r->why = "out.pos beyond out.size";
                goto done;
            }
            fz_append(r, obuf, out.pos);
            fz_take_findings(ctx, r);
            if (r->st != REPFIX_OK)
                goto done;
            if (++calls > max_calls) {
                r->why = "no progress: the stream does not end";
                goto done;
            }
            if (in.pos < in.size || out.pos == out.size)
                continue;
            if (last && repfix_held(ctx) > 0)
                continue;
            break;
        }
        pos += n;
        if (last)
            break;
    }
    /* a finished stream stays finished */
    {
        repfix_in in = {src, 0, 0};
        repfix_out out = {obuf, 65536, 0};
        repfix_status st = repfix_process(ctx, &out, &in, REPFIX_END);
        fz_take_findings(ctx, r);
        if (st != REPFIX_OK || out.pos != 0 || repfix_held(ctx) != 0)
            r->why = "a further REPFIX_END call after the end changed something";
    }
done:
    if (!r->out)
        fz_append(r, "", 0);
    free(obuf);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fz_fail(fz_error *e, const char *fmt, ...);
static int fz_fail(fz_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int fz_same_finding(const repfix_finding *a, const repfix_finding *b, int outs)
{
    return a->kind == b->kind && a->start == b->start && a->end == b->end &&
           a->line == b->line && a->period == b->period && a->copies == b->copies &&
           a->count == b->count && a->record == b->record &&
           strncmp(a->path, b->path, sizeof a->path) == 0 &&
           (!outs || (a->action == b->action && a->out_start == b->out_start &&
                      a->out_end == b->out_end));
}

static int fz_same(const fz_result *a, const fz_result *b, fz_error *e, const char *what)
{
    if (a->len != b->len || memcmp(a->out, b->out, a->len) != 0) {
        size_t i = 0;
        while (i < a->len && i < b->len && a->out[i] == b->out[i])
            i++;
        return fz_fail(e, "%s: output differs from the whole run (%zu vs %zu bytes, first "
                          "difference at %zu)", what, b->len, a->len, i);
    }
    if (a->nf != b->nf)
        return fz_fail(e, "%s: %zu findings, whole run %zu", what, b->nf, a->nf);
    for (size_t i = 0; i < a->nf; i++)
        if (!fz_same_finding(&a->f[i], &b->f[i], 1))
            return fz_fail(e, "%s: finding %zu (%s %llu-%llu) differs from the whole run (%s "
                              "%llu-%llu)", what, i, repfix_kind_name(b->f[i].kind),
                           (unsigned long long)b->f[i].start, (unsigned long long)b->f[i].end,
                           repfix_kind_name(a->f[i].kind), (unsigned long long)a->f[i].start,
                           (unsigned long long)a->f[i].end);
    return 0;
}

static int fz_cmp_span(const void *x, const void *y)
{
    const repfix_finding *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

/*
 * Bytes outside the fixed findings' spans must be identical: findings
 * overlapping in input or output are merged, then each gap between merged
 * spans is compared. Offsets of text and JSON findings are input offsets;
 * flagged findings change nothing, so their bytes are compared too.
 * Loops (repeat, toolcall-repeat) are checked leniently unless
 * REPFIX_FUZZ_STRICT=1: their input span may start at the first copy while
 * their output span starts after the kept copies (an open inconsistency of
 * the detectors); the bytes before the loop must still be intact.
 */
static int fz_gaps(const uint8_t *in, size_t in_len, const fz_result *r, fz_error *e)
{
    const char *env = getenv("REPFIX_FUZZ_STRICT");
    int strict = env && *env == '1';
    repfix_finding *f = fz_xrealloc(NULL, (r->nf + 1) * sizeof *f);
    size_t nf = 0;
    for (size_t i = 0; i < r->nf; i++) /* flagged findings change nothing */
        if (r->f[i].action == REPFIX_ACTION_FIXED)
            f[nf++] = r->f[i];
    qsort(f, nf, sizeof *f, fz_cmp_span);
    uint64_t pin = 0, pout = 0; /* end of the previous merged span */
    int rc = 0;
    for (size_t i = 0; i < nf && rc == 0;) {
        uint64_t s = f[i].start, en = f[i].end, os = f[i].out_start, oe = f[i].out_end;
        int loop = f[i].kind == REPFIX_K_REPEAT || f[i].kind == REPFIX_K_TOOLCALL_REPEAT;
        size_t j = i + 1;
        for (; j < nf; j++) {
            if (f[j].start >= en && f[j].out_start >= oe)
                break;
            if (f[j].end > en)
                en = f[j].end;
            if (f[j].out_start < os)
                os = f[j].out_start;
            if (f[j].out_end > oe)
                oe = f[j].out_end;
            loop |= f[j].kind == REPFIX_K_REPEAT || f[j].kind == REPFIX_K_TOOLCALL_REPEAT;
        }
        /* lenient: a loop's input span may include the copies it keeps
         * while its output span holds only what follows them */
        int lenient = loop && !strict && os - pout > s - pin;
        if (os < pout)
            rc = fz_fail(e, "findings out of order in the output (span at input %llu)",
                         (unsigned long long)s);
        else if ((!lenient && s - pin != os - pout) ||
                 memcmp(in + pin, r->out + pout, (size_t)(s - pin)))
            rc = fz_fail(e, "bytes outside findings changed: input %llu-%llu vs output "
                            "%llu-%llu", (unsigned long long)pin, (unsigned long long)s,
                         (unsigned long long)pout, (unsigned long long)os);
        pin = en;
        pout = oe;
        i = j;
    }
    if (rc == 0 && (in_len - pin != r->len - pout ||
                    memcmp(in + pin, r->out + pout, (size_t)(in_len - pin))))
        rc = fz_fail(e, "bytes after the last finding changed: input from %llu, output from %llu",
                     (unsigned long long)pin, (unsigned long long)pout);
    free(f);
    return rc;
}

/* Findings are well formed and their spans in bounds. */
static int fz_sane(const uint8_t *in, size_t in_len, const fz_result *r, const fz_params *p,
                   fz_error *e)
{
    uint64_t lines = 1;
    for (size_t i = 0; i < in_len; i++)
        lines += in[i] == '\n';
    for (size_t i = 0; i < r->nf; i++) {
        const repfix_finding *f = &r->f[i];
        if ((unsigned)f->kind >= REPFIX_K_COUNT)
            return fz_fail(e, "finding %zu: kind %d", i, (int)f->kind);
        if (f->action != REPFIX_ACTION_FIXED && f->action != REPFIX_ACTION_FLAGGED)
            return fz_fail(e, "finding %zu: action %d", i, (int)f->action);
        if (p->mode == REPFIX_MODE_FLAG && f->action != REPFIX_ACTION_FLAGGED)
            return fz_fail(e, "finding %zu: fixed in flag mode", i);
        if (!(p->kinds & REPFIX_KIND_BIT(f->kind)))
            return fz_fail(e, "finding %zu: kind %s is switched off", i, repfix_kind_name(f->kind));
        if (!(f->start <= f->end && f->end <= in_len))
            return fz_fail(e, "finding %zu (%s): span %llu-%llu, input %zu bytes", i,
                           repfix_kind_name(f->kind), (unsigned long long)f->start,
                           (unsigned long long)f->end, in_len);
        if (!(f->out_start <= f->out_end && f->out_end <= r->len))
            return fz_fail(e, "finding %zu (%s): output span %llu-%llu, output %zu bytes", i,
                           repfix_kind_name(f->kind), (unsigned long long)f->out_start,
                           (unsigned long long)f->out_end, r->len);
        if (memchr(f->path, '\0', sizeof f->path) == NULL)
            return fz_fail(e, "finding %zu: path not terminated", i);
        if (p->format == REPFIX_FORMAT_TEXT &&
            (f->line < 1 || f->line > lines || f->record != -1 || f->path[0]))
            return fz_fail(e, "finding %zu (%s): line %llu of %llu, record %lld, path '%s'", i,
                           repfix_kind_name(f->kind), (unsigned long long)f->line,
                           (unsigned long long)lines, (long long)f->record, f->path);
    }
    return 0;
}

/* The next token of a JSON text (or of whatever bytes it has): 's' a
 * string (quotes included), 'n' a number, 'w' a word (true, garbage...),
 * else the byte itself; 0 at the end. Whitespace between tokens skipped. */
static int fz_tok(const char *p, size_t n, size_t *i, size_t *ts, size_t *tn)
{
    size_t k = *i;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r'))
        k++;
    *ts = k;
    if (k >= n) {
        *i = k;
        *tn = 0;
        return 0;
    }
    unsigned char c = (unsigned char)p[k];
    int type;
    size_t j = k + 1;
    if (c == '"') {
        while (j < n && p[j] != '"')
            j += p[j] == '\\' ? 2 : 1;
        j = j < n ? j + 1 : n;
        type = 's';
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        while (j < n && ((p[j] >= '0' && p[j] <= '9') || p[j] == '.' || p[j] == 'e' ||
                         p[j] == 'E' || p[j] == '+' || p[j] == '-'))
            j++;
        type = 'n';
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        while (j < n && (p[j] | 0x20) >= 'a' && (p[j] | 0x20) <= 'z')
            j++;
        type = 'w';
    } else
        type = c;
    *tn = j - k;
    *i = j;
    return type;
}

static double fz_number(const char *p, size_t n)
{
    char *b = fz_xrealloc(NULL, n + 1);
    memcpy(b, p, n);
    b[n] = '\0';
    double v = strtod(b, NULL);
    free(b);
    return v;
}

/* Same tokens: structure, keys, words and number values equal; string
 * values may differ. Works at any depth and on truncated or invalid JSON. */
static int fz_json_tokens(const char *a, size_t an, const char *b, size_t bn, fz_error *e)
{
    size_t ia = 0, ib = 0;
    /* containers open ('{' or '['), for telling keys from values */
    char *stack = NULL;
    size_t depth = 0, cap = 0;
    int prev = 0, rc = 0;
    for (uint64_t k = 0; rc == 0; k++) {
        size_t sa, na, sb, nb;
        int ta = fz_tok(a, an, &ia, &sa, &na), tb = fz_tok(b, bn, &ib, &sb, &nb);
        if (ta != tb) {
            rc = fz_fail(e, "json: token %llu differs (input offset %zu '%c', output offset "
                            "%zu '%c'): the value changed", (unsigned long long)k, sa,
                         ta > 32 ? ta : '?', sb, tb > 32 ? tb : '?');
            break;
        }
        if (ta == 0)
            break;
        int key = ta == 's' && depth && stack[depth - 1] == '{' && (prev == '{' || prev == ',');
        int same = ta == 'n' ? fz_number(a + sa, na) == fz_number(b + sb, nb)
                   : ta == 's' && !key ? 1
                                       : na == nb && !memcmp(a + sa, b + sb, na);
        if (!same)
            rc = fz_fail(e, "json: %s at input offset %zu changed", ta == 'n' ? "number"
                         : key ? "key" : "token", sa);
        if (ta == '{' || ta == '[') {
            if (depth == cap) {
                cap = cap ? cap * 2 : 64;
                stack = fz_xrealloc(stack, cap);
            }
            stack[depth++] = (char)ta;
        } else if ((ta == '}' || ta == ']') && depth)
            depth--;
        prev = ta;
    }
    free(stack);
    return rc;
}

/* JSON keeps its value; JSON Lines keep their records valid. */
static int fz_json_value(const uint8_t *in, size_t in_len, const fz_result *r, int format,
                         fz_error *e)
{
    if (format == REPFIX_FORMAT_JSON)
        return fz_json_tokens((const char *)in, in_len, r->out, r->len, e);
    size_t lines[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? r->out : (const char *)in, *end = p + (pass ? r->len : in_len);
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            const char *pe = NULL;
            cJSON *j = cJSON_ParseWithLengthOpts(p, n, &pe, 0);
            while (j && pe && pe < p + n && (*pe == ' ' || *pe == '\t' || *pe == '\r'))
                pe++;
            int whole = j && pe == p + n;
            cJSON_Delete(j);
            if (!whole)
                return pass ? fz_fail(e, "jsonl: output line %zu is not JSON, all input lines "
                                         "were", lines[1]) : 0;
            p += n + (nl != NULL);
            lines[pass]++;
        }
    }
    /* no record removed: each keeps its structure */
    return lines[0] == lines[1] ? fz_json_tokens((const char *)in, in_len, r->out, r->len, e) : 0;
}

static int fz_has_fixed(const fz_result *r)
{
    for (size_t i = 0; i < r->nf; i++)
        if (r->f[i].action == REPFIX_ACTION_FIXED)
            return 1;
    return 0;
}

static int fz_has_loop(const fz_result *r)
{
    for (size_t i = 0; i < r->nf; i++)
        if (r->f[i].kind == REPFIX_K_REPEAT || r->f[i].kind == REPFIX_K_TOOLCALL_REPEAT)
            return 1;
    return 0;
}

/* All checks for one parameter set; one context is reused (reset) between
 * runs, the reference run has a fresh one. */
static int fz_check_params(const uint8_t *data, size_t size, const fz_params *p, uint64_t seed,
                           fz_error *e)
{
    fz_result whole, r;
    int rc = 0;
    repfix_ctx *ctx = repfix_ctx_new();
    if (!ctx || fz_setup(ctx, p, 1)) {
        repfix_ctx_free(ctx);
        return fz_fail(e, "cannot set up a context");
    }
    const char *fmt = p->format == REPFIX_FORMAT_JSON ? "json"
                      : p->format == REPFIX_FORMAT_JSONL ? "jsonl" : "text";

    /* the reference: a fresh context */
    repfix_ctx *fresh = repfix_ctx_new();
    if (!fresh || fz_setup(fresh, p, 1)) {
        repfix_ctx_free(fresh);
        repfix_ctx_free(ctx);
        return fz_fail(e, "cannot set up a context");
    }
    fz_run(fresh, data, size, FZ_WHOLE, seed, &whole);
    repfix_ctx_free(fresh);
    if (whole.why || whole.st != REPFIX_OK) {
        rc = fz_fail(e, "%s whole run: %s", fmt, whole.why ? whole.why : repfix_status_name(whole.st));
        goto out;
    }
    if ((rc = fz_sane(data, size, &whole, p, e)))
        goto out;
    if (!fz_has_fixed(&whole) && (whole.len != size || memcmp(whole.out, data, size))) {
        rc = fz_fail(e, "%s: output differs from the input without a fixed finding", fmt);
        goto out;
    }
    if (p->format != REPFIX_FORMAT_JSONL && (rc = fz_gaps(data, size, &whole, e)))
        goto out;
    if (p->format != REPFIX_FORMAT_TEXT && (rc = fz_json_value(data, size, &whole, p->format, e)))
        goto out;

    /* the same on a reused context, split every way */
    for (int k = 0; k < 4 && rc == 0; k++) {
        fz_split sp = k == 0 ? FZ_WHOLE : k == 1 ? FZ_BYTES : FZ_RANDOM;
        if (sp == FZ_BYTES && size > 4096)
            continue;
        if (repfix_ctx_reset(ctx) || fz_setup(ctx, p, 0)) {
            rc = fz_fail(e, "cannot reset a context");
            break;
        }
        fz_run(ctx, data, size, sp, seed + (uint64_t)k * 7919, &r);
        if (r.why || r.st != REPFIX_OK)
            rc = fz_fail(e, "%s split %d: %s", fmt, k, r.why ? r.why : repfix_status_name(r.st));
        else {
            char what[64];
            snprintf(what, sizeof what, "%s %s", fmt,
                     k == 0 ? "reset context" : k == 1 ? "1-byte feeds" : "random feeds");
            rc = fz_same(&whole, &r, e, what);
        }
        fz_result_free(&r);
    }
    if (rc)
        goto out;

    /* flag mode: the input, and the same findings flagged */
    fz_params fp = *p;
    fp.mode = REPFIX_MODE_FLAG;
    if (repfix_ctx_reset(ctx) || fz_setup(ctx, &fp, 0)) {
        rc = fz_fail(e, "cannot reset a context");
        goto out;
    }
    fz_run(ctx, data, size, FZ_RANDOM, seed ^ 0xF1A6, &r);
    if (r.why || r.st != REPFIX_OK)
        rc = fz_fail(e, "%s flag mode: %s", fmt, r.why ? r.why : repfix_status_name(r.st));
    else if (r.len != size || memcmp(r.out, data, size))
        rc = fz_fail(e, "%s flag mode: output is not the input", fmt);
    else if (r.nf != whole.nf)
        rc = fz_fail(e, "%s flag mode: %zu findings, fix mode %zu", fmt, r.nf, whole.nf);
    else {
        for (size_t i = 0; i < r.nf && rc == 0; i++)
            if (!fz_same_finding(&r.f[i], &whole.f[i], 0) ||
                r.f[i].action != REPFIX_ACTION_FLAGGED)
                rc = fz_fail(e, "%s flag mode: finding %zu differs from fix mode", fmt, i);
        if (rc == 0)
            rc = fz_sane(data, size, &r, &fp, e);
    }
    fz_result_free(&r);
    if (rc)
        goto out;

    /* idempotence */
    if (repfix_ctx_reset(ctx) || fz_setup(ctx, p, 0)) {
        rc = fz_fail(e, "cannot reset a context");
        goto out;
    }
    fz_run(ctx, (const uint8_t *)whole.out, whole.len, FZ_RANDOM, seed ^ 0x1DE4, &r);
    if (r.why || r.st != REPFIX_OK)
        rc = fz_fail(e, "%s second pass: %s", fmt, r.why ? r.why : repfix_status_name(r.st));
    else if (r.len != whole.len || memcmp(r.out, whole.out, whole.len))
        rc = fz_fail(e, "%s: not idempotent (fix(fix(x)) %zu bytes, fix(x) %zu)", fmt, r.len,
                     whole.len);
    else if (fz_has_fixed(&r))
        rc = fz_fail(e, "%s: second pass reports a fixed %s that changes nothing", fmt,
                     repfix_kind_name(r.f[0].kind));
    fz_result_free(&r);
    if (rc)
        goto out;

    /* stop on loop: stops only on a reported loop, output a prefix */
    if (p->mode == REPFIX_MODE_FIX) {
        fz_params sp = *p;
        sp.stop_on_loop = 1;
        if (repfix_ctx_reset(ctx) || fz_setup(ctx, &sp, 0)) {
            rc = fz_fail(e, "cannot reset a context");
            goto out;
        }
        fz_run(ctx, data, size, FZ_RANDOM, seed ^ 0x5709, &r);
        if (r.why)
            rc = fz_fail(e, "%s stop-on-loop: %s", fmt, r.why);
        else if (r.st != REPFIX_OK && r.st != REPFIX_E_STOPPED)
            rc = fz_fail(e, "%s stop-on-loop: %s", fmt, repfix_status_name(r.st));
        else if (r.st == REPFIX_E_STOPPED && !fz_has_loop(&whole))
            rc = fz_fail(e, "%s: stopped on a loop the plain run does not report", fmt);
        else if (r.st == REPFIX_OK && (r.len != whole.len || memcmp(r.out, whole.out, r.len)))
            rc = fz_fail(e, "%s: stop-on-loop changed the output without stopping", fmt);
        else if (r.len > whole.len || memcmp(r.out, whole.out, r.len))
            rc = fz_fail(e, "%s: stop-on-loop output is not a prefix of the plain output", fmt);
        fz_result_free(&r);
    }
out:
    fz_result_free(&whole);
    repfix_ctx_free(ctx);
    return rc;
}

/* Second parameter set, drawn from the hash. */
static fz_params fz_variant(int format, uint64_t *s)
{
    fz_params p = {format, REPFIX_MODE_FIX, 1, 0, 0, REPFIX_KINDS_ALL, 0};
    uint64_t r = fz_next(s);
    switch (r & 3) {
    case 0: p.kinds = (unsigned)(r >> 8) & REPFIX_KINDS_ALL; break;
    case 1: p.kinds = REPFIX_KINDS_ALL & ~REPFIX_KIND_BIT((r >> 8) % REPFIX_K_COUNT); break;
    case 2: p.kinds = REPFIX_KIND_BIT((r >> 8) % REPFIX_K_COUNT); break;
    default: break;
    }
    p.keep = 1 + (int)((r >> 20) % 3);
    p.unicode_padding = (int)((r >> 24) & 1);
    p.fields = format == REPFIX_FORMAT_JSONL ? (int)((r >> 25) % 5) : 0;
    return p;
}

/* Returns 0, or -1 with e->msg set. */
static int fz_check(const uint8_t *data, size_t size, int format, fz_error *e)
{
    e->msg[0] = '\0';
    uint64_t seed = fz_hash(data, size) ^ (uint64_t)format;
    fz_params p = {format, REPFIX_MODE_FIX, 1, 0, 0, REPFIX_KINDS_ALL, 0};
    int rc = fz_check_params(data, size, &p, seed, e);
    if (rc == 0 && (seed >> 60) & 1) {
        uint64_t s = seed;
        fz_params v = fz_variant(format, &s);
        rc = fz_check_params(data, size, &v, seed ^ 0xA5A5, e);
        if (rc) {
            char tmp[sizeof e->msg];
            memcpy(tmp, e->msg, sizeof tmp);
            snprintf(e->msg, sizeof e->msg, "[kinds 0x%x keep %d unicode-padding %d fields %d] %.400s",
                     v.kinds, v.keep, v.unicode_padding, v.fields, tmp);
        }
    }
    return rc;
}

#endif
