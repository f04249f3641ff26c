/*
 * findings.c - the queue of findings and their output offsets.
 *
 * A detector adds a finding when it decides, with stage A offsets
 * (a_start, a_end) that are not yet final: stage B may still drop bytes
 * before them. As stage B makes bytes final (out_keep / out_drop), each
 * pending position is resolved to an output offset. A finding is ready when
 * both ends are resolved and its group (one table's findings of one kind)
 * is closed; findings are popped strictly in the order they were added, so
 * the order never depends on how the input was split.
 *
 * Rule for detectors: add a finding before handing its bytes to stage A's
 * output, so its positions are never behind a_final.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Positions at (or, against the rule, behind) a_final resolve at once. */
static void resolve_now(repfix_ctx *ctx, pending_finding *pf)
{
    uint64_t out = ctx->a_final - ctx->dropped;
    if (!pf->start_set && pf->a_start <= ctx->a_final) {
        pf->f.out_start = out;
        pf->start_set = true;
    }
    if (!pf->end_set && pf->a_end <= ctx->a_final) {
        pf->f.out_end = out;
        pf->end_set = true;
    }
}

static pending_finding *open_group(repfix_ctx *ctx, repfix_kind kind, uint32_t group)
{
    for (size_t i = ctx->n_findings; i > ctx->first_finding; i--) {
        pending_finding *pf = &ctx->findings[i - 1];
        if (pf->group == group && pf->f.kind == kind)
            return pf;
    }
    return NULL;
}

void finding_add(repfix_ctx *ctx, repfix_kind kind, uint64_t in_start, uint64_t in_end,
                 uint64_t a_start, uint64_t a_end, uint64_t line, uint64_t period,
                 uint64_t copies, uint64_t count, uint32_t group)
{
    if (ctx->error)
        return;
    /* stage B scans lazily (repeat_flush): it must have seen every byte
     * stage A emitted before a finding of stage A joins the queue, as if
     * it ran after every line, so the order of findings stays the same */
    repeat_flush(ctx);
    pending_finding *pf = group ? open_group(ctx, kind, group) : NULL;
    if (pf) { /* one finding per table and kind: extend it */
        pf->f.end = ctx->off_base + in_end;
        pf->a_end = a_end;
        pf->end_set = false;
        if ((size_t)(pf - ctx->findings) < ctx->first_unresolved)
            ctx->first_unresolved = (size_t)(pf - ctx->findings);
        pf->f.count += count;
        pf->f.copies += copies;
        if (period > pf->f.period)
            pf->f.period = period;
        resolve_now(ctx, pf);
        return;
    }
    if (ctx->n_findings == ctx->cap_findings) {
        if (ctx->first_finding > 0) {
            memmove(ctx->findings, ctx->findings + ctx->first_finding,
                    (ctx->n_findings - ctx->first_finding) * sizeof *ctx->findings);
            ctx->n_findings -= ctx->first_finding;
            ctx->first_unresolved = ctx->first_unresolved > ctx->first_finding
                                        ? ctx->first_unresolved - ctx->first_finding
                                        : 0;
            ctx->first_finding = 0;
        }
        if (ctx->n_findings == ctx->cap_findings) {
            size_t cap = ctx->cap_findings ? ctx->cap_findings * 2 : 16;
            pending_finding *f = realloc(ctx->findings, cap * sizeof *f);
            if (!f) {
                ctx_fail(ctx, REPFIX_E_NOMEM);
                return;
            }
            ctx->findings = f;
            ctx->cap_findings = cap;
        }
    }
    pf = &ctx->findings[ctx->n_findings++];
    memset(pf, 0, sizeof *pf);
    pf->f.kind = kind;
    pf->f.action = ctx->mode == REPFIX_MODE_FIX ? REPFIX_ACTION_FIXED : REPFIX_ACTION_FLAGGED;
    pf->f.start = ctx->off_base + in_start;
    pf->f.end = ctx->off_base + in_end;
    pf->f.line = line;
    pf->f.period = period;
    pf->f.copies = copies;
    pf->f.count = count;
    pf->f.record = ctx->record;
    memcpy(pf->f.path, ctx->path, sizeof pf->f.path);
    pf->a_start = a_start;
    pf->a_end = a_end;
    pf->group = group;
    resolve_now(ctx, pf);
}

