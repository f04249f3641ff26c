/*
 * json.c - stage A for REPFIX_FORMAT_JSON: a streaming JSON lexer.
 *
 * The document is never parsed whole: the typical broken structured-output
 * response is cut off by the token limit in the middle of its runaway. The
 * lexer knows for every byte whether it lies between tokens, in a string
 * (key or value), in a number or in a literal, and keeps the path of
 * containers (object keys, array indices) up to JSON_MAX_DEPTH levels;
 * deeper nesting is passed through untouched with only a counter (so
 * 10^6 brackets cost nothing). Bytes are emitted to stage B as they are
 * decided; only three things are ever held, each bounded:
 *
 *  - a whitespace run between tokens, until the next token shows what it
 *    separates (at most WS_HOLD bytes are kept; a longer run is a defect);
 *  - a string value, until its closing quote, up to STR_HOLD bytes; longer
 *    strings are decoded and cleaned piecewise, STR_BLOCK bytes at a time;
 *  - a run of equal digits in a number's fraction (only counted).
 *
 * Repairs and their rules:
 *  - whitespace-run / newline-run between tokens. A run is a defect when it
 *    holds WS_NL_MIN or more line breaks (3 blank lines, as in text:
 *    newline-run), or a line of WS_RUN_MIN or more spaces/tabs (trailing a
 *    token, whitespace-only, or indentation WS_RUN_MIN beyond what the depth
 *    needs: whitespace-run). Ordinary pretty-printing never comes close.
 *    The run becomes a line break plus the document's own indentation at
 *    that depth (learnt from its first indented line, else 2 spaces a
 *    level) when the document is pretty-printed (a line break followed by
 *    indentation was seen, in this run or before), else one space, or
 *    nothing after an opening bracket and before , : and closing brackets.
 *    A runaway at the end of input is removed; after a complete top-level
 *    value one line break stays if the run had one. The value never changes.
 *  - string values are decoded and cleaned as text through a nested text
 *    context (newline-run, escape-run, repeat, tables, ...: jsonstr.c). A
 *    string whose text needs no repair passes through byte for byte. In a
 *    repaired held string only the repaired spans are re-escaped (the
 *    nested findings say where); the rest keeps its original bytes, \u00e9
 *    and \/ spellings included, and findings carry exact input and output
 *    spans. A streamed string (over STR_HOLD) is re-escaped whole in the
 *    shortest form (json_escape) and its finding spans are approximate
 *    inside older pieces: same value, possibly other escape spellings.
 *    Keys are never changed. Strings nested deeper than JSON_MAX_DEPTH are
 *    not cleaned.
 *  - runaway digits: a fraction ending in ZERO_RUN_MIN or more equal zeros
 *    keeps `keep` of them ("0.000..." -> "0.0", "1.5000..." -> "1.50"):
 *    trailing fraction zeros never change the value. A run of
 *    DIGIT_RUN_MIN equal fraction digits elsewhere ("0.3333...") is
 *    flagged and kept: shortening it would change the value.
 *  - repeated elements and key/value pairs are left to stage B, which gets
 *    every byte with BLOCK_JSON (code-like thresholds).
 *
 * Invalid JSON: from the first byte that cannot continue a JSON text, all
 * remaining input passes through unchanged and one invalid-json finding
 * (flagged) marks that byte; a held string or run in front of it passes
 * unchanged too. Truncated input is not invalid: nothing is ever added, in
 * particular no closing quote or bracket. Several top-level values in a
 * row (a JSON text sequence) are accepted.
 *
 * Tool calls (Gemini functionCall, OpenAI tool_calls, Anthropic tool_use)
 * are not handled here yet: value_begins() is the hook where toolcall.c
 * can recognize them by key and path.
 *
 * Chunking invariance: every decision is taken at a byte determined by the
 * content (a token's first byte, a closing quote, a piece boundary counted
 * in string bytes), never at a feed boundary.
 */
#include "internal.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256
#define KEY_MAX 40          /* bytes of a key kept for paths */
#define WS_HOLD 8192        /* bytes of a whitespace run kept */
#define WS_NL_MIN 4         /* line breaks in a run: 3 blank lines, as in text */
#define WS_RUN_MIN 32       /* spaces/tabs on one line of a run */
#define INDENT_UNIT_MAX 8   /* widest indentation step learnt */
#define STR_HOLD (1u << 20) /* a string value held whole up to this */
#define STR_BLOCK (1u << 16) /* then cleaned in pieces of this size */
#define ZERO_RUN_MIN 32
#define DIGIT_RUN_MIN 256

typedef enum {
    S_VALUE, /* a value must come (or ']' right after '[') */
    S_KEY,   /* a key must come (or '}' right after '{') */
    S_COLON, /* ':' after a key */
    S_AFTER, /* ',' or a closing bracket; at depth 0 another value or the end */
    S_STRING,
    S_NUMBER,
    S_LITERAL,
    S_DEEP,   /* nesting beyond JSON_MAX_DEPTH: passed through */
    S_INVALID /* after the first invalid byte: passed through */
} lex_state;

/* number states */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

typedef struct {
    char type;       /* '{' or '[' */
    uint8_t key_len; /* bytes in key */
    uint64_t index;  /* array: index of the current element */
    char key[KEY_MAX];
} level;

struct json_state {
    bool fresh;      /* nothing fed since the last reset (nested text
                      * contexts reset per string and never use us) */
    lex_state st;
    bool first;      /* S_VALUE/S_KEY: right after the opening bracket */
    bool top_done;   /* a top-level value has been completed */
    char prev_tok;   /* last structural byte: '{' '[' ',' ':' or 'v' (a value) */
    uint8_t bom;     /* BOM bytes seen at the start */
    bool seen;       /* a non-BOM byte was seen */
    uint32_t depth;  /* open containers we track */
    level *stack;    /* JSON_MAX_DEPTH levels */
    uint64_t deep;   /* S_DEEP: open brackets beyond the stack */
    bool deep_str, deep_esc;
    uint64_t line;   /* line of the next byte */
    rbuf doc;        /* the document, for tool calls, up to DOC_MAX bytes */
    bool doc_over;   /* the document outgrew DOC_MAX: no tool-call check */

