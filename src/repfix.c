/*
 * repfix.c - the context: lifecycle, parameters, the process loop and the
 * one-shot call.
 *
 * repfix_process moves input through the pipeline in slices of at most
 * FEED_SLICE bytes and stops taking input while output is waiting for room
 * in the caller's buffer, so memory stays bounded by the slice, the held
 * bytes (a line, a table header, a candidate loop) and the output queue,
 * whatever the input size. The same bytes and findings come out for any
 * split of the input and any output buffer size: every stage sees the input
 * as a sequence of bytes and decides only at content boundaries (line ends,
 * token ends, fixed fragment sizes), never at slice boundaries.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define FEED_SLICE (64u * 1024)

repfix_status ctx_fail(repfix_ctx *ctx, repfix_status st)
{
    if (!ctx->error)
        ctx->error = st;
    return ctx->error;
}

static void set_defaults(repfix_ctx *ctx)
{
    ctx->mode = REPFIX_MODE_FIX;
    ctx->format = REPFIX_FORMAT_TEXT;
    ctx->kinds = REPFIX_KINDS_ALL;
    ctx->keep = 1;
    ctx->stop_on_loop = false;
    ctx->unicode_padding = false;
}

repfix_ctx *repfix_ctx_new(void)
{
    repfix_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    set_defaults(ctx);
    ctx->table = table_new();
    ctx->repeat = repeat_new();
    ctx->json = json_new();
    ctx->jsonl = jsonl_new();
    ctx->toolcall = toolcall_new();
    ctx->nearloop = nearloop_new();
    if (!ctx->table || !ctx->repeat || !ctx->json || !ctx->jsonl || !ctx->toolcall ||
        !ctx->nearloop) {
        repfix_ctx_free(ctx);
        return NULL;
    }
    repfix_ctx_reset(ctx);
    return ctx;
}

void repfix_ctx_free(repfix_ctx *ctx)
{
    if (!ctx)
        return;
    table_free(ctx->table);
    repeat_free(ctx->repeat);
    json_free(ctx->json);
    jsonl_free(ctx->jsonl);
    repfix_ctx_free(ctx->nested);
    toolcall_free(ctx->toolcall);
    nearloop_free(ctx->nearloop);
    newline_free(&ctx->nl);
    rbuf_free(&ctx->line);
    rbuf_free(&ctx->edit_bytes);
    rbuf_free(&ctx->scratch);
    rbuf_free(&ctx->outq);
    free(ctx->edits);
    free(ctx->marks);
    free(ctx->findings);
    for (size_t i = 0; i < ctx->n_fields; i++)
        free(ctx->fields[i]);
    free(ctx->fields);
    free(ctx);
}

repfix_status repfix_ctx_reset(repfix_ctx *ctx)
{
    if (!ctx)
        return REPFIX_E_PARAM;
    ctx->started = ctx->ended = ctx->stopped = false;
    ctx->error = REPFIX_OK;
    ctx->in_off = 0;
    ctx->line.len = 0;
    ctx->line_in = 0;
    ctx->line_no = 1;
    ctx->cr_pending = false;
    memset(&ctx->scan, 0, sizeof ctx->scan);
    ctx->scan.prev_blank = true;
    ctx->nl.blanks = 0;
    ctx->nl.first.len = ctx->nl.rest.len = 0;
    table_reset(ctx->table);
    repeat_reset(ctx->repeat);
    json_reset(ctx->json);
    jsonl_reset(ctx->jsonl);
    toolcall_reset(ctx->toolcall);
    nearloop_reset(ctx->nearloop);
    ctx->n_edits = 0;
    ctx->edit_bytes.len = 0;
    ctx->a_off = ctx->a_final = ctx->dropped = ctx->nl_dropped = 0;
    ctx->n_marks = ctx->first_mark = 0;
    ctx->outq.len = ctx->outq_pos = 0;
    ctx->out_off = 0;
    ctx->n_findings = ctx->first_finding = ctx->first_unresolved = 0;
    ctx->record = -1;
    ctx->path[0] = '\0';
    ctx->off_base = 0;
    return REPFIX_OK;
}

repfix_status repfix_set_param(repfix_ctx *ctx, repfix_param param, int value)
{
    if (!ctx)
        return REPFIX_E_PARAM;
    if (ctx->started)
        return REPFIX_E_STATE;
    switch (param) {
    case REPFIX_P_MODE:
        if (value != REPFIX_MODE_FIX && value != REPFIX_MODE_FLAG)
            return REPFIX_E_PARAM;
        ctx->mode = (repfix_mode)value;
        return REPFIX_OK;
    case REPFIX_P_FORMAT:
        if (value < REPFIX_FORMAT_TEXT || value > REPFIX_FORMAT_JSONL)
            return REPFIX_E_PARAM;
        ctx->format = (repfix_format)value;
        return REPFIX_OK;
    case REPFIX_P_KINDS:
        if ((unsigned)value & ~REPFIX_KINDS_ALL)
            return REPFIX_E_PARAM;
        ctx->kinds = (uint32_t)value;
        return REPFIX_OK;
    case REPFIX_P_KEEP:
        if (value < 1 || value > 1000)
            return REPFIX_E_PARAM;
        ctx->keep = value;
        return REPFIX_OK;
    case REPFIX_P_STOP_ON_LOOP:
        ctx->stop_on_loop = value != 0;
        return REPFIX_OK;
    case REPFIX_P_UNICODE_PADDING:
        ctx->unicode_padding = value != 0;
        return REPFIX_OK;
    }
    return REPFIX_E_PARAM;
}

repfix_status repfix_add_field(repfix_ctx *ctx, const char *path)
{
    if (!ctx || !path || !*path || !jsonl_path_ok(path))
        return REPFIX_E_PARAM;
    if (ctx->started)
        return REPFIX_E_STATE;
    char **f = realloc(ctx->fields, (ctx->n_fields + 1) * sizeof *f);
    if (!f)
        return REPFIX_E_NOMEM;
    ctx->fields = f;
    size_t n = strlen(path);
    char *copy = malloc(n + 1);
    if (!copy)
        return REPFIX_E_NOMEM;
    memcpy(copy, path, n + 1);
    ctx->fields[ctx->n_fields++] = copy;
    return REPFIX_OK;
}

static void feed(repfix_ctx *ctx, const char *p, size_t n)
{
    switch (ctx->format) {
    case REPFIX_FORMAT_TEXT: scan_feed(ctx, p, n); break;
    case REPFIX_FORMAT_JSON: json_feed(ctx, p, n); break;
    case REPFIX_FORMAT_JSONL: jsonl_feed(ctx, p, n); break;
    }
    repeat_flush(ctx); /* whole lines out before this call returns */
}

