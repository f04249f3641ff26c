/*
 * hold.c - byte buffers, stage A's emission, the address map and the edits
 * of the current line.
 *
 * Stage A (the line stage) never writes output directly: it applies the
 * edits its detectors made to a line and hands the result to stage_a_emit,
 * which records where those bytes came from in the input (one mark per
 * piece; identical runs of clean text merge into one mark, so clean input
 * costs no marks) and passes them to stage B, the loop detector. Stage B
 * then keeps (out_keep) or drops (out_drop) every byte exactly once, in
 * order; kept bytes go to the output queue that repfix_process drains into
 * the caller's buffers.
 *
 * Invariant: a_final <= a_off, and every stage A byte below a_final has been
 * kept or dropped. Marks are kept for REPEAT_WINDOW bytes behind a_final so
 * a loop's span can be mapped back to input offsets.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Rare paths stay out of line, so the per-line path needs no stack frame. */
#ifdef __GNUC__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* How far behind a_final the address map reaches (the repeat window). */
#define AMAP_WINDOW (1u << 20)

bool rbuf_reserve(rbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return true;
    size_t want = b->len + extra;
    if (want < b->len)
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool rbuf_append(rbuf *b, const void *src, size_t n)
{
    if (n == 0)
        return true;
    if (!rbuf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return true;
}

void rbuf_free(rbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Drops marks that lie wholly more than AMAP_WINDOW behind a_final. */
static void amap_prune(repfix_ctx *ctx)
{
    uint64_t keep_from = ctx->a_final > AMAP_WINDOW ? ctx->a_final - AMAP_WINDOW : 0;
    while (ctx->first_mark + 1 < ctx->n_marks) {
        const amap_mark *m = &ctx->marks[ctx->first_mark];
        if (m->a_off + m->a_len >= keep_from)
            break;
        ctx->first_mark++;
    }
    if (ctx->first_mark > 64 && ctx->first_mark * 2 > ctx->n_marks) {
        memmove(ctx->marks, ctx->marks + ctx->first_mark,
                (ctx->n_marks - ctx->first_mark) * sizeof *ctx->marks);
        ctx->n_marks -= ctx->first_mark;
        ctx->first_mark = 0;
    }
}

/* Unchanged bytes right after an unchanged piece: the last mark grows
 * (the common case, inlined: most lines are emitted as they came). */
static inline bool amap_extend(repfix_ctx *ctx, uint64_t a_len, uint64_t in_off, uint64_t in_len)
{
    if (a_len != in_len || ctx->n_marks <= ctx->first_mark)
        return false;
    amap_mark *last = &ctx->marks[ctx->n_marks - 1];
    if (last->a_len != last->in_len || last->a_off + last->a_len != ctx->a_off ||
        last->in_off + last->in_len != in_off || last->nl_dropped != ctx->nl_dropped)
        return false;
    last->a_len += a_len;
    last->in_len += in_len;
    return true;
}

static NOINLINE bool amap_new(repfix_ctx *ctx, uint64_t a_len, uint64_t in_off, uint64_t in_len)
{
    if (ctx->n_marks == ctx->cap_marks) {
        amap_prune(ctx);
        if (ctx->n_marks == ctx->cap_marks) {
            size_t cap = ctx->cap_marks ? ctx->cap_marks * 2 : 64;
            amap_mark *m = realloc(ctx->marks, cap * sizeof *m);
            if (!m)
                return false;
            ctx->marks = m;
            ctx->cap_marks = cap;
        }
    }
    ctx->marks[ctx->n_marks++] = (amap_mark){ctx->a_off, in_off, a_len, in_len, ctx->nl_dropped};
    return true;
}

static inline bool amap_add(repfix_ctx *ctx, uint64_t a_len, uint64_t in_off, uint64_t in_len)
{
    return amap_extend(ctx, a_len, in_off, in_len) || amap_new(ctx, a_len, in_off, in_len);
}

/* The last mark with a_off <= a (the first one if none), or NULL. */
static const amap_mark *amap_find(const repfix_ctx *ctx, uint64_t a)
{
    size_t lo = ctx->first_mark, hi = ctx->n_marks;
    if (lo == hi)
        return NULL; /* nothing emitted yet */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ctx->marks[mid].a_off <= a)
            lo = mid;
        else
            hi = mid;
    }
    return &ctx->marks[lo];
}

uint64_t amap_nl_dropped(const repfix_ctx *ctx, uint64_t a)
{
    const amap_mark *m = amap_find(ctx, a);
    return m ? m->nl_dropped : ctx->nl_dropped;
}

uint64_t amap_in(const repfix_ctx *ctx, uint64_t a)
{
    const amap_mark *m = amap_find(ctx, a);
    if (!m)
        return 0;
    if (a < m->a_off)
        return m->in_off;
    uint64_t d = a - m->a_off;
    if (d >= m->a_len)
        return m->in_off + m->in_len; /* past this piece: its end */
    /* inside a rewritten piece offsets can only be approximated */
    return m->in_off + (d < m->in_len ? d : m->in_len);
}

/* Hands n stage A bytes, already in the address map, to stage B. */
static void stage_b_feed(repfix_ctx *ctx, const char *p, size_t n, block_kind block)
{
    /* JSONL records skip stage B: repeated records are data, and loops in
     * their text fields are found by the nested text context (jsonl.c) */
    if (kind_on(ctx, REPFIX_K_REPEAT) && ctx->repeat && ctx->format != REPFIX_FORMAT_JSONL)
        repeat_feed(ctx, p, n, block);
    else
        out_keep(ctx, p, n);
}

static inline void emit(repfix_ctx *ctx, const char *p, size_t n, uint64_t in_off,
                        uint64_t in_len, block_kind block)
{
    if (ctx->error)
        return;
    if ((n || in_len) && !amap_add(ctx, n, in_off, in_len)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    if (n == 0)
        return;
    ctx->a_off += n;
    stage_b_feed(ctx, p, n, block);
}

void stage_a_emit(repfix_ctx *ctx, const char *p, size_t n, uint64_t in_off,
                  uint64_t in_len, block_kind block)
{
    emit(ctx, p, n, in_off, in_len, block);
}

void out_keep(repfix_ctx *ctx, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (ctx->mode == REPFIX_MODE_FIX && !rbuf_append(&ctx->outq, p, n)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    findings_advance(ctx, n, true);
    ctx->a_final += n;
}

void out_drop(repfix_ctx *ctx, size_t n)
{
    if (n == 0)
        return;
    findings_advance(ctx, n, false);
    ctx->a_final += n;
    ctx->dropped += n;
}

bool edit_add(repfix_ctx *ctx, size_t start, size_t end, const char *rep, size_t rep_len,
              repfix_kind kind, uint32_t group)
{
    if (ctx->n_edits == ctx->cap_edits) {
        size_t cap = ctx->cap_edits ? ctx->cap_edits * 2 : 16;
        line_edit *e = realloc(ctx->edits, cap * sizeof *e);
        if (!e) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        ctx->edits = e;
        ctx->cap_edits = cap;
    }
    size_t off = ctx->edit_bytes.len;
    if (!rbuf_append(&ctx->edit_bytes, rep, rep_len)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    /* keep the list sorted: detectors run one after another on one line */
    size_t i = ctx->n_edits;
    while (i > 0 && ctx->edits[i - 1].start > start) {
        ctx->edits[i] = ctx->edits[i - 1];
        i--;
    }
    ctx->edits[i] = (line_edit){(uint32_t)start, (uint32_t)end, (uint32_t)off,
                                (uint32_t)rep_len, kind, group};
    ctx->n_edits++;
    return true;
}

bool edit_overlaps(const repfix_ctx *ctx, size_t start, size_t end)
{
    for (size_t i = 0; i < ctx->n_edits; i++)
        if (ctx->edits[i].start < end && start < ctx->edits[i].end)
            return true;
    return false;
}

/* line_emit for a line with edits. */
static NOINLINE void emit_edited(repfix_ctx *ctx, const line_view *lv, block_kind block)
{
    size_t total = lv->len + lv->eol;
    rbuf *out = &ctx->scratch;
    out->len = 0;
    size_t pos = 0;
    for (size_t i = 0; i < ctx->n_edits && !ctx->error; i++) {
        const line_edit *e = &ctx->edits[i];
        if (!rbuf_append(out, lv->p + pos, e->start - pos) ||
            !rbuf_append(out, e->rep_len ? ctx->edit_bytes.p + e->rep_off : "", e->rep_len)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            break;
        }
        uint64_t a_end = ctx->a_off + out->len;
        finding_add(ctx, e->kind, lv->in_off + e->start, lv->in_off + e->end,
                    a_end - e->rep_len, a_end, lv->line, 0, 0, 1, e->group);
        pos = e->end;
    }
    if (!rbuf_append(out, lv->p + pos, total - pos))
        ctx_fail(ctx, REPFIX_E_NOMEM);
    /* one mark per unchanged piece and per edit, so a loop that starts or
     * ends in this line maps back to exact input offsets */
    pos = 0;
    for (size_t i = 0; i <= ctx->n_edits && !ctx->error; i++) {
        const line_edit *e = i < ctx->n_edits ? &ctx->edits[i] : NULL;
        size_t same = (e ? e->start : total) - pos;
        if (same && !amap_add(ctx, same, lv->in_off + pos, same))
            ctx_fail(ctx, REPFIX_E_NOMEM);
        ctx->a_off += same;
        if (!e)
            break;
        if (!amap_add(ctx, e->rep_len, lv->in_off + e->start, e->end - e->start))
            ctx_fail(ctx, REPFIX_E_NOMEM);
        ctx->a_off += e->rep_len;
        pos = e->end;
    }
    ctx->n_edits = 0;
    ctx->edit_bytes.len = 0;
    if (!ctx->error && out->len)
        stage_b_feed(ctx, out->p, out->len, block);
}

void line_emit(repfix_ctx *ctx, const line_view *lv, block_kind block)
{
    size_t total = lv->len + lv->eol;
    if (ctx->n_edits == 0)
        emit(ctx, lv->p, total, lv->in_off, total, block); /* most lines */
    else
        emit_edited(ctx, lv, block);
}
