/*
 * nearloop.c - near-duplicate loops of lines: `repeat` for copies that
 * hold a counter and differ only in it, numbering, punctuation, spacing or
 * ASCII case ("Step 4: Verify the result." / "Step 5: Verify the result."
 * / ...).
 *
 * The loop detector of stage B (repeat.c) finds exact loops only. This one
 * sits at the front of stage A: scan_line offers it every complete line
 * first. A line is normalized (ASCII letters lowercased, each run of ASCII
 * digits one '0', other ASCII punctuation and white space dropped, other
 * bytes kept). A run is a sequence of lines periodic in the normalized form
 * with a period of 1 to NL_MAX_PERIOD lines, cut into copies of that many
 * lines from its first line; the period is the smallest one.
 * Comparing lines: one pass over a line (SSE2) applies the data rules below
 * and computes a key that depends on the normalized form only (its letters
 * and the sum of its kept bytes). Lines with different keys differ; for
 * equal keys equal contents decide, else a hash of the normalized form,
 * made once per line when first needed from the bytes kept in q. The exact
 * comparison ("differs") compares the bytes, line ends included.
 *
 * Rules (the contract's: near-duplicates are loops only when they run to
 * the end of the input or reach 32 copies; real changelogs, version lists
 * and link references are full of lines that differ only in numbers):
 *  - mid text: >= NL_MIN_MID (32) copies, and more than `keep`; in code
 *    (the run starts inside a fenced block or an HTML block, or at a line
 *    indented by a tab or 4 spaces outside a list) NL_MIN_MID_CODE (256):
 *    unrolled code (`reg[7] = read_register(dev, 7);` 40 times) is real;
 *  - at the end of input: >= NL_MIN_END_CUT (4) copies covering >= 64
 *    bytes when the last line is cut off (it has no line end and is a strict
 *    normalized prefix of the line it should repeat: the model hit its token
 *    limit), else >= NL_MIN_END (16) copies covering >= 256 bytes;
 *  - copy 2 differs from copy 1 byte for byte, and at least half of all
 *    pairs of neighbouring copies differ (exact loops are repeat.c's: a run
 *    of exact copies is never held here and passes through to stage B);
 *  - a copy has >= 8 letters and an ASCII digit (a counter: a model's
 *    near-duplicate loops count; copies that differ only in punctuation or
 *    case are left alone, so removing an exact loop before them, which
 *    brings a line with a digit closer, cannot make them a loop on a second
 *    pass: the idle path below keeps references only near a digit);
 *  - never part of a run: lines that come in pieces (paragraph lines of
 *    more than SOFT_FRAGMENT bytes, any line of more than LINE_MAX_HOLD:
 *    scan.c) and lines of more than NL_LINE_MAX bytes,
 *    lines with a '|' (table rows), lines starting with '<' (HTML), link
 *    reference and footnote definitions ("[1]: http://..."), lines starting
 *    with a date, time or number list ("2024-06-11T09:14", "14:02:12",
 *    "[2024-...", "10431,2024-..."), lines with more than half as many
 *    digits as letters (data), lines with a link ("](", "://"): release
 *    lists, changelogs and references look exactly like counter loops.
 * The block of a held line is not known until it is replayed, but when a
 * run starts every line before it has been scanned, so the block context at
 * its first line is.
 * A confirmed loop keeps its first `keep` copies; the others are dropped, and
 * at the end of input the trailing partial copy too. One `repeat` finding
 * per run: start of copy 1 to the end of the last dropped byte, period =
 * bytes of copy 1, copies, count = copies removed.
 *
 * Holding (the documented bound): copy 1 of a run is always kept, so no
 * line is held for it: every line is released at once unless it matches
 * (normalized) the released line 1..NL_MAX_PERIOD lines before it, which
 * stay here as references (while a line with a digit is among the last
 * NL_MAX_PERIOD lines; otherwise nothing is kept and the hot path is one
 * digit scan). The fast path is the common case of that: idle, nothing
 * held and no match among those references (by key first), the line is
 * kept as a reference (its bytes and summary, marked done) and
 * nearloop_line returns false, so scan_line goes on with the line itself:
 * no copy is replayed. Only a line that matches goes through the state
 * machine (front). A run is found at its copy 2, whose lines are held until
 * the copy is complete; a candidate run then holds its copies until it is
 * confirmed or breaks, at most NL_HOLD_MAX bytes (beyond that it is given
 * up and passes through while it continues); a confirmed loop streams,
 * holding only the copy being read.
 * Held lines are released by replaying them through scan_line (with
 * `replaying` set), so the block context sees every line in input order.
 * Dropped lines are never scanned: the block context after a loop is the one
 * after its kept copies, as it is when the output is read again
 * (idempotence). Lines a later stage replays (toolcall.c) come back with
 * offsets below `in_seen` and pass through.
 *
 * Chunking invariance: every decision is made at a line end from the
 * content of lines, and the last line of the input is the one without a
 * line end (scan_end), so splits of the input change nothing.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define NL_MAX_PERIOD 8u
#define NL_MIN_MID 32u
#define NL_MIN_MID_CODE 256u
#define NL_MIN_END 16u
#define NL_MIN_END_BYTES 256u
#define NL_MIN_END_CUT 4u
#define NL_MIN_END_CUT_BYTES 64u
#define NL_MIN_LETTERS 8u
#define NL_LINE_MAX (16u * 1024)
#define NL_HOLD_MAX (256u * 1024)
#define NL_GROUP_BASE 0x40000000u

typedef struct {
    size_t off;          /* bytes in q */
    size_t len, eol;
    uint64_t in_off, line;
    uint64_t key;        /* a cheap function of the normalized form */
    uint64_t nh;         /* normalized hash, once has_nh */
    uint32_t letters;
    bool digit;          /* the line has an ASCII digit */
    bool has_nh;
    bool done;           /* emitted or dropped; kept as the reference copy */
} nl_line;