    /* string */
    bool is_key;
    int esc;             /* 0, 1 after '\\', 2..5 in \u hex digits */
    uint32_t uval;
    size_t esc_start;    /* sbuf position of the escape being read */
    size_t hi_start, hi_end; /* last complete high-surrogate escape in sbuf */
    bool hi_valid;
    bool streaming;      /* the value outgrew STR_HOLD: cleaned in pieces */
    bool str_lone;       /* the string so far has a lone surrogate escape */
    rbuf sbuf;           /* held body bytes of a string value */
    uint64_t sbuf_in;    /* input offset of sbuf.p[0] */
    uint64_t str_line;

    /* number */
    int num;
    char dig;            /* last fraction digit */
    uint64_t held;       /* fraction digits equal to the one before them, held */
    uint64_t held_in;    /* input offset of the first held digit */

    /* literal */
    const char *lit;
    uint8_t lit_pos;

    /* whitespace run */
    bool in_run, run_raw;
    uint64_t run_in, run_line, run_len;
    rbuf run;
    uint32_t nl;
    uint64_t seg, first_seg, max_mid;
    bool crlf;
    char prev_ws;

    /* indentation learnt */
    bool pretty, learned;
    char unit_char;
    uint32_t unit_len;

    /* findings of the nested text context for the current string, and the
     * merged repaired spans of a held string */
    rbuf found, segs;
    size_t walk_r, walk_d; /* raw/decoded walker over sbuf */
    /* streamed strings: where recent pieces began (decoded offset -> input
     * offset; cleaned offset -> stage A offset), a ring of CKPT entries */
    uint64_t ck_dec[16], ck_in[16], ck_clean[16], ck_a[16];
    unsigned ck_n;
    uint64_t dec_total, clean_total;

    /* scratch */
    rbuf dec, clean, esc_out, rep;
    char path[96];
};

json_state *json_new(void)
{
    json_state *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->stack = malloc(JSON_MAX_DEPTH * sizeof *j->stack);
    if (!j->stack) {
        free(j);
        return NULL;
    }
    json_reset(j);
    return j;
}

void json_free(json_state *j)
{
    if (!j)
        return;
    rbuf_free(&j->sbuf);
    rbuf_free(&j->doc);
    rbuf_free(&j->run);
    rbuf_free(&j->dec);
    rbuf_free(&j->clean);
    rbuf_free(&j->esc_out);
    rbuf_free(&j->rep);
    rbuf_free(&j->found);
    rbuf_free(&j->segs);
    free(j->stack);
    free(j);
}

void json_reset(json_state *j)
{
    if (j->fresh)
        return;
    level *stack = j->stack;
    rbuf keep[8] = {j->sbuf, j->run, j->dec, j->clean, j->esc_out, j->rep, j->found, j->segs};
    rbuf doc = j->doc;
    memset(j, 0, sizeof *j);
    j->doc = doc;
    j->doc.len = 0;
    j->stack = stack;
    j->sbuf = keep[0];
    j->run = keep[1];
    j->dec = keep[2];
    j->clean = keep[3];
    j->esc_out = keep[4];
    j->rep = keep[5];
    j->found = keep[6];
    j->segs = keep[7];
    j->found.len = j->segs.len = 0;
    j->sbuf.len = j->run.len = j->dec.len = j->clean.len = j->esc_out.len = j->rep.len = 0;
    j->st = S_VALUE;
    j->line = 1;
    j->fresh = true;
}

/* ---- emission ---------------------------------------------------------- */

/* The feed loop's view of the current chunk: bytes [pass, i) are decided
 * and pass through unchanged; they are emitted before anything else. */
typedef struct {
    const char *p;
    uint64_t base; /* input offset of p[0] */
    size_t pass;
} chunk;

static void flush_pass(repfix_ctx *ctx, chunk *c, size_t i)
{
    if (i > c->pass)
        stage_a_emit(ctx, c->p + c->pass, i - c->pass, c->base + c->pass, i - c->pass,
                     BLOCK_JSON);
    c->pass = i;
}

static void emit(repfix_ctx *ctx, const char *p, size_t n, uint64_t in_off, uint64_t in_len)
{
    stage_a_emit(ctx, p, n, in_off, in_len, BLOCK_JSON);
}

/* "a.b[3].c" of the current position into j->path (truncated, zero-filled). */
static const char *build_path(json_state *j)
{
    char *o = j->path;
    size_t k = 0, cap = sizeof j->path - 1;
    memset(o, 0, sizeof j->path);
    for (uint32_t d = 0; d < j->depth && k < cap; d++) {
        const level *l = &j->stack[d];
        char tmp[KEY_MAX + 24];
        size_t n;
        if (l->type == '[') {
            n = (size_t)snprintf(tmp, sizeof tmp, "[%llu]", (unsigned long long)l->index);
        } else {
            n = 0;
            if (k > 0)
                tmp[n++] = '.';
            memcpy(tmp + n, l->key, l->key_len);
            n += l->key_len;
        }
        if (n > cap - k)
            n = cap - k;
        memcpy(o + k, tmp, n);
        k += n;
    }
    return o;
}

/* ---- whitespace runs ------------------------------------------------- */

static void run_start(json_state *j, uint64_t in)
{
    j->in_run = true;
    j->run_raw = false;
    j->run_in = in;
    j->run_line = j->line;
    j->run_len = 0;
    j->run.len = 0;
    j->nl = 0;
    j->seg = j->first_seg = j->max_mid = 0;
    j->crlf = false;
    j->prev_ws = 0;
}

/* Adds whitespace byte b (input offset in) to the run. Returns false when
 * the run cannot be held (too long and a kind needed to repair it is off):
 * it then goes on raw. */
