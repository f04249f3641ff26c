/*
 * relay.c - stage B on a second thread, for one text stream.
 *
 * With REPFIX_P_THREADS = 2 a text stream runs stage A (the line stage) on
 * the caller's thread and stage B (the loop detector, the address map, the
 * findings queue and the output queue) on a worker thread that owns a
 * context of its own (relay_b). Stage A reaches stage B only through a few
 * calls (an address-map piece, emitted bytes, a scan request, a finding, a
 * group closed, a finding amended, the stream stopped); with a relay each
 * of them is written as a record into a log instead of being called. At
 * the end of each input slice the caller posts the log and goes on with the
 * next slice while the worker replays the posted one, record by record, on
 * its context: the same calls in the same order, with the same values of
 * the stage A counters they read (a_off, nl_dropped travel with the
 * records). So the output bytes and findings are those of one thread, for
 * any split of the input; the tests compare both on every corpus.
 *
 * Ownership: between relay_post and relay_wait the worker owns its context
 * and the posted log; the caller owns everything else. repfix_process
 * waits before it drains output or returns, so outside it the worker is
 * always idle and the API reads the worker's context directly. The mutex
 * orders every handover.
 *
 * Two logs: the caller fills one while the worker replays the other, so a
 * log holds one slice (FEED_SLICE input bytes plus 56 bytes per line at
 * most): memory stays bounded. A slice posted after the one in which stage
 * B stopped (stop-on-loop) or failed is never posted: one thread would not
 * have fed it, and the caller hands its input back (in->pos).
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { R_EMIT, R_MARK, R_BYTES, R_FLUSH, R_FIND, R_COPY, R_AMEND, R_CLOSE, R_STOP };

/* Every record: a head, then `size` payload bytes (a multiple of 8). */
typedef struct {
    uint32_t tag, size;
    uint64_t nl_dropped; /* stage A's count when the call was made */
} rec_head;

typedef struct {
    uint64_t a_off, a_len, in_off, in_len;
} rec_mark;

typedef struct {
    uint32_t block, n; /* n bytes follow */
} rec_bytes;

typedef struct {
    uint64_t a_off, in_off, in_len;
    uint32_t block, n; /* n bytes follow */
} rec_emit;

typedef struct {
    uint64_t in_start, in_end, a_start, a_end, line, period, copies, count;
    uint32_t kind, group;
} rec_find;

typedef struct {
    repfix_finding f;
    uint64_t a_start, a_end;
} rec_copy;

typedef struct {
    int64_t count_delta;
    uint32_t kind, group, flag, pad;
} rec_group;

struct relay {
    repfix_ctx *b;     /* the worker's context: stage B and what follows */
    rbuf log[2];
    int fill;          /* the log stage A writes */
    bool posted;       /* log[!fill] is the worker's until it clears this */
    bool quit;
    bool stop_sent;    /* the R_STOP record is written */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
};

#define PAD8(n) (((n) + 7u) & ~(size_t)7u)

/* Appends a record of `size` payload bytes to the caller's log and returns
 * its payload, or NULL (out of memory: the error is set). */
static void *put_raw(repfix_ctx *ctx, uint32_t tag, size_t size)
{
    relay *rl = ctx->relay;
    rbuf *log = &rl->log[rl->fill];
    size_t total = sizeof(rec_head) + PAD8(size);
    if (!rbuf_reserve(log, total)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return NULL;
    }
    rec_head h = {tag, (uint32_t)PAD8(size), ctx->nl_dropped};
    char *at = log->p + log->len;
    memcpy(at, &h, sizeof h);
    log->len += total;
    return at + sizeof h;
}

static void *put(repfix_ctx *ctx, uint32_t tag, size_t size)
{
    relay *rl = ctx->relay;
    /* stage A stopped the stream (a near-duplicate loop with stop-on-loop):
     * stage B learns it before its next call, as it would have with one
     * thread */
    if (ctx->stopped && !rl->stop_sent) {
        rl->stop_sent = true;
        put_raw(ctx, R_STOP, 0);
    }
    return put_raw(ctx, tag, size);
}