enum { NL_IDLE, NL_RUN, NL_LOOP, NL_PASS };

struct nearloop_state {
    rbuf q;
    nl_line *ln;
    size_t n, cap;
    size_t first_held;   /* lines before it are done */
    bool replaying;
    uint32_t since_digit; /* lines since the last line with a digit (idle, n > 0) */
    uint64_t in_seen;
    int state;
    uint32_t p;          /* period in lines */
    size_t r0;           /* first line of the run (of copy 1), while RUN */
    size_t cursor;       /* next line the run has not seen */
    uint32_t pos;        /* lines of the copy being read */
    uint64_t copies;     /* complete copies */
    uint64_t differ;     /* neighbouring complete copies that differ exactly */
    bool cur_differs;    /* the copy being read differs from the one before */
    uint64_t kept;       /* copies emitted (confirmed loop) */
    uint64_t held_bytes; /* bytes of held run lines */
    bool code;           /* the run starts in code or an HTML block */
    size_t lim;          /* lines the state machine may look at */
    bool final;          /* the last line of the input (no line end) is held */
    bool at_end;         /* no more lines: a period still open fails */
    bool tail;           /* the last line is a cut-off copy line */
    /* the finding of a confirmed loop */
    uint32_t group, next_group;
    uint64_t period_bytes, reported;
};

nearloop_state *nearloop_new(void)
{
    return calloc(1, sizeof(nearloop_state));
}

void nearloop_free(nearloop_state *s)
{
    if (!s)
        return;
    rbuf_free(&s->q);
    free(s->ln);
    free(s);
}

void nearloop_reset(nearloop_state *s)
{
    s->q.len = 0;
    s->n = s->first_held = 0;
    s->replaying = false;
    s->in_seen = 0;
    s->state = NL_IDLE;
    s->tail = s->final = s->at_end = false;
    s->next_group = 0;
}

/* ---- line analysis -------------------------------------------------- */

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }

#define FNV_OFF 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

/* Appends the normalized form of p (see the header) to out, or hashes it
 * when out is NULL; returns the hash. out has len bytes reserved. */
static uint64_t normalize(const char *p, size_t len, rbuf *out)
{
    uint64_t h = FNV_OFF;
    bool in_num = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (is_digit(c)) {
            if (in_num)
                continue;
            in_num = true;
            c = '0';
        } else {
            in_num = false;
            if (is_alpha(c))
                c |= 0x20;
            else if (c < 0x80)
                continue;
        }
        h = (h ^ c) * FNV_PRIME;
        if (out && !rbuf_append(out, &c, 1))
            return 0;
    }
    return h;
}