static bool run_byte(repfix_ctx *ctx, json_state *j, char b)
{
    if (b == '\n') {
        if (j->nl == 0) {
            j->first_seg = j->seg;
            j->crlf = j->prev_ws == '\r';
        } else if (j->seg > j->max_mid) {
            j->max_mid = j->seg;
        }
        j->nl++;
        j->seg = 0;
    } else if (b == ' ' || b == '\t') {
        j->seg++;
    }
    j->prev_ws = b;
    j->run_len++;
    if (j->run.len < WS_HOLD) {
        if (!rbuf_append(&j->run, &b, 1)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        return true;
    }
    return kind_on(ctx, REPFIX_K_NEWLINE_RUN) && kind_on(ctx, REPFIX_K_WHITESPACE_RUN);
}

/* Depth at which the next byte c sits (a closing bracket belongs to the
 * level outside). */
static uint32_t depth_for(const json_state *j, int c)
{
    uint32_t d = j->depth;
    if ((c == '}' || c == ']') && d > 0)
        d--;
    return d;
}

/* Learns the indentation step from the last line of a run before a token
 * at depth d, when it is made of one character and divides evenly. */
static void learn_indent(json_state *j, uint32_t d)
{
    if (j->learned || d == 0 || j->run.len < j->run_len)
        return;
    size_t e = j->run.len, s = e;
    while (s > 0 && j->run.p[s - 1] != '\n')
        s--;
    while (s < e && j->run.p[s] == '\r')
        s++;
    size_t n = e - s;
    if (n % d != 0 || n / d > INDENT_UNIT_MAX)
        return;
    for (size_t k = s; k < e; k++)
        if (j->run.p[k] != j->run.p[s])
            return;
    if (n && j->run.p[s] != ' ' && j->run.p[s] != '\t')
        return;
    j->learned = true;
    j->unit_char = n ? j->run.p[s] : ' ';
    j->unit_len = (uint32_t)(n / d);
}

/* Decides the held run before byte c (or at the end of input when c < 0)
 * and emits it, repaired or as it was. */
static void run_end(repfix_ctx *ctx, json_state *j, int c)
{
    j->in_run = false;
    if (j->run_raw)
        return; /* already passed through */
    bool at_end = c < 0;
    uint32_t d = at_end ? j->depth : depth_for(j, c);
    uint32_t dcap = d < JSON_MAX_DEPTH ? d : JSON_MAX_DEPTH;
    uint64_t unit = j->learned ? j->unit_len : 2;
    uint64_t expected = (uint64_t)dcap * unit;
    repfix_kind kind = REPFIX_K_COUNT;
    if (j->nl >= WS_NL_MIN)
        kind = REPFIX_K_NEWLINE_RUN;
    else if (j->run.len < j->run_len || (j->nl == 0 && j->seg >= WS_RUN_MIN) ||
             (j->nl > 0 && (j->first_seg >= WS_RUN_MIN || j->max_mid >= WS_RUN_MIN ||
                            j->seg >= expected + WS_RUN_MIN)))
        kind = REPFIX_K_WHITESPACE_RUN;
    bool keep = kind == REPFIX_K_COUNT || !kind_on(ctx, kind);
    /* A line break followed by indentation that is not itself runaway
     * shows a pretty-printed document, even when the run is a defect (the
     * typical runaway ends with the indentation of the next member). */
    if (!at_end && j->nl > 0 && j->depth > 0 &&
        (keep || (j->seg > 0 && j->seg < expected + WS_RUN_MIN))) {
        j->pretty = true;
        learn_indent(j, d);
    }
    if (keep) {
        emit(ctx, j->run.p, j->run.len, j->run_in, j->run.len);
        return;
    }
    rbuf *r = &j->rep;
    r->len = 0;
    const char *eol = j->crlf ? "\r\n" : "\n";
    size_t eol_len = j->crlf ? 2 : 1;
    bool ok = true;
    if (at_end || j->depth == 0) {
        if (at_end ? (j->depth == 0 && j->top_done && j->nl > 0) : (j->top_done && j->nl > 0))
            ok = rbuf_append(r, eol, eol_len);
        else if (!at_end && j->top_done)
            ok = rbuf_append(r, " ", 1);
    } else if (j->pretty && j->nl > 0) {
        if (!j->learned) {
            j->learned = true;
            j->unit_char = ' ';
            j->unit_len = 2;
        }
        size_t n = (size_t)dcap * j->unit_len;
        ok = rbuf_append(r, eol, eol_len) && rbuf_reserve(r, n);
        if (ok) {
            memset(r->p + r->len, j->unit_char, n);
            r->len += n;
        }
    } else if (!(j->prev_tok == '{' || j->prev_tok == '[' || c == ',' || c == ':' ||
                 c == '}' || c == ']')) {
        ok = rbuf_append(r, " ", 1);
    }
    if (!ok) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    finding_add(ctx, kind, j->run_in, j->run_in + j->run_len, ctx->a_off, ctx->a_off + r->len,
                j->run_line, 0, 0, kind == REPFIX_K_NEWLINE_RUN ? j->nl : 1, 0);
    uint64_t kept_nl = r->len && memchr(r->p, '\n', r->len); /* at most one line end */
    if (j->nl > kept_nl) /* input line numbers of later findings */
        ctx->nl_dropped += j->nl - kept_nl;
    emit(ctx, r->p, r->len, j->run_in, j->run_len);
}

/* ---- strings ------------------------------------------------------- */

/* False when s cannot hold any defect the text detectors repair: short, no
 * backslash, no table pipe, few line breaks, no long blank run. Saves the
 * nested context for the keys-and-labels strings that fill JSON. */
static bool may_need_repair(const char *s, size_t n)
{
    if (n >= 64)
        return true;
    size_t nl = 0, ws = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '|')
            return true;
        if (c == '\n' && ++nl >= 3)
            return true;
        if (c == ' ' || c == '\t') {
            if (++ws >= 32)
                return true;
        } else {
            ws = 0;
        }
    }
    return false;
}

/* Length of sbuf that can be decoded now: not inside an escape, and not
 * right after a high surrogate that the next escape may pair with. */
static size_t decodable(const json_state *j, bool final)
{
    size_t cut = j->esc ? j->esc_start : j->sbuf.len;
    if (!final && j->hi_valid && j->hi_end == cut)
        cut = j->hi_start;
    return cut;
}

/* ---- mapping a string's repaired spans -------------------------------- */

static void collect(repfix_ctx *ctx, void *arg, const repfix_finding *f)
{
    json_state *j = arg;
    if (!rbuf_append(&j->found, f, sizeof *f))
        ctx_fail(ctx, REPFIX_E_NOMEM);
}

/* The decoding unit at raw[r] (a byte or an escape): its raw and decoded
 * lengths, exactly as json_unescape decodes it. */
static void unit_at(const char *raw, size_t n, size_t r, size_t *rl, size_t *dl)
{
    *rl = *dl = 1;
    if (raw[r] != '\\' || r + 1 >= n)
        return;
    *rl = 2;
    if (raw[r + 1] != 'u')
        return;
    long u = r + 6 <= n ? json_hex4(raw + r + 2) : -1;
    if (u < 0) {
        *rl = n - r;
        *dl = 0;
        return;
    }
    if (u >= 0xD800 && u <= 0xDBFF && r + 12 <= n && raw[r + 6] == '\\' && raw[r + 7] == 'u') {
        long lo = json_hex4(raw + r + 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *rl = 12;
            *dl = 4;
            return;
        }
    }
    *rl = 6;
    *dl = u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
}