void relay_emit(repfix_ctx *ctx, const char *p, size_t n, uint64_t in_off, uint64_t in_len,
                block_kind block)
{
    char *at = put(ctx, R_EMIT, sizeof(rec_emit) + n);
    if (!at)
        return;
    rec_emit r = {ctx->a_off, in_off, in_len, (uint32_t)block, (uint32_t)n};
    memcpy(at, &r, sizeof r);
    memcpy(at + sizeof r, p, n);
}

void relay_mark(repfix_ctx *ctx, uint64_t a_len, uint64_t in_off, uint64_t in_len)
{
    rec_mark *m = put(ctx, R_MARK, sizeof *m);
    if (m)
        *m = (rec_mark){ctx->a_off, a_len, in_off, in_len};
}

void relay_bytes(repfix_ctx *ctx, const char *p, size_t n, block_kind block)
{
    char *at = put(ctx, R_BYTES, sizeof(rec_bytes) + n);
    if (!at)
        return;
    rec_bytes r = {(uint32_t)block, (uint32_t)n};
    memcpy(at, &r, sizeof r);
    memcpy(at + sizeof r, p, n);
}

void relay_flush(repfix_ctx *ctx)
{
    put(ctx, R_FLUSH, 0);
}

void relay_finding(repfix_ctx *ctx, repfix_kind kind, uint64_t in_start, uint64_t in_end,
                   uint64_t a_start, uint64_t a_end, uint64_t line, uint64_t period,
                   uint64_t copies, uint64_t count, uint32_t group)
{
    rec_find *r = put(ctx, R_FIND, sizeof *r);
    if (r)
        *r = (rec_find){in_start, in_end, a_start, a_end, line, period, copies, count,
                        (uint32_t)kind, group};
}

void relay_finding_copy(repfix_ctx *ctx, const repfix_finding *f, uint64_t a_start,
                        uint64_t a_end)
{
    rec_copy *r = put(ctx, R_COPY, sizeof *r);
    if (r) {
        memset(r, 0, sizeof *r);
        r->f = *f;
        r->a_start = a_start;
        r->a_end = a_end;
    }
}

void relay_amend(repfix_ctx *ctx, repfix_kind kind, uint32_t group, bool flag,
                 int64_t count_delta)
{
    rec_group *r = put(ctx, R_AMEND, sizeof *r);
    if (r)
        *r = (rec_group){count_delta, (uint32_t)kind, group, flag, 0};
}

void relay_close_group(repfix_ctx *ctx, uint32_t group)
{
    rec_group *r = put(ctx, R_CLOSE, sizeof *r);
    if (r)
        *r = (rec_group){0, 0, group, 0, 0};
}

/* The worker: the calls of one log, in order, on its own context. */
static void replay(repfix_ctx *b, const rbuf *log)
{
    size_t pos = 0;
    while (pos < log->len) {
        rec_head h;
        memcpy(&h, log->p + pos, sizeof h);
        const char *at = log->p + pos + sizeof h;
        pos += sizeof h + h.size;
        b->nl_dropped = h.nl_dropped;
        switch (h.tag) {
        case R_EMIT: {
            rec_emit r;
            memcpy(&r, at, sizeof r);
            b->a_off = r.a_off;
            stage_a_emit(b, at + sizeof r, r.n, r.in_off, r.in_len, (block_kind)r.block);
            break;
        }
        case R_MARK: {
            rec_mark m;
            memcpy(&m, at, sizeof m);
            b->a_off = m.a_off;
            if (!amap_record(b, m.a_len, m.in_off, m.in_len))
                ctx_fail(b, REPFIX_E_NOMEM);
            break;
        }
        case R_BYTES: {
            rec_bytes r;
            memcpy(&r, at, sizeof r);
            stage_b_feed(b, at + sizeof r, r.n, (block_kind)r.block);
            break;
        }
        case R_FLUSH:
            repeat_flush(b);
            break;
        case R_FIND: {
            rec_find r;
            memcpy(&r, at, sizeof r);
            finding_add(b, (repfix_kind)r.kind, r.in_start, r.in_end, r.a_start, r.a_end,
                        r.line, r.period, r.copies, r.count, r.group);
            break;
        }
        case R_COPY: {
            rec_copy r;
            memcpy(&r, at, sizeof r);
            finding_add_copy(b, &r.f, r.a_start, r.a_end);
            break;
        }
        case R_AMEND: {
            rec_group r;
            memcpy(&r, at, sizeof r);
            finding_amend(b, (repfix_kind)r.kind, r.group, r.flag != 0, r.count_delta);
            break;
        }
        case R_CLOSE: {
            rec_group r;
            memcpy(&r, at, sizeof r);
            finding_close_group(b, r.group);
            break;
        }
        case R_STOP:
            b->stopped = true;
            break;
        }
    }
}