/* The idle test: does the line have an ASCII digit? (Lines of 16 bytes
 * and more are read in blocks of 16, the last one overlapping.) */
static inline bool has_digit(const char *p, size_t len)
{
    size_t i = 0;
#ifdef __SSE2__
    if (len >= 16) {
        for (;; i += 16) {
            if (i + 16 > len)
                i = len - 16; /* the last block overlaps the one before */
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            __m128i t = _mm_sub_epi8(v, _mm_set1_epi8('0'));
            if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t)))
                return true;
            if (i + 16 == len)
                return false;
        }
    }
#endif
    for (; i < len; i++)
        if (is_digit((unsigned char)p[i]))
            return true;
    return false;
}

/* A '|' or a link ("](" or "://" with a byte after it) at p[k]. */
static bool pipe_or_link(const char *p, size_t len, size_t k)
{
    return p[k] == '|' || (k + 2 < len && ((p[k] == ']' && p[k + 1] == '(') ||
                                           (p[k] == ':' && p[k + 1] == '/' && p[k + 2] == '/')));
}

/* What one pass over a line counts: letters (ASCII letters and bytes
 * >= 0xC0, as the "data" and ">= 8 letters" rules count them), digits, and
 * the prefilter key. The letters and the sum of the kept non-digit bytes
 * (each OR 0x20: lowercased letters, bytes >= 0x80) are functions of the
 * normalized form, so lines with equal normalized forms have equal keys:
 * only lines with equal keys need their normalized hashes. */
typedef struct {
    uint32_t letters, digits;
    uint64_t key;
    bool counted; /* the pass ran to the end (the line is no table row or link) */
} nl_sums;

static uint64_t make_key(uint64_t letters, uint64_t sum)
{
    return sum ^ letters << 32;
}

#ifdef __SSE2__
#define SET8(c) _mm_set1_epi8((char)(c))

/* Byte counters (a lane counts at most one per block, so they are summed
 * every 255 blocks) and the sum of the kept bytes (< 2^32: lines of at most
 * NL_LINE_MAX bytes). */
typedef struct {
    __m128i lt, dg, sum;
} nl_acc;

/* Sum of the 16 byte lanes of v. */
static uint32_t lanes_sum(__m128i v)
{
    __m128i s = _mm_sad_epu8(v, _mm_setzero_si128());
    return (uint32_t)_mm_cvtsi128_si32(s) + (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(s, 8));
}

/* Bit i set when v[i] is '|', ']' or ':' (looked at one by one). */
static unsigned specials(__m128i v)
{
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, SET8('|')), _mm_cmpeq_epi8(v, SET8(']'))),
                     _mm_cmpeq_epi8(v, SET8(':'))));
}

/* Counts the lanes of v selected by keep. */
static inline void count_block(nl_acc *c, __m128i v, __m128i keep)
{
    __m128i t = _mm_sub_epi8(v, SET8('0'));
    __m128i d = _mm_cmpeq_epi8(_mm_min_epu8(t, SET8(9)), t);
    __m128i low = _mm_or_si128(v, SET8(0x20));
    __m128i u = _mm_sub_epi8(low, SET8('a'));
    __m128i a = _mm_cmpeq_epi8(_mm_min_epu8(u, SET8(25)), u);
    __m128i hi = _mm_cmplt_epi8(v, _mm_setzero_si128());
    __m128i c0 = _mm_cmpeq_epi8(_mm_max_epu8(v, SET8(0xC0)), v);
    c->lt = _mm_sub_epi8(c->lt, _mm_and_si128(_mm_or_si128(a, c0), keep));
    c->dg = _mm_sub_epi8(c->dg, _mm_and_si128(d, keep));
    c->sum = _mm_add_epi64(c->sum, _mm_sad_epu8(
        _mm_and_si128(low, _mm_and_si128(_mm_or_si128(a, hi), keep)), _mm_setzero_si128()));
}

