/*
 * newline.c - newline-run: runs of blank (or whitespace-only) lines.
 *
 * Blank lines are held from the first one until the next non-blank line (or
 * the end of input) shows whether the run sits in prose or in code. A run of
 * NEWLINE_MIN_PROSE or more blank lines in prose, or NEWLINE_MIN_CODE or
 * more inside code (between two lines of a fenced or indented block, or
 * inside a raw HTML block), becomes one blank line: the first one, byte for
 * byte (its CR, its spaces). Such a run at the end of input is removed whole:
 * the model stopped, nothing follows. Shorter runs pass through unchanged.
 *
 * Collapsing blank lines never changes GFM rendering in prose: any number
 * of blank lines separates blocks the same way; blank lines inside code
 * render, which is why code needs a runaway-sized run. Memory: the first
 * blank line and at most NEWLINE_MIN_CODE - 1 more are kept; after that the
 * run is a defect in any context and only counted.
 */
#include "internal.h"

#include <stdlib.h>

#define NEWLINE_MIN_PROSE 3
#define NEWLINE_MIN_CODE 8

void newline_free(newline_state *nl)
{
    rbuf_free(&nl->first);
    rbuf_free(&nl->rest);
}

void newline_blank(repfix_ctx *ctx, const line_view *lv, bool in_code)
{
    newline_state *nl = &ctx->nl;
    size_t n = lv->len + lv->eol;
    if (!kind_on(ctx, REPFIX_K_NEWLINE_RUN)) {
        line_emit(ctx, lv, in_code ? BLOCK_CODE : BLOCK_PROSE);
        return;
    }
    if (nl->blanks == 0) {
        nl->first.len = nl->rest.len = 0;
        nl->first_in = lv->in_off;
        nl->first_line = lv->line;
        nl->code_before = in_code;
        if (!rbuf_append(&nl->first, lv->p, n)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return;
        }
    } else if (nl->blanks < NEWLINE_MIN_CODE && !rbuf_append(&nl->rest, lv->p, n)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    nl->blanks++;
    nl->end_in = lv->in_off + n;
}

void newline_flush(repfix_ctx *ctx, bool next_is_code, bool at_end)
{
    newline_state *nl = &ctx->nl;
    if (nl->blanks == 0)
        return;
    bool code = nl->code_before && (next_is_code || at_end);
    uint32_t min = code ? NEWLINE_MIN_CODE : NEWLINE_MIN_PROSE;
    block_kind block = code ? BLOCK_CODE : BLOCK_PROSE;
    uint64_t span = nl->end_in - nl->first_in;
    if (nl->blanks < min) {
        stage_a_emit(ctx, nl->first.p, nl->first.len, nl->first_in, nl->first.len, block);
        if (nl->rest.len) /* one blank line: the common case */
            stage_a_emit(ctx, nl->rest.p, nl->rest.len, nl->first_in + nl->first.len,
                         nl->rest.len, block);
    } else if (at_end) {
        finding_add(ctx, REPFIX_K_NEWLINE_RUN, nl->first_in, nl->end_in, ctx->a_off,
                    ctx->a_off, nl->first_line, 0, 0, nl->blanks, 0);
        ctx->nl_dropped += nl->blanks;
        stage_a_emit(ctx, NULL, 0, nl->first_in, span, block);
    } else {
        finding_add(ctx, REPFIX_K_NEWLINE_RUN, nl->first_in, nl->end_in, ctx->a_off,
                    ctx->a_off + nl->first.len, nl->first_line, 0, 0, nl->blanks, 0);
        ctx->nl_dropped += nl->blanks - 1; /* the first blank line stays */
        stage_a_emit(ctx, nl->first.p, nl->first.len, nl->first_in, span, block);
    }
    nl->blanks = 0;
    nl->first.len = nl->rest.len = 0;
}