static void finish(repfix_ctx *ctx)
{
    switch (ctx->format) {
    case REPFIX_FORMAT_TEXT: scan_end(ctx); break;
    case REPFIX_FORMAT_JSON: json_end(ctx); break;
    case REPFIX_FORMAT_JSONL: jsonl_end(ctx); break;
    }
    if (kind_on(ctx, REPFIX_K_REPEAT))
        repeat_end(ctx);
    findings_finish(ctx);
}

/* Copies queued output into the caller's buffer; true when the queue is empty. */
static bool drain(repfix_ctx *ctx, repfix_out *out)
{
    size_t avail = ctx->outq.len - ctx->outq_pos;
    size_t room = out->size - out->pos;
    size_t n = avail < room ? avail : room;
    if (n) {
        memcpy((char *)out->dst + out->pos, ctx->outq.p + ctx->outq_pos, n);
        out->pos += n;
        ctx->outq_pos += n;
        ctx->out_off += n;
    }
    if (ctx->outq_pos == ctx->outq.len) {
        ctx->outq.len = ctx->outq_pos = 0;
        return true;
    }
    return false;
}

repfix_status repfix_process(repfix_ctx *ctx, repfix_out *out, repfix_in *in,
                             repfix_directive directive)
{
    if (!ctx || !out || !in || out->pos > out->size || in->pos > in->size ||
        (!out->dst && out->size) || (!in->src && in->size))
        return REPFIX_E_PARAM;
    if (ctx->error)
        return ctx->error;
    if (ctx->ended && in->pos < in->size)
        return REPFIX_E_STATE;
    ctx->started = true;
    for (;;) {
        if (!drain(ctx, out))
            break; /* caller's buffer is full */
        if (ctx->stopped)
            return REPFIX_E_STOPPED;
        if (ctx->error)
            return ctx->error;
        if (in->pos < in->size) {
            size_t n = in->size - in->pos;
            if (n > FEED_SLICE)
                n = FEED_SLICE;
            const char *p = (const char *)in->src + in->pos;
            if (ctx->mode == REPFIX_MODE_FLAG && !rbuf_append(&ctx->outq, p, n))
                return ctx_fail(ctx, REPFIX_E_NOMEM);
            feed(ctx, p, n);
            in->pos += n;
            ctx->in_off += n;
            continue;
        }
        if (directive == REPFIX_END && !ctx->ended) {
            finish(ctx);
            ctx->ended = true;
            continue;
        }
        break;
    }
    return ctx->error;
}