/* Zeros then ones: the 16 bytes at tail_keep + r select the last r lanes. */
static const unsigned char tail_keep[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
#endif

/* Fills *m; true when the line has a '|' or a link (then *m is not). */
static bool count_line(const char *p, size_t len, nl_sums *m)
{
    uint32_t lt = 0, dg = 0, sum = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128(), all = SET8(0xFF);
    nl_acc c = {zero, zero, zero};
    size_t i = 0;
    for (unsigned blocks = 0; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        for (unsigned sp = specials(v); sp; sp &= sp - 1)
            if (pipe_or_link(p, len, i + (size_t)__builtin_ctz(sp)))
                return true;
        count_block(&c, v, all);
        if (++blocks == 255) {
            lt += lanes_sum(c.lt);
            dg += lanes_sum(c.dg);
            c.lt = c.dg = zero;
            blocks = 0;
        }
    }
    if (i < len) {
        /* the rest: the last 16 bytes of the line with the ones already
         * counted masked off, or a short line copied into zeros (which
         * count as nothing) */
        size_t base = len >= 16 ? len - 16 : 0;
        __m128i v, keep = all;
        if (len >= 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + base));
            keep = _mm_loadu_si128((const __m128i *)(const void *)(tail_keep + (len - i)));
        } else {
            char buf[16] = {0};
            memcpy(buf, p, len);
            v = _mm_loadu_si128((const __m128i *)(const void *)buf);
        }
        for (unsigned sp = specials(v) & (unsigned)_mm_movemask_epi8(keep); sp; sp &= sp - 1)
            if (pipe_or_link(p, len, base + (size_t)__builtin_ctz(sp)))
                return true;
        count_block(&c, v, keep);
    }
    lt += lanes_sum(c.lt);
    dg += lanes_sum(c.dg);
    sum = (uint32_t)_mm_cvtsi128_si32(c.sum) +
          (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(c.sum, 8));
#else
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)p[k];
        if (pipe_or_link(p, len, k))
            return true;
        if (is_digit(c)) {
            dg++;
        } else if (is_alpha(c) || c >= 0x80) {
            lt += c < 0x80 || c >= 0xC0;
            sum += c | 0x20;
        }
    }
#endif
    m->letters = lt;
    m->digits = dg;
    m->key = make_key(lt, sum);
    m->counted = true;
    return false;
}

/* A line that is never part of a near-duplicate run (see the header);
 * otherwise its letters and prefilter key are in *m. */
static bool data_line(const char *p, size_t len, nl_sums *m)
{
    m->counted = false;
    if (len > NL_LINE_MAX)
        return true;
    size_t i = 0;
    while (i < len && i < 4 && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < len && p[i] == '<')
        return true;
    if (i < len && p[i] == '[') {
        const char *e = memchr(p + i, ']', len - i);
        if (e && (size_t)(e - p) + 1 < len && e[1] == ':')
            return true; /* link reference or footnote definition */
    }
    size_t j = i < len && (p[i] == '[' || p[i] == '(') ? i + 1 : i;
    size_t d = j;
    while (d < len && is_digit((unsigned char)p[d]))
        d++;
    if (d > j && d + 1 < len && strchr("-:/.,_", p[d]) && is_digit((unsigned char)p[d + 1]))
        return true; /* a date, a time, a record of numbers */
    if (count_line(p, len, m))
        return true; /* a table row ('|') or a link: release lists, references */
    return m->digits * 2 > m->letters;
}

/* The normalized hash of l, computed when first needed (every line that
 * is compared still has its bytes in q). */
static uint64_t norm_hash(nearloop_state *s, nl_line *l)
{
    if (!l->has_nh) {
        l->nh = normalize(s->q.p + l->off, l->len, NULL);
        l->has_nh = true;
    }
    return l->nh;
}

/* Lines a and b (equal keys) have the same normalized form: equal
 * contents, or equal hashes. */
static bool same_norm_slow(nearloop_state *s, nl_line *a, nl_line *b)
{
    if (a->len == b->len && (a->len == 0 || memcmp(s->q.p + a->off, s->q.p + b->off, a->len) == 0))
        return true;
    return norm_hash(s, a) == norm_hash(s, b);
}

/* Lines i and j have the same normalized form. The key rules most pairs
 * out without the hash. */
static inline bool same_norm(nearloop_state *s, size_t i, size_t j)
{
    nl_line *a = &s->ln[i], *b = &s->ln[j];
    return a->key == b->key && same_norm_slow(s, a, b);
}