void finding_close_group(repfix_ctx *ctx, uint32_t group)
{
    for (size_t i = ctx->first_finding; i < ctx->n_findings; i++)
        if (ctx->findings[i].group == group)
            ctx->findings[i].group = 0;
}

/* Resolves pending positions in [a_final, a_final + n) as stage B keeps
 * (kept) or drops the next n bytes; called before a_final moves. A position
 * inside dropped bytes maps to where the drop happened. */
void findings_advance(repfix_ctx *ctx, uint64_t n, bool kept)
{
    uint64_t lo = ctx->a_final, hi = ctx->a_final + n, out = ctx->a_final - ctx->dropped;
    /* skip the resolved prefix: a queue held up behind an open finding (a
     * table, a loop) must not make every byte of output cost its length */
    if (ctx->first_unresolved < ctx->first_finding)
        ctx->first_unresolved = ctx->first_finding;
    while (ctx->first_unresolved < ctx->n_findings &&
           ctx->findings[ctx->first_unresolved].start_set &&
           ctx->findings[ctx->first_unresolved].end_set)
        ctx->first_unresolved++;
    for (size_t i = ctx->first_unresolved; i < ctx->n_findings; i++) {
        pending_finding *pf = &ctx->findings[i];
        if (!pf->start_set && pf->a_start >= lo && pf->a_start < hi) {
            pf->f.out_start = out + (kept ? pf->a_start - lo : 0);
            pf->start_set = true;
        }
        if (!pf->end_set && pf->a_end >= lo && pf->a_end < hi) {
            pf->f.out_end = out + (kept ? pf->a_end - lo : 0);
            pf->end_set = true;
        }
    }
}

void findings_finish(repfix_ctx *ctx)
{
    for (size_t i = ctx->first_finding; i < ctx->n_findings; i++) {
        pending_finding *pf = &ctx->findings[i];
        pf->a_start = pf->a_start < ctx->a_final ? pf->a_start : ctx->a_final;
        pf->a_end = pf->a_end < ctx->a_final ? pf->a_end : ctx->a_final;
        resolve_now(ctx, pf);
        pf->group = 0;
    }
}

int repfix_next_finding(repfix_ctx *ctx, repfix_finding *f)
{
    if (!ctx || ctx->first_finding >= ctx->n_findings)
        return 0;
    pending_finding *pf = &ctx->findings[ctx->first_finding];
    if (!pf->start_set || !pf->end_set || pf->group)
        return 0;
    *f = pf->f;
    if (ctx->mode == REPFIX_MODE_FLAG) { /* the output is the input */
        f->out_start = f->start;
        f->out_end = f->end;
    }
    if (++ctx->first_finding == ctx->n_findings)
        ctx->first_finding = ctx->n_findings = ctx->first_unresolved = 0;
    return 1;
}

void finding_add_copy(repfix_ctx *ctx, const repfix_finding *f, uint64_t a_start,
                      uint64_t a_end)
{
    if (ctx->error)
        return;
    /* finding_add makes the slot (and its growth) and resolves positions */
    char path[sizeof ctx->path];
    memcpy(path, ctx->path, sizeof path);
    memcpy(ctx->path, f->path, sizeof path);
    uint64_t base = ctx->off_base;
    ctx->off_base = 0;
    finding_add(ctx, f->kind, f->start, f->end, a_start, a_end, f->line, f->period,
                f->copies, f->count, 0);
    ctx->off_base = base;
    memcpy(ctx->path, path, sizeof path);
    if (ctx->error || ctx->n_findings == 0)
        return;
    pending_finding *pf = &ctx->findings[ctx->n_findings - 1];
    pf->f.action = f->action;
    pf->f.record = f->record;
}