/* Raw offset in raw[0..n) of decoded offset d, rounded down (ceil false) or
 * up to a unit boundary; *dd gets the decoded offset of that boundary. */
static size_t raw_of(json_state *j, const char *raw, size_t n, size_t d, bool ceil, size_t *dd)
{
    if (d < j->walk_d)
        j->walk_r = j->walk_d = 0;
    size_t rl = 0, dl = 0;
    while (j->walk_r < n) {
        unit_at(raw, n, j->walk_r, &rl, &dl);
        if (j->walk_d + dl > d)
            break;
        j->walk_r += rl;
        j->walk_d += dl;
    }
    if (ceil && j->walk_d < d && j->walk_r < n) {
        *dd = j->walk_d + dl;
        return j->walk_r + rl;
    }
    *dd = j->walk_d;
    return j->walk_r;
}

/* Bytes json_escape writes for s[0..n). */
static size_t esc_len(const char *s, size_t n, bool surrogates)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            k += 2;
        else if (c < 0x20)
            k += 6;
        else if (surrogates && c == 0xED && i + 2 < n && ((unsigned char)s[i + 1] & 0xE0) == 0xA0 &&
                 ((unsigned char)s[i + 2] & 0xC0) == 0x80) {
            k += 6;
            i += 2;
        } else
            k++;
    }
    return k;
}

/* One repaired span of a held string, in decoded, cleaned, raw and output
 * (body) coordinates. */
typedef struct {
    size_t ds, de, cs, ce, rs, re, bs, be;
} span;