/* Lines i and j are equal byte for byte, line ends included. */
static bool same_bytes(const nearloop_state *s, size_t i, size_t j)
{
    const nl_line *a = &s->ln[i], *b = &s->ln[j];
    size_t n = a->len + a->eol;
    return n == b->len + b->eol && (n == 0 || memcmp(s->q.p + a->off, s->q.p + b->off, n) == 0);
}

/* ---- emission ------------------------------------------------------- */

static void replay_line(repfix_ctx *ctx, nearloop_state *s, size_t i)
{
    nl_line *l = &s->ln[i];
    if (l->done || ctx->error)
        return;
    l->done = true;
    line_view lv = {s->q.p + l->off, l->len, l->eol, l->in_off, l->line, false};
    s->replaying = true;
    scan_line(ctx, &lv);
    s->replaying = false;
}

static void drop_line(repfix_ctx *ctx, nearloop_state *s, size_t i)
{
    nl_line *l = &s->ln[i];
    if (l->done)
        return;
    l->done = true;
    ctx->nl_dropped += l->eol > 0; /* input line numbers of later findings */
    stage_a_emit(ctx, NULL, 0, l->in_off, l->len + l->eol, BLOCK_PROSE);
}

static void release_to(repfix_ctx *ctx, nearloop_state *s, size_t end)
{
    for (size_t i = s->first_held; i < end && !ctx->error; i++)
        replay_line(ctx, s, i);
    if (end > s->first_held)
        s->first_held = end;
}

static void drop_to(repfix_ctx *ctx, nearloop_state *s, size_t end)
{
    for (size_t i = s->first_held; i < end; i++)
        drop_line(ctx, s, i);
    if (end > s->first_held)
        s->first_held = end;
}

/* Forgets done lines that no longer serve as the reference copy. */
static void compact(nearloop_state *s)
{
    size_t keep_from = s->first_held;
    if (keep_from + NL_MAX_PERIOD > s->n) /* references for the next run */
        keep_from = s->n > NL_MAX_PERIOD ? s->n - NL_MAX_PERIOD : 0;
    if (s->state != NL_IDLE && s->n >= s->p && s->n - s->p < keep_from)
        keep_from = s->n - s->p;
    if (s->state == NL_RUN && s->r0 < keep_from)
        keep_from = s->r0;
    if (keep_from == 0)
        return;
    if (keep_from < s->n && keep_from < 64 && s->ln[keep_from].off < 64 * 1024)
        return; /* cheap enough to keep for now */
    size_t boff = keep_from < s->n ? s->ln[keep_from].off : s->q.len;
    memmove(s->q.p, s->q.p + boff, s->q.len - boff);
    s->q.len -= boff;
    memmove(s->ln, s->ln + keep_from, (s->n - keep_from) * sizeof *s->ln);
    s->n -= keep_from;
    for (size_t i = 0; i < s->n; i++)
        s->ln[i].off -= boff;
    s->first_held -= keep_from;
    s->cursor = s->cursor > keep_from ? s->cursor - keep_from : 0;
    s->r0 = s->r0 > keep_from ? s->r0 - keep_from : 0; /* only RUN uses it */
}

/* ---- findings ------------------------------------------------------- */

/* Adds or extends the finding of the confirmed loop; end is the input
 * offset after the last dropped byte. */
static void report(repfix_ctx *ctx, nearloop_state *s, uint64_t in_start, uint64_t line,
                   uint64_t end)
{
    uint64_t removed = s->copies > (uint64_t)ctx->keep ? s->copies - (uint64_t)ctx->keep : 0;
    /* the drop point is after the kept copies, including blank lines of
     * theirs that newline.c still holds (they go out unchanged when short) */
    uint64_t a = ctx->a_off + (ctx->nl.blanks ? ctx->nl.first.len + ctx->nl.rest.len : 0);
    if (s->reported == 0) {
        s->group = NL_GROUP_BASE + (s->next_group++ & (NL_GROUP_BASE - 1));
        finding_add(ctx, REPFIX_K_REPEAT, in_start, end, a, a, line,
                    s->period_bytes, s->copies, removed, s->group);
    } else {
        uint64_t before = s->reported - (uint64_t)ctx->keep;
        finding_add(ctx, REPFIX_K_REPEAT, 0, end, a, a, 0, s->period_bytes,
                    s->copies - s->reported, removed - before, s->group);
    }
    s->reported = s->copies;
}