static void *worker(void *arg)
{
    relay *rl = arg;
    pthread_mutex_lock(&rl->mu);
    for (;;) {
        while (!rl->posted && !rl->quit)
            pthread_cond_wait(&rl->work, &rl->mu);
        if (rl->quit)
            break;
        rbuf *log = &rl->log[!rl->fill];
        pthread_mutex_unlock(&rl->mu);
        replay(rl->b, log);
        log->len = 0;
        pthread_mutex_lock(&rl->mu);
        rl->posted = false;
        pthread_cond_signal(&rl->idle);
    }
    pthread_mutex_unlock(&rl->mu);
    return NULL;
}

relay *relay_new(const repfix_ctx *params)
{
    relay *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->b = repfix_ctx_new();
    if (!rl->b) {
        free(rl);
        return NULL;
    }
    rl->b->mode = params->mode;
    rl->b->format = params->format;
    rl->b->kinds = params->kinds;
    rl->b->keep = params->keep;
    rl->b->stop_on_loop = params->stop_on_loop;
    rl->b->unicode_padding = params->unicode_padding;
    bool mu = pthread_mutex_init(&rl->mu, NULL) == 0;
    bool work = mu && pthread_cond_init(&rl->work, NULL) == 0;
    bool idle = work && pthread_cond_init(&rl->idle, NULL) == 0;
    if (!idle || pthread_create(&rl->thread, NULL, worker, rl) != 0) {
        if (idle)
            pthread_cond_destroy(&rl->idle);
        if (work)
            pthread_cond_destroy(&rl->work);
        if (mu)
            pthread_mutex_destroy(&rl->mu);
        repfix_ctx_free(rl->b);
        free(rl);
        return NULL;
    }
    return rl;
}

void relay_free(relay *rl)
{
    if (!rl)
        return;
    pthread_mutex_lock(&rl->mu);
    rl->quit = true;
    pthread_cond_signal(&rl->work);
    pthread_mutex_unlock(&rl->mu);
    pthread_join(rl->thread, NULL);
    pthread_cond_destroy(&rl->idle);
    pthread_cond_destroy(&rl->work);
    pthread_mutex_destroy(&rl->mu);
    rbuf_free(&rl->log[0]);
    rbuf_free(&rl->log[1]);
    repfix_ctx_free(rl->b);
    free(rl);
}

repfix_ctx *relay_b(relay *rl)
{
    return rl->b;
}

void relay_wait(relay *rl)
{
    pthread_mutex_lock(&rl->mu);
    while (rl->posted)
        pthread_cond_wait(&rl->idle, &rl->mu);
    pthread_mutex_unlock(&rl->mu);
}

void relay_post(relay *rl)
{
    relay_wait(rl);
    pthread_mutex_lock(&rl->mu);
    rl->fill = !rl->fill;
    rl->posted = true;
    pthread_cond_signal(&rl->work);
    pthread_mutex_unlock(&rl->mu);
}

void relay_discard(relay *rl)
{
    rl->log[rl->fill].len = 0;
}