size_t repfix_held(const repfix_ctx *ctx)
{
    if (!ctx)
        return 0;
    size_t queued = ctx->outq.len - ctx->outq_pos;
    if (ctx->ended || ctx->mode == REPFIX_MODE_FLAG)
        return queued;
    /* consumed input not yet made final: a line, blank lines, a table
     * header, loop candidates, all as stage A or input bytes */
    return queued + (size_t)(ctx->in_off - amap_in(ctx, ctx->a_final));
}

repfix_status repfix_fix_buffer(const void *src, size_t len, repfix_format format,
                                repfix_mode mode, char **out, size_t *out_len,
                                size_t *n_findings)
{
    if (!out || !out_len || (!src && len))
        return REPFIX_E_PARAM;
    *out = NULL;
    *out_len = 0;
    repfix_ctx *ctx = repfix_ctx_new();
    if (!ctx)
        return REPFIX_E_NOMEM;
    repfix_status st = repfix_set_param(ctx, REPFIX_P_FORMAT, (int)format);
    if (st == REPFIX_OK)
        st = repfix_set_param(ctx, REPFIX_P_MODE, (int)mode);
    size_t cap = len + len / 8 + 64, count = 0;
    char *buf = st == REPFIX_OK ? malloc(cap + 1) : NULL;
    if (st == REPFIX_OK && !buf)
        st = REPFIX_E_NOMEM;
    repfix_in in = {src, len, 0};
    repfix_out o = {buf, cap, 0};
    while (st == REPFIX_OK) {
        st = repfix_process(ctx, &o, &in, REPFIX_END);
        repfix_finding f;
        while (repfix_next_finding(ctx, &f))
            count++;
        if (st != REPFIX_OK || (ctx->ended && repfix_held(ctx) == 0))
            break;
        if (o.pos == o.size) {
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = REPFIX_E_NOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
            o.dst = buf;
            o.size = cap;
        }
    }
    repfix_ctx_free(ctx);
    if (st != REPFIX_OK) {
        free(buf);
        return st;
    }
    buf[o.pos] = '\0';
    *out = buf;
    *out_len = o.pos;
    if (n_findings)
        *n_findings = count;
    return REPFIX_OK;
}

static const char *const kind_names[] = {
#define REPFIX_X_NAME(name, value, text) [value] = text,
    REPFIX_KIND_LIST(REPFIX_X_NAME)
#undef REPFIX_X_NAME
};

const char *repfix_kind_name(repfix_kind kind)
{
    return (unsigned)kind < REPFIX_K_COUNT ? kind_names[kind] : "unknown";
}

int repfix_kind_from_name(const char *name, size_t len)
{
    for (int k = 0; k < REPFIX_K_COUNT; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0)
            return k;
    return -1;
}

const char *repfix_action_name(repfix_action action)
{
    return action == REPFIX_ACTION_FIXED ? "fixed" : "flagged";
}

const char *repfix_status_name(repfix_status status)
{
    switch (status) {
#define REPFIX_X_CASE(name, value, text)                                       \
    case name: return text;
        REPFIX_STATUS_LIST(REPFIX_X_CASE)
#undef REPFIX_X_CASE
    }
    return "unknown status";
}

const char *repfix_version(void) { return REPFIX_VERSION_STRING; }