static uint64_t line_end(const nl_line *l) { return l->in_off + l->len + l->eol; }

/* ---- the run -------------------------------------------------------- */

static bool near_enough(const nearloop_state *s)
{
    return s->copies >= 2 && s->differ * 2 >= s->copies - 1;
}

/* The candidate became a loop (s->copies > keep): emit the kept copies,
 * drop the other complete ones, report. */
static void confirm(repfix_ctx *ctx, nearloop_state *s)
{
    size_t kept_end = s->r0 + (size_t)ctx->keep * s->p;
    size_t copies_end = s->r0 + (size_t)s->copies * s->p;
    uint64_t in_start = s->ln[s->r0].in_off, line = s->ln[s->r0].line;
    s->period_bytes = 0;
    for (size_t i = s->r0; i < s->r0 + s->p; i++)
        s->period_bytes += s->ln[i].len + s->ln[i].eol;
    release_to(ctx, s, kept_end);
    s->reported = 0;
    report(ctx, s, in_start, line, line_end(&s->ln[copies_end - 1]));
    drop_to(ctx, s, copies_end);
    s->kept = (uint64_t)ctx->keep;
    s->state = NL_LOOP;
    if (ctx->stop_on_loop)
        ctx->stopped = true;
}

/* The run ends before line brk (a mismatch): unconfirmed complete copies
 * go out unchanged; the lines of an unfinished copy and brk go back to the
 * window. */
static void end_run(repfix_ctx *ctx, nearloop_state *s, size_t brk)
{
    if (s->state == NL_LOOP)
        finding_close_group(ctx, s->group);
    if (s->state == NL_PASS)
        s->first_held = brk;
    else if (s->state == NL_RUN)
        release_to(ctx, s, s->r0 + (size_t)s->copies * s->p);
    s->state = NL_IDLE;
}

/* Line i continues the run or ends it. */
static void run_line(repfix_ctx *ctx, nearloop_state *s, size_t i)
{
    nl_line *l = &s->ln[i];
    if (!same_norm(s, i - s->p, i)) {
        end_run(ctx, s, i);
        return;
    }
    if (!s->cur_differs && !same_bytes(s, i - s->p, i))
        s->cur_differs = true;
    if (s->state == NL_PASS) {
        replay_line(ctx, s, i);
        s->first_held = i + 1;
    } else if (s->state == NL_RUN) {
        s->held_bytes += l->len + l->eol;
    }
    if (++s->pos < s->p)
        return;
    s->pos = 0;
    s->copies++;
    s->differ += s->cur_differs;
    s->cur_differs = false;
    if (s->state == NL_RUN) {
        if (s->held_bytes > NL_HOLD_MAX) {
            release_to(ctx, s, i + 1);
            s->state = NL_PASS;
        } else if (s->copies >= (s->code ? NL_MIN_MID_CODE : NL_MIN_MID) &&
                   s->copies > (uint64_t)ctx->keep) {
            if (near_enough(s)) {
                confirm(ctx, s);
            } else {
                release_to(ctx, s, i + 1);
                s->state = NL_PASS;
            }
        }
    } else if (s->state == NL_LOOP) {
        if (s->kept < (uint64_t)ctx->keep) {
            s->kept++;
            release_to(ctx, s, i + 1);
        } else {
            report(ctx, s, 0, 0, line_end(&s->ln[i]));
            drop_to(ctx, s, i + 1);
        }
    }
}

/* The window (IDLE): decides whether the first held line starts a run.
 * Returns 1 when a candidate started, 0 when the front was released, -1
 * when it must wait for more lines. */