static int cmp_found(const void *a, const void *b)
{
    const repfix_finding *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/* Merged spans of the findings in j->found (sorted copy in j->segs'
 * scratch), checked against the text invariant that bytes outside them are
 * equal in decoded and cleaned text; false when they are not (the caller
 * then treats the whole string as one span). */
static bool build_spans(repfix_ctx *ctx, json_state *j, const rbuf *dec, const rbuf *clean)
{
    size_t nf = j->found.len / sizeof(repfix_finding);
    j->segs.len = 0;
    repfix_finding *sorted = malloc(nf ? nf * sizeof *sorted : 1);
    if (!sorted) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    memcpy(sorted, j->found.p, nf * sizeof *sorted);
    qsort(sorted, nf, sizeof *sorted, cmp_found);
    span cur = {0};
    bool have = false, ok = true;
    for (size_t k = 0; k <= nf && ok; k++) {
        const repfix_finding *f = k < nf ? &sorted[k] : NULL;
        if (f && (f->end > dec->len || f->out_end > clean->len || f->start > f->end ||
                  f->out_start > f->out_end)) {
            ok = false;
            break;
        }
        if (f && have && (f->start < cur.de || f->out_start < cur.ce)) {
            if (f->end > cur.de)
                cur.de = f->end;
            if (f->out_start < cur.cs)
                cur.cs = f->out_start;
            if (f->out_end > cur.ce)
                cur.ce = f->out_end;
            continue;
        }
        if (have && !rbuf_append(&j->segs, &cur, sizeof cur)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            ok = false;
        }
        if (f) {
            cur = (span){f->start, f->end, f->out_start, f->out_end, 0, 0, 0, 0};
            have = true;
        }
    }
    free(sorted);
    /* the gaps must match. A loop's finding starts at its first copy, which
     * is kept, while its output span starts after the kept copies: the
     * kept bytes are equal on both sides and join the gap before the span
     * (else the whole string would be re-escaped, "\/" turned into "/") */
    size_t n = j->segs.len / sizeof(span), pd = 0, pc = 0;
    span *sp = (span *)(void *)j->segs.p;
    for (size_t k = 0; k < n && ok; k++) {
        if (sp[k].ds >= pd && sp[k].cs >= pc) {
            size_t gd = sp[k].ds - pd, gc = sp[k].cs - pc;
            if (gd < gc && sp[k].ds + (gc - gd) <= sp[k].de)
                sp[k].ds += gc - gd;
            else if (gc < gd && sp[k].cs + (gd - gc) <= sp[k].ce)
                sp[k].cs += gd - gc;
        }
        pd = sp[k].de;
        pc = sp[k].ce;
    }
    pd = pc = 0;
    for (size_t k = 0; k <= n && ok; k++) {
        size_t ds = k < n ? sp[k].ds : dec->len, cs = k < n ? sp[k].cs : clean->len;
        if (ds < pd || cs < pc || ds - pd != cs - pc || memcmp(dec->p + pd, clean->p + pc, ds - pd))
            ok = false;
        if (k < n) {
            pd = sp[k].de;
            pc = sp[k].ce;
        }
    }
    return ok;
}

/* Builds the body of a repaired held string into j->esc_out: raw bytes
 * outside the spans (so untouched text keeps its original escapes), the
 * cleaned text escaped inside them. */
static bool splice(repfix_ctx *ctx, json_state *j, size_t cut)
{
    const char *raw = j->sbuf.p;
    if (!build_spans(ctx, j, &j->dec, &j->clean)) {
        if (ctx->error)
            return false;
        span all = {0, j->dec.len, 0, j->clean.len, 0, 0, 0, 0};
        j->segs.len = 0;
        if (!rbuf_append(&j->segs, &all, sizeof all)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
    }
    size_t n = j->segs.len / sizeof(span), m = 0;
    span *sp = (span *)(void *)j->segs.p;
    j->walk_r = j->walk_d = 0;
    /* widen to whole escapes, merging spans that then overlap */
    for (size_t k = 0; k < n; k++) {
        span s = sp[k];
        size_t d;
        s.rs = raw_of(j, raw, cut, s.ds, false, &d);
        s.cs -= s.ds - d;
        s.ds = d;
        s.re = raw_of(j, raw, cut, s.de, true, &d);
        s.ce += d - s.de;
        s.de = d;
        if (m > 0 && s.ds < sp[m - 1].de) {
            if (s.de > sp[m - 1].de) {
                sp[m - 1].ce += s.de - sp[m - 1].de;
                sp[m - 1].de = s.de;
                sp[m - 1].re = s.re;
            }
            continue;
        }
        sp[m++] = s;
    }
    j->segs.len = m * sizeof(span);
    rbuf *o = &j->esc_out;
    o->len = 0;
    size_t pr = 0;
    for (size_t k = 0; k < m; k++) {
        if (!rbuf_append(o, raw + pr, sp[k].rs - pr))
            goto nomem;
        sp[k].bs = o->len;
        if (!json_escape(j->clean.p + sp[k].cs, sp[k].ce - sp[k].cs, j->str_lone, o))
            goto nomem;
        sp[k].be = o->len;
        pr = sp[k].re;
    }
    if (!rbuf_append(o, raw + pr, cut - pr))
        goto nomem;
    return true;
nomem:
    ctx_fail(ctx, REPFIX_E_NOMEM);
    return false;
}

/* Offset in the spliced body of cleaned offset c. */
static size_t body_pos(json_state *j, size_t c, size_t cut)
{
    size_t n = j->segs.len / sizeof(span);
    const span *sp = (const span *)(const void *)j->segs.p;
    size_t pd = 0, pc = 0, pr = 0, pb = 0;
    for (size_t k = 0; k < n; k++) {
        if (c < sp[k].cs)
            break;
        if (c <= sp[k].ce)
            return sp[k].bs + esc_len(j->clean.p + sp[k].cs, c - sp[k].cs, j->str_lone);
        pd = sp[k].de;
        pc = sp[k].ce;
        pr = sp[k].re;
        pb = sp[k].be;
    }
    size_t d;
    size_t r = raw_of(j, j->sbuf.p, cut, pd + (c - pc), false, &d);
    return pb + (r - pr);
}

/* Adds the collected findings of a held string with exact spans: input
 * offsets of the raw bytes, stage A offsets of the body about to be
 * emitted at a_off. */
static void add_string_findings(repfix_ctx *ctx, json_state *j, size_t cut, bool spliced)
{
    size_t nf = j->found.len / sizeof(repfix_finding);
    for (size_t k = 0; k < nf && !ctx->error; k++) {
        repfix_finding f;
        memcpy(&f, j->found.p + k * sizeof f, sizeof f);
        size_t d, s = f.start < j->dec.len ? (size_t)f.start : j->dec.len;
        size_t e = f.end < j->dec.len ? (size_t)f.end : j->dec.len;
        size_t rs = raw_of(j, j->sbuf.p, cut, s, false, &d);
        size_t re = raw_of(j, j->sbuf.p, cut, e < s ? s : e, true, &d);
        uint64_t as, ae;
        if (spliced) {
            as = body_pos(j, f.out_start < j->clean.len ? (size_t)f.out_start : j->clean.len, cut);
            ae = body_pos(j, f.out_end < j->clean.len ? (size_t)f.out_end : j->clean.len, cut);
        } else { /* nothing changed: the body is the raw bytes */
            as = rs;
            ae = re;
        }
        f.start = j->sbuf_in + rs;
        f.end = j->sbuf_in + re;
        f.line = j->str_line;
        finding_add_copy(ctx, &f, ctx->a_off + as, ctx->a_off + (ae < as ? as : ae));
    }
    j->found.len = 0;
}

/* Streamed string: maps a decoded (or cleaned) offset through the ring of
 * piece starts; exact at piece starts, approximate inside older pieces. */
static uint64_t ck_map(const uint64_t *from, const uint64_t *to, unsigned n, uint64_t x,
                       uint64_t limit)
{
    unsigned first = n > 16 ? n - 16 : 0;
    for (unsigned k = n; k > first; k--) {
        unsigned i = (k - 1) % 16;
        if (from[i] <= x) {
            uint64_t v = to[i] + (x - from[i]);
            if (k < n && v > to[k % 16])
                v = to[k % 16];
            return v < limit ? v : limit;
        }
    }
    return n ? to[first % 16] : limit;
}

/* Escapes the nested output in j->clean and emits it for input [in, in+len),
 * adding the collected findings first (streamed strings). */
static void emit_clean(repfix_ctx *ctx, json_state *j, uint64_t in, uint64_t len)
{
    j->esc_out.len = 0;
    if (!json_escape(j->clean.p, j->clean.len, j->str_lone, &j->esc_out)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    size_t nf = j->found.len / sizeof(repfix_finding);
    for (size_t k = 0; k < nf; k++) {
        repfix_finding f;
        memcpy(&f, j->found.p + k * sizeof f, sizeof f);
        uint64_t a[2], o[2] = {f.out_start, f.out_end};
        for (int e = 0; e < 2; e++) {
            if (o[e] >= j->clean_total)
                a[e] = ctx->a_off + esc_len(j->clean.p, (size_t)(o[e] - j->clean_total < j->clean.len
                                                                    ? o[e] - j->clean_total
                                                                    : j->clean.len),
                                             j->str_lone);
            else
                a[e] = ck_map(j->ck_clean, j->ck_a, j->ck_n, o[e], ctx->a_off);
        }
        f.start = ck_map(j->ck_dec, j->ck_in, j->ck_n, f.start, in + len);
        f.end = ck_map(j->ck_dec, j->ck_in, j->ck_n, f.end, in + len);
        if (f.end < f.start)
            f.end = f.start;
        f.line = j->str_line;
        finding_add_copy(ctx, &f, a[0], a[1] < a[0] ? a[0] : a[1]);
    }
    j->found.len = 0;
    emit(ctx, j->esc_out.p, j->esc_out.len, in, len);
    j->clean_total += j->clean.len;
    j->clean.len = 0;
}

/* Streaming: decodes, cleans and emits the first `cut` bytes of sbuf. */
static void stream_piece(repfix_ctx *ctx, json_state *j, size_t cut, bool end)
{
    j->dec.len = 0;
    if (!json_unescape(j->sbuf.p, cut, &j->dec, &j->str_lone)) {
        ctx_fail(ctx, REPFIX_E_NOMEM); /* validated while lexing: only memory */
        return;
    }
    unsigned i = j->ck_n % 16;
    j->ck_dec[i] = j->dec_total;
    j->ck_in[i] = j->sbuf_in;
    j->ck_clean[i] = j->clean_total;
    j->ck_a[i] = ctx->a_off;
    j->ck_n++;
    j->dec_total += j->dec.len;
    j->clean.len = 0;
    if (!text_stream_feed_cb(ctx, j->dec.p, j->dec.len, end, &j->clean, j->path, collect, j))
        return;
    emit_clean(ctx, j, j->sbuf_in, cut);
    memmove(j->sbuf.p, j->sbuf.p + cut, j->sbuf.len - cut);
    j->sbuf.len -= cut;
    j->sbuf_in += cut;
    j->esc_start -= j->esc ? cut : 0;
    if (j->hi_valid && j->hi_start >= cut) {
        j->hi_start -= cut;
        j->hi_end -= cut;
    } else {
        j->hi_valid = false;
    }
}

/* sbuf reached its bound: start (or continue) cleaning in pieces. */
static void string_overflow(repfix_ctx *ctx, json_state *j)
{
    if (!j->streaming) {
        build_path(j);
        if (!text_stream_begin(ctx))
            return;
        j->streaming = true;
        j->ck_n = 0;
        j->dec_total = j->clean_total = 0;
        j->found.len = 0;
    }
    stream_piece(ctx, j, decodable(j, false), false);
}

enum { STR_CLOSED, STR_TRUNCATED, STR_INVALID };

/* The string value ends: at its closing quote, at the end of input
 * (truncated) or at an invalid byte. Emits its body, repaired where needed;
 * an unfinished escape at the end stays raw, and so does a held string
 * that turned out invalid. */
static void string_finish(repfix_ctx *ctx, json_state *j, int how)
{
    size_t cut = how == STR_CLOSED ? j->sbuf.len : decodable(j, true);
    if (how == STR_INVALID && !j->streaming)
        cut = 0;
    if (j->streaming) {
        stream_piece(ctx, j, cut, true);
        j->streaming = false;
    } else if (cut > 0) {
        j->dec.len = 0;
        if (!json_unescape(j->sbuf.p, cut, &j->dec, &j->str_lone)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return;
        }
        bool same = true;
        j->found.len = 0;
        if (may_need_repair(j->dec.p, j->dec.len)) {
            j->clean.len = 0;
            if (!text_stream_begin(ctx) ||
                !text_stream_feed_cb(ctx, j->dec.p, j->dec.len, true, &j->clean, build_path(j),
                                     collect, j))
                return;
            same = j->clean.len == j->dec.len && memcmp(j->clean.p, j->dec.p, j->dec.len) == 0;
        }
        j->walk_r = j->walk_d = 0;
        if (same) {
            add_string_findings(ctx, j, cut, false);
            emit(ctx, j->sbuf.p, cut, j->sbuf_in, cut);
        } else if (splice(ctx, j, cut)) {
            add_string_findings(ctx, j, cut, true);
            emit(ctx, j->esc_out.p, j->esc_out.len, j->sbuf_in, cut);
        }
        memmove(j->sbuf.p, j->sbuf.p + cut, j->sbuf.len - cut);
        j->sbuf.len -= cut;
        j->sbuf_in += cut;
    }
    /* what is left: an unfinished escape at the end, or bytes before an
     * invalid one - raw */
    emit(ctx, j->sbuf.p, j->sbuf.len, j->sbuf_in, j->sbuf.len);
    j->sbuf.len = 0;
    j->hi_valid = false;
}

/* ---- numbers ------------------------------------------------------- */

/* Emits n copies of digit d (held digits are only counted). */
static void emit_digits(repfix_ctx *ctx, char d, uint64_t n, uint64_t in)
{
    char buf[256];
    memset(buf, d, sizeof buf);
    while (n > 0 && !ctx->error) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        emit(ctx, buf, k, in, k);
        n -= k;
        in += k;
    }
}

/* The run of held fraction digits ends, before another digit (trailing
 * false) or at the end of the fraction. A trailing run of zeros of
 * ZERO_RUN_MIN digits or more loses its extra copies (the value is the
 * same); a run of DIGIT_RUN_MIN of any digit is flagged and kept. The pass
 * region must be flushed. */
static void held_end(repfix_ctx *ctx, json_state *j, bool trailing)
{
    uint64_t n = j->held, in = j->held_in, copies = n + 1;
    j->held = 0;
    if (n == 0)
        return;
    if (trailing && j->dig == '0' && copies >= ZERO_RUN_MIN && kind_on(ctx, REPFIX_K_REPEAT)) {
        uint64_t keep = (uint64_t)ctx->keep - 1 < n ? (uint64_t)ctx->keep - 1 : n;
        /* the drop point is after the kept digits */
        finding_add(ctx, REPFIX_K_REPEAT, in + keep, in + n, ctx->a_off + keep,
                    ctx->a_off + keep, j->line, 1, copies, 1, 0);
        emit_digits(ctx, '0', keep, in);
        stage_a_emit(ctx, NULL, 0, in + keep, n - keep, BLOCK_JSON);
        return;
    }
    if (copies >= DIGIT_RUN_MIN && kind_on(ctx, REPFIX_K_REPEAT)) {
        repfix_finding f;
        memset(&f, 0, sizeof f);
        f.kind = REPFIX_K_REPEAT;
        f.action = REPFIX_ACTION_FLAGGED;
        f.start = in;
        f.end = in + n;
        f.line = j->line;
        f.period = 1;
        f.copies = copies;
        f.count = 1;
        f.record = ctx->record;
        finding_add_copy(ctx, &f, ctx->a_off, ctx->a_off + n);
    }
    emit_digits(ctx, j->dig, n, in);
}

/* ---- the lexer ------------------------------------------------------ */

static void go_invalid(repfix_ctx *ctx, json_state *j, chunk *c, size_t i)
{
    flush_pass(ctx, c, i);
    if (j->in_run) {
        j->in_run = false;
        if (!j->run_raw)
            emit(ctx, j->run.p, j->run.len, j->run_in, j->run.len);
    }
    if (j->st == S_NUMBER)
        held_end(ctx, j, false);
    if (kind_on(ctx, REPFIX_K_INVALID_JSON)) {
        repfix_finding f;
        memset(&f, 0, sizeof f);
        f.kind = REPFIX_K_INVALID_JSON;
        f.action = REPFIX_ACTION_FLAGGED;
        f.start = c->base + i;
        f.end = c->base + i + 1;
        f.line = j->line;
        f.count = 1;
        f.record = ctx->record;
        finding_add_copy(ctx, &f, ctx->a_off, ctx->a_off + 1);
    }
    j->st = S_INVALID;
    c->pass = i;
}

/* A value completed at the current depth. */
static void value_done(json_state *j)
{
    j->st = S_AFTER;
    j->prev_tok = 'v';
    if (j->depth == 0)
        j->top_done = true;
}

/*
 * Hook for toolcall.c: called when a value starts, with the container
 * stack describing where (j->stack[0..depth), keys and indices). Gemini
 * functionCall, OpenAI tool_calls[].function and Anthropic tool_use objects
 * are recognized here by their key (the last level's key) once that
 * detector exists; today it does nothing.
 */
static void value_begins(repfix_ctx *ctx, json_state *j)
{
    (void)ctx;
    (void)j;
}

/* Starts the value whose first byte is b (starts_value(b)). */
static void value_start(repfix_ctx *ctx, json_state *j, chunk *c, size_t i, char b)
{
    value_begins(ctx, j);
    switch (b) {
    case '"':
        flush_pass(ctx, c, i + 1);
        j->st = S_STRING;
        j->is_key = false;
        j->esc = 0;
        j->hi_valid = false;
        j->streaming = false;
        j->sbuf.len = 0;
        j->sbuf_in = c->base + i + 1;
        j->str_line = j->line;
        j->str_lone = false;
        return;
    case '{':
    case '[':
        if (j->depth >= JSON_MAX_DEPTH) {
            j->st = S_DEEP;
            j->deep = 1;
            j->deep_str = j->deep_esc = false;
            return;
        }
        j->stack[j->depth].type = b;
        j->stack[j->depth].key_len = 0;
        j->stack[j->depth].index = 0;
        j->depth++;
        j->st = b == '{' ? S_KEY : S_VALUE;
        j->first = true;
        j->prev_tok = b;
        return;
    case 't': j->lit = "true"; break;
    case 'f': j->lit = "false"; break;
    case 'n': j->lit = "null"; break;
    default: /* '-' or a digit */
        j->st = S_NUMBER;
        j->num = b == '-' ? N_MINUS : b == '0' ? N_ZERO : N_INT;
        j->dig = 0;
        j->held = 0;
        return;
    }
    j->st = S_LITERAL;
    j->lit_pos = 1;
}

static bool starts_value(char b)
{
    return b == '"' || b == '{' || b == '[' || b == '-' || (b >= '0' && b <= '9') ||
           b == 't' || b == 'f' || b == 'n';
}

/* True when b may come next between tokens (states S_VALUE..S_AFTER). */
static bool valid_next(const json_state *j, char b)
{
    const level *top = j->depth ? &j->stack[j->depth - 1] : NULL;
    switch (j->st) {
    case S_VALUE:
        return starts_value(b) || (b == ']' && j->first && top && top->type == '[');
    case S_KEY:
        return b == '"' || (b == '}' && j->first);
    case S_COLON:
        return b == ':';
    case S_AFTER:
        if (!top)
            return starts_value(b); /* a JSON text sequence */
        return b == ',' || b == (top->type == '{' ? '}' : ']');
    default:
        return false;
    }
}

/* Acts on b, which valid_next accepted. */
static void structural(repfix_ctx *ctx, json_state *j, chunk *c, size_t i, char b)
{
    level *top = j->depth ? &j->stack[j->depth - 1] : NULL;
    if (b == '}' || b == ']') {
        j->depth--;
        value_done(j);
    } else if (b == ',') {
        if (top->type == '[') {
            top->index++;
            j->st = S_VALUE;
        } else {
            j->st = S_KEY;
        }
        j->first = false;
        j->prev_tok = ',';
    } else if (b == ':') {
        j->st = S_VALUE;
        j->first = false;
        j->prev_tok = ':';
    } else if (b == '"' && j->st == S_KEY) {
        j->st = S_STRING;
        j->is_key = true;
        j->esc = 0;
        top->key_len = 0;
    } else {
        value_start(ctx, j, c, i, b);
    }
}

static bool is_ws(char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* One byte of a string (key or value); false when it is invalid. */
static bool string_byte(repfix_ctx *ctx, json_state *j, chunk *c, size_t i, char b)
{
    unsigned char u = (unsigned char)b;
    if (j->esc == 1) {
        if (b == 'u') {
            j->esc = 2;
            j->uval = 0;
        } else if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' ||
                   b == 'r' || b == 't') {
            j->esc = 0;
        } else {
            return false;
        }
    } else if (j->esc >= 2) {
        int h = (b >= '0' && b <= '9') ? b - '0'
                : (b >= 'a' && b <= 'f') ? b - 'a' + 10
                : (b >= 'A' && b <= 'F') ? b - 'A' + 10 : -1;
        if (h < 0)
            return false;
        j->uval = j->uval * 16 + (uint32_t)h;
        if (++j->esc == 6) {
            j->esc = 0;
            if (!j->is_key && j->uval >= 0xD800 && j->uval <= 0xDBFF) {
                j->hi_valid = true;
                j->hi_start = j->esc_start;
                j->hi_end = j->sbuf.len + 1;
            }
        }
    } else if (b == '"') {
        if (j->is_key) {
            j->st = S_COLON;
        } else {
            string_finish(ctx, j, STR_CLOSED);
            c->pass = i;
            value_done(j);
        }
        return true;
    } else if (b == '\\') {
        j->esc = 1;
        j->esc_start = j->sbuf.len;
    } else if (u < 0x20) {
        return false;
    }
    if (j->is_key) {
        level *top = &j->stack[j->depth - 1];
        if (top->key_len < KEY_MAX)
            top->key[top->key_len++] = b;
    } else {
        if (!rbuf_append(&j->sbuf, &b, 1)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return true;
        }
        if (j->sbuf.len >= (j->streaming ? STR_BLOCK : STR_HOLD))
            string_overflow(ctx, j);
    }
    return true;
}

/* Plain bytes of a string value at p[i..n): appended in bulk; returns the
 * index of the first byte that needs a look. */
static size_t string_run(repfix_ctx *ctx, json_state *j, const char *p, size_t i, size_t n)
{
    size_t limit = j->streaming ? STR_BLOCK : STR_HOLD;
    size_t room = limit - 1 - j->sbuf.len; /* leave the last byte to string_byte */
    size_t e = i, stop = n - i > room ? i + room : n;
    while (e < stop) {
        unsigned char u = (unsigned char)p[e];
        if (u == '"' || u == '\\' || u < 0x20)
            break;
        e++;
    }
    if (e > i && !rbuf_append(&j->sbuf, p + i, e - i))
        ctx_fail(ctx, REPFIX_E_NOMEM);
    return e;
}

/* A byte of a number; false when the number ends before it (b then has to
 * be handled as structure) and sets *bad when the number is malformed.
 * Fraction digits equal to the digit before them are held (counted). */
static bool number_byte(repfix_ctx *ctx, json_state *j, chunk *c, size_t i, char b, bool *bad)
{
    int s = j->num;
    if (b >= '0' && b <= '9') {
        if (s == N_ZERO) {
            *bad = true;
            return false;
        }
        if (s == N_FRAC && b == j->dig) {
            if (j->held++ == 0) {
                flush_pass(ctx, c, i);
                j->held_in = c->base + i;
            }
            c->pass = i + 1;
            return true;
        }
        if (j->held) {
            flush_pass(ctx, c, i);
            held_end(ctx, j, false);
        }
        if (s == N_DOT || s == N_FRAC) {
            j->num = N_FRAC;
            j->dig = b;
        } else if (s == N_MINUS) {
            j->num = b == '0' ? N_ZERO : N_INT;
        } else if (s == N_E || s == N_ESIGN) {
            j->num = N_EXP;
        }
        return true;
    }
    if (b == '.' && (s == N_ZERO || s == N_INT)) {
        j->num = N_DOT;
        return true;
    }
    if ((b == 'e' || b == 'E') && (s == N_ZERO || s == N_INT || s == N_FRAC)) {
        if (j->held) {
            flush_pass(ctx, c, i);
            held_end(ctx, j, true);
        }
        j->num = N_E;
        return true;
    }
    if ((b == '+' || b == '-') && s == N_E) {
        j->num = N_ESIGN;
        return true;
    }
    if (s == N_MINUS || s == N_DOT || s == N_E || s == N_ESIGN)
        *bad = true;
    return false;
}

/* Tool calls are compared on the parsed document, so a copy of it is kept
 * while it is small enough for that to be cheap; a structured-output
 * document with tool calls is a few KiB. */
#define DOC_MAX (8u << 20)

void json_feed(repfix_ctx *ctx, const char *p, size_t n)
{
    json_state *j = ctx->json;
    j->fresh = false;
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT) && !j->doc_over) {
        if (j->doc.len + n > DOC_MAX) {
            j->doc_over = true;
            rbuf_free(&j->doc);
        } else if (!rbuf_append(&j->doc, p, n)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return;
        }
    }
    chunk c = {p, ctx->in_off, 0};
    size_t i = 0;
    while (i < n && !ctx->error) {
        char b = p[i];
        switch (j->st) {
        case S_INVALID:
            i = n;
            continue;
        case S_DEEP:
            if (b == '\n')
                j->line++;
            if (j->deep_str) {
                if (j->deep_esc)
                    j->deep_esc = false;
                else if (b == '\\')
                    j->deep_esc = true;
                else if (b == '"')
                    j->deep_str = false;
            } else if (b == '"') {
                j->deep_str = true;
            } else if (b == '{' || b == '[') {
                j->deep++;
            } else if (b == '}' || b == ']') {
                if (--j->deep == 0)
                    value_done(j);
            }
            i++;
            continue;
        case S_STRING:
            if (!j->is_key && j->esc == 0) {
                size_t e = string_run(ctx, j, p, i, n);
                if (e > i) {
                    c.pass = e;
                    i = e;
                    continue;
                }
            }
            if (!string_byte(ctx, j, &c, i, b)) {
                if (!j->is_key) {
                    string_finish(ctx, j, STR_INVALID);
                    c.pass = i;
                }
                go_invalid(ctx, j, &c, i);
                continue;
            }
            if (!j->is_key && j->st == S_STRING)
                c.pass = i + 1;
            i++;
            continue;
        case S_NUMBER: {
            bool bad = false;
            if (number_byte(ctx, j, &c, i, b, &bad)) {
                i++;
                continue;
            }
            flush_pass(ctx, &c, i);
            held_end(ctx, j, true);
            if (bad) {
                go_invalid(ctx, j, &c, i);
                continue;
            }
            value_done(j);
            break; /* b is structure */
        }
        case S_LITERAL:
            if (j->lit[j->lit_pos] == '\0') {
                value_done(j);
                break;
            }
            if (b != j->lit[j->lit_pos]) {
                flush_pass(ctx, &c, i);
                go_invalid(ctx, j, &c, i);
                continue;
            }
            j->lit_pos++;
            i++;
            continue;
        default:
            break;
        }
        /* between tokens */
        if (!j->seen && j->bom < 3 && c.base + i == j->bom &&
            (unsigned char)b == (unsigned char)"\xEF\xBB\xBF"[j->bom]) {
            j->bom++;
            i++;
            continue;
        }
        j->seen = true;
        if (is_ws(b)) {
            if (b == '\n')
                j->line++;
            if (!j->in_run) {
                if (!kind_on(ctx, REPFIX_K_NEWLINE_RUN) && !kind_on(ctx, REPFIX_K_WHITESPACE_RUN)) {
                    i++;
                    continue;
                }
                flush_pass(ctx, &c, i);
                run_start(j, c.base + i);
            }
            if (j->run_raw) {
                i++;
                continue;
            }
            if (!run_byte(ctx, j, b)) {
                /* too long to hold and not repairable: goes on raw */
                emit(ctx, j->run.p, j->run.len, j->run_in, j->run.len);
                j->run_raw = true;
                c.pass = i; /* b passes through with the rest of the run */
                i++;
                continue;
            }
            c.pass = i + 1;
            i++;
            continue;
        }
        /* b must be structure or start a value: checked before the run
         * in front of it is repaired, which depends on b */
        if (!valid_next(j, b)) {
            go_invalid(ctx, j, &c, i);
            continue;
        }
        if (j->in_run)
            run_end(ctx, j, (unsigned char)b);
        structural(ctx, j, &c, i, b);
        i++;
    }
    if (!ctx->error)
        flush_pass(ctx, &c, n);
}

void json_end(repfix_ctx *ctx)
{
    json_state *j = ctx->json;
    j->fresh = false;
    switch (j->st) {
    case S_STRING:
        if (!j->is_key)
            string_finish(ctx, j, STR_TRUNCATED);
        break;
    case S_NUMBER:
        held_end(ctx, j, true);
        break;
    default:
        break;
    }
    if (j->in_run)
        run_end(ctx, j, -1);
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT) && !j->doc_over && j->doc.len && !ctx->error) {
        cJSON *root = cJSON_ParseWithLengthOpts(j->doc.p, j->doc.len, NULL, 0);
        if (root) /* a truncated or broken document has no reliable calls */
            toolcall_record(ctx, root);
        cJSON_Delete(root);
    }
}