static int front(repfix_ctx *ctx, nearloop_state *s)
{
    size_t f = s->first_held, w = s->lim - f;
    /* Copy 1 of a run is always kept, so it is released at once and stays
     * here as the reference: a run is found at its copy 2, against the
     * released lines just before f. */
    for (uint32_t p = 1; p <= NL_MAX_PERIOD && p <= f; p++) {
        size_t pairs = w < p ? w : p;
        bool match = true, differs = false;
        uint32_t letters = 0;
        for (size_t k = 0; k < pairs && match; k++)
            match = same_norm(s, f - p + k, f + k);
        if (!match)
            continue;
        if (pairs < p) {
            if (s->at_end)
                continue;
            return -1; /* copy 2 is not complete yet */
        }
        bool digit = false;
        for (size_t k = 0; k < p; k++) {
            differs = differs || !same_bytes(s, f - p + k, f + k);
            letters += s->ln[f - p + k].letters;
            digit = digit || s->ln[f - p + k].digit;
        }
        if (!differs || letters < NL_MIN_LETTERS || !digit)
            break; /* exact copies (stage B's), no words or no counter: not here */
        s->state = NL_RUN;
        s->p = p;
        s->r0 = f - p;
        s->pos = 0;
        s->copies = 2;
        s->differ = 1;
        s->cur_differs = false;
        s->kept = 0;
        s->reported = 0;
        s->held_bytes = 0;
        /* every line before f has been scanned: the block context is known */
        const char *lp = s->q.p + s->ln[s->r0].off;
        s->code = ctx->scan.fence_char || ctx->scan.html_end ||
                  (s->ln[s->r0].len > 0 && lp[0] == '\t') ||
                  (s->ln[s->r0].len >= 4 && memcmp(lp, "    ", 4) == 0 && !ctx->scan.in_list);
        for (size_t k = f; k < f + p; k++)
            s->held_bytes += s->ln[k].len + s->ln[k].eol;
        s->cursor = f + p;
        return 1;
    }
    release_to(ctx, s, f + 1);
    return 0;
}

/* Runs the state machine over the lines not yet seen by it. */
static void process(repfix_ctx *ctx, nearloop_state *s)
{
    while (!ctx->error) {
        if (s->state == NL_IDLE) {
            if (s->first_held >= s->lim || front(ctx, s) < 0)
                return;
            continue;
        }
        if (s->cursor >= s->lim)
            return;
        run_line(ctx, s, s->cursor);
        if (s->state != NL_IDLE)
            s->cursor++;
    }
}

/* ---- entry points --------------------------------------------------- */

/* The last line l is cut off: its normalized form is a strict prefix of
 * that of ref, the line it should repeat. */
static bool cut_copy(repfix_ctx *ctx, nearloop_state *s, const nl_line *l, const nl_line *ref)
{
    rbuf *a = &ctx->scratch;
    a->len = 0;
    if (!rbuf_reserve(a, l->len + ref->len)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    normalize(s->q.p + l->off, l->len, a);
    size_t alen = a->len;
    normalize(s->q.p + ref->off, ref->len, a);
    return !ctx->error && alen < a->len - alen && memcmp(a->p, a->p + alen, alen) == 0;
}

/* Ends everything before a line that cannot be part of a run (or a
 * fragment): held lines go out unchanged, a confirmed loop ends. */
static void break_all(repfix_ctx *ctx, nearloop_state *s)
{
    if (s->state == NL_LOOP)
        finding_close_group(ctx, s->group);
    release_to(ctx, s, s->n);
    s->state = NL_IDLE;
    s->n = s->first_held = 0;
    s->q.len = 0;
}

/* Line i (IDLE, nothing held) matches none of the released lines
 * 1..NL_MAX_PERIOD lines before it: front() would release it at once, as
 * the fast path does. */
static bool no_match(nearloop_state *s, size_t i)
{
    for (size_t p = 1; p <= NL_MAX_PERIOD && p <= i; p++)
        if (same_norm(s, i - p, i))
            return false;
    return true;
}

/* nearloop_line past the hot path: the line is analysed and kept (idle:
 * nothing held; digit_later: idle with a digit among the last lines, so
 * the digit count of this line is still to be noted). */
static bool take_line(repfix_ctx *ctx, nearloop_state *s, const line_view *lv, bool idle,
                      bool digit_later)
{
    nl_sums m;
    bool data = data_line(lv->p, lv->len, &m);
    if (digit_later) {
        bool digit = m.counted ? m.digits > 0 : has_digit(lv->p, lv->len);
        s->since_digit = digit ? 0 : s->since_digit + 1;
    }
    if (data) {
        break_all(ctx, s);
        return false;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        nl_line *ln = realloc(s->ln, cap * sizeof *ln);
        if (!ln) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return true;
        }
        s->ln = ln;
        s->cap = cap;
    }
    size_t total = lv->len + lv->eol;
    if (total > 0 && total <= s->q.cap - s->q.len) {
        memcpy(s->q.p + s->q.len, lv->p, total);
        s->q.len += total;
    } else if (!rbuf_append(&s->q, lv->p, total)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return true;
    }
    s->ln[s->n] = (nl_line){s->q.len - total, lv->len, lv->eol, lv->in_off, lv->line,
                            m.key, 0, m.letters, m.digits > 0, false, false};
    if (idle && lv->eol != 0 && no_match(s, s->n)) {
        /* the fast path: released (scanned by the caller) and kept as a
         * reference, as front() would do */
        s->ln[s->n++].done = true;
        s->first_held = s->lim = s->n;
        compact(s);
        return false;
    }
    s->n++;
    if (lv->eol == 0) {
        s->final = true; /* the last line: nearloop_end decides */
        return true;
    }
    s->lim = s->n;
    process(ctx, s);
    compact(s);
    return true;
}

bool nearloop_line(repfix_ctx *ctx, const line_view *lv)
{
    nearloop_state *s = ctx->nearloop;
    if (!s || s->replaying || ctx->error || lv->in_off < s->in_seen)
        return false;
    s->in_seen = lv->in_off + lv->len + lv->eol;
    if (lv->partial || ctx->scan.in_fragment) {
        break_all(ctx, s);
        return false;
    }
    if (s->state != NL_IDLE || s->first_held < s->n)
        return take_line(ctx, s, lv, false, false);
    if (s->n > 0 && s->since_digit < NL_MAX_PERIOD)
        return take_line(ctx, s, lv, true, true); /* the count tells */
    if (!has_digit(lv->p, lv->len)) {
        s->n = s->first_held = 0;
        s->q.len = 0;
        return false; /* the hot path */
    }
    s->since_digit = 0;
    return take_line(ctx, s, lv, true, false);
}

void nearloop_end(repfix_ctx *ctx)
{
    nearloop_state *s = ctx->nearloop;
    if (!s || ctx->error)
        return;
    size_t fin = s->final ? s->n - 1 : s->n;
    s->at_end = true;
    s->lim = fin;
    process(ctx, s);
    if (s->final && (s->state == NL_RUN || s->state == NL_LOOP) && !ctx->error) {
        const nl_line *l = &s->ln[fin], *ref = &s->ln[fin - s->p];
        if (same_norm(s, fin - s->p, fin)) {
            s->lim = s->n;
            run_line(ctx, s, fin);
        } else if (cut_copy(ctx, s, l, ref)) {
            s->tail = true;
        } else {
            end_run(ctx, s, fin);
        }
    }
    if (s->state == NL_RUN || s->state == NL_LOOP) {
        uint64_t bytes = 0;
        size_t copies_end = s->r0 + (size_t)s->copies * s->p;
        if (s->state == NL_RUN)
            for (size_t i = s->r0; i < copies_end; i++)
                bytes += s->ln[i].len + s->ln[i].eol;
        bool loop = s->state == NL_LOOP;
        if (!loop && near_enough(s) && s->copies > (uint64_t)ctx->keep)
            loop = s->tail ? s->copies >= NL_MIN_END_CUT && bytes >= NL_MIN_END_CUT_BYTES
                           : s->copies >= NL_MIN_END && bytes >= NL_MIN_END_BYTES;
        if (loop) {
            if (s->state == NL_RUN)
                confirm(ctx, s);
            if (s->first_held < s->n) { /* the trailing partial copy */
                report(ctx, s, 0, 0, line_end(&s->ln[s->n - 1]));
                drop_to(ctx, s, s->n);
            }
            finding_close_group(ctx, s->group);
            if (ctx->stop_on_loop)
                ctx->stopped = true;
        }
    }
    release_to(ctx, s, s->n);
    s->state = NL_IDLE;
    s->tail = s->final = s->at_end = false;
    s->n = s->first_held = 0;
    s->q.len = 0;
}
