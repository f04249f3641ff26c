/*
 * repeat.c - stage B, the loop detector: a passage repeated back to back.
 *
 * Stage A hands over its output bytes with their block kind. Every byte is
 * kept (out_keep) or dropped (out_drop) exactly once, in order. A loop is a
 * region where b[y] == b[y - p] holds for a run of bytes, p being the
 * primitive (smallest) period; it is cut into copies of p bytes, the first
 * `keep` are kept and the rest dropped, so the text after it joins cleanly.
 *
 * Finding candidates, in one pass over a window of recent bytes:
 *  - short periods (1..SHORT_MAX bytes): at checkpoints (every CP_STEP bytes
 *    of stage A offset, and at each line end) the tail before the checkpoint
 *    is compared with itself at every lag up to SHORT_MAX (a 16-byte
 *    equality prefilter picks the few lags whose last bytes agree); a tail
 *    that matches itself over two periods starts a candidate. Probes halfway
 *    between checkpoints start candidates too, so a short run just long
 *    enough to be a loop is found wherever its offset puts it;
 *  - long periods (up to MAX_PERIOD): the text is cut at content-defined
 *    anchors (line ends, sentence and clause ends in Latin and CJK
 *    punctuation, and, in segments of WEAK_GAP bytes or more, cuts of a
 *    gear hash that depend on the last 16 bytes, with a forced cut after
 *    FORCE_GAP bytes), so equal passages give equal anchor sequences
 *    wherever they start. At each anchor the segment since the previous
 *    anchor is fingerprinted (its length and at most its last 64 bytes, a
 *    word at a time) and looked up in a 4-way table of earlier anchors
 *    (8-byte entries: it stays in L1); a hit is confirmed with byte
 *    comparisons and extended backwards. The first segment that lies
 *    wholly inside copy 2 finds copy 1, so copy 2 is still held when the
 *    loop is found. The bytes that may end a natural anchor are found 16
 *    at a time with SSE2; the gear hash runs only over the far part of
 *    long segments (prose has a line or clause end every few dozen bytes),
 *    and a reset clears only the table sets written since the last one
 *    (JSONL resets a nested context per string value).
 * The period found is reduced to the smallest divisor under which the
 * region is still periodic, so multiples and rotations give one answer.
 *
 * Tracking a candidate is a memcmp of the new bytes against the bytes one
 * period earlier. Copies are aligned to a line start when the period holds a
 * line break, else right after a sentence end, else before a space, else to
 * a code point start; the count is made from that point, so a loop of lines
 * keeps whole lines. Thresholds (is_loop): prose needs period >= 24 bytes and
 * 3 copies, or 16 copies over >= 64 bytes for 2..23 bytes, or 256 copies of
 * one code point; short lines (< 80 bytes) that start with a list marker or
 * a digit need 5 copies (changelogs repeat such a line up to 4 times), with
 * white space 8 (shortlogs: 7); code, HTML and table bytes need 16 copies
 * (short periods inside one line there: 4 KiB of them; one code point:
 * 1024) unless the loop reaches the end of the input. Never a loop: JSON
 * structure (between tokens; string contents come as prose), cells within
 * one table row (table.c handles runaway rows), and periods of more than
 * one character inside a line made only of punctuation, spaces and box
 * drawing (rules,
 * "| --- | --- |" rows, ". . ." leaders), and runs of one Markdown-structural
 * character or box-drawing character ("-" "=" "*" "_" "#" "." "|" "─"...):
 * a 300-hyphen rule is a rule, and one "-" would be a list item. Two copies
 * are never a loop.
 *
 * Latency and memory (the documented bounds): bytes are released as soon as
 * they cannot be a removable copy: in the idle state everything before the
 * last anchor and before any periodic tail of the last checkpoint, i.e. at
 * most FORCE_GAP + CP_STEP + SHORT_TAIL_CAP bytes, and nothing of a complete
 * line that does not start a periodic tail. A candidate holds its copies
 * after the kept ones while they match, at most HOLD_MAX bytes; when the
 * text diverges before the threshold they are written unchanged. A confirmed
 * loop streams: each further copy is dropped as soon as it is complete.
 * The window keeps WIN_HIST bytes behind the output point, whatever the
 * input size.
 *
 * Chunking invariance: every decision depends on stage A offsets and bytes
 * only (checkpoints at fixed offsets, anchors from content); `safe`, the
 * bound of what may be released, is computed from content alone, and
 * releases never pass it, so the kept copy is the same for any split. For
 * the same reason stage A only appends (repeat_feed) and the scan runs once
 * per feed slice (repeat_flush), and before any finding of stage A joins
 * the queue, so findings keep the order they had with a scan per line.
 * A copy count is judged with the block kinds of its own copies (loop_by),
 * never with how far the frontier got in one scan.
 *
 * Failed candidates: their held bytes were only compared, never searched,
 * so a fresh state rescans them (rescan, at most RESCAN_DEPTH deep). What
 * a rescan releases raises `safe` (later kept copies start after it), and a
 * candidate or loop it finds open at the end of its region that goes on
 * there is taken over (adopt) rather than cut at the region's end.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define WIN_HIST (64u * 1024)     /* history kept behind a_final */
#define MAX_PERIOD (20u * 1024)   /* longest period looked for */
#define SHORT_MAX 64u             /* periods found by direct comparison */
#define SHORT_TAIL_CAP 192u       /* longest periodic tail measured at a checkpoint */
#define CP_STEP 64u               /* checkpoint spacing (stage A offsets) */
/* Probes between checkpoints only start candidates: with a start every 32
 * bytes, every short-period run long enough to be a loop (is_loop: >= 61
 * bytes, >= 2p + 31 for p >= 8) is found wherever it lies; with 64, a run
 * of 64..72 bytes was found or not depending on its offset, and a second
 * pass, its offsets shifted, could remove what the first kept. */
#define PROBE_STEP 32u
#define FORCE_GAP 256u            /* forced anchor after this many bytes */
#define WEAK_GAP 48u              /* weaker anchor condition after this */
/* Gear cut conditions on bits 11..15 of the hash: they depend on the last 16
 * bytes only, so copies agree on their cuts 16 bytes after they start. */
#define WEAK_MASK (3ull << 11)
#define HOLD_MAX (256u * 1024)    /* most bytes a candidate holds */
#define RESCAN_DEPTH 2u           /* nested rescans of failed candidates */
/* No loop has fewer bytes in a region (is_loop: 3 copies of >= 24 bytes, the
 * first one's leading spaces may lie before the region; 16 x 4 bytes). */
#define MIN_LOOP_BYTES 48u
#define SETUP_AFTER 32u            /* bytes a candidate matches before setup() */
#define MIN_MATCH 12u              /* bytes a long candidate must match at once */
/* Zero bytes kept after the last byte: 16-byte loads may pass a_in. */
#define BUF_PAD 16u
/* Zero bytes before the first: a checkpoint's lag filter reads the 66
 * bytes before it, also in the first bytes of a stream or a rescan. */
#define FRONT_PAD 80u
#define TABLE_BITS 10 /* 4096 entries of 8 bytes: the table stays in L1 */
#define TABLE_WAYS 4
/* Sets written since the last reset that a reset clears one by one; past
 * that many it clears the whole table (JSONL resets a nested context for
 * every string value, most of them short). */
#define DIRTY_MAX 1024u
#define N_TRANS 256               /* block-kind transitions remembered */
/* Real changelogs hold up to 4 identical short list items or dated lines in
 * a row ("* New snapshot release"): such lines need 5 copies. Indented
 * lines, a git shortlog's subjects or a log's continuation lines, repeat
 * more ("      worktree: use 'worktree' over 'working tree'" 7 times in
 * git's own changelog): they need 8. */
#define LIST_MIN_COPIES 5
#define INDENT_MIN_COPIES 8
#define LIST_MAX_PERIOD 80

enum { ST_IDLE, ST_CAND, ST_LOOP };

typedef struct {
    uint32_t tag[TABLE_WAYS]; /* fingerprint bits */
    uint32_t pos[TABLE_WAYS]; /* positions modulo 2^32 */
} anchor_set;

typedef struct {
    uint64_t off;
    uint8_t block;
} block_trans;

struct repeat_state {
    char *buf;         /* stage A bytes [base, a_in) */
    size_t cap;
    uint64_t base, a_in;
    uint64_t pos;      /* next byte to scan (idle) */
    uint64_t safe;     /* bytes below may be released */
    uint64_t anchor;   /* last anchor */
    uint64_t pend;     /* start of a short match at the last anchor, or UINT64_MAX */
    uint64_t gh, gpos; /* gear hash of the bytes before gpos (gear_cut) */
    uint64_t nl_at, nl_n; /* nl_n '\n' bytes lie below nl_at (>= base) */
    uint64_t gear[256];
    anchor_set tab[1u << TABLE_BITS];
    uint16_t dirty[DIRTY_MAX]; /* sets written since the reset (the first DIRTY_MAX) */
    uint64_t n_dirty;          /* writes since the reset */
    block_trans trans[N_TRANS];
    size_t n_trans;
    uint8_t last_block;

    /* the candidate or confirmed loop (adopt() copies these) */
    int state;
    uint64_t p;         /* period in bytes */
    bool one_char;      /* the period is one code point */
    uint64_t a1;        /* end of the first copy: copies are [a1 + (k-1) p, a1 + k p) */
    uint64_t a_unit;    /* the unit start the copies were aligned to */
    uint64_t hs;        /* hold start: a + keep * p */
    uint64_t f;         /* frontier: [r0, f) is periodic */
    uint64_t r0, x0;    /* where the periodic region starts; where it was found */
    bool ready;         /* setup() done */
    bool quiet;         /* scanning inside a candidate: anchors only */
    uint64_t reported;  /* copies already in the finding */
    uint64_t judged;    /* copy counts up to this one were judged no loop */
    uint64_t rep_end;   /* finding end so far */
    bool has_nl;
    uint8_t line_min;   /* copies short list-like or indented lines need, or 0 */
    uint8_t depth;      /* rescan nesting: 0 for the stream's own state */
    bool symbolic;      /* a rule, leader or delimiter row: "---|", ". ", "─┼" */
    uint32_t group, next_group;
    repeat_state *spare; /* the state rescan() reuses one level down */
    repeat_state *parent; /* the state a rescan works for, or NULL */
    bool pending;        /* bytes appended since the last scan */
    bool running;        /* inside run(): findings it adds must not flush */
};

static inline unsigned char B(const repeat_state *r, uint64_t off)
{
    return (unsigned char)r->buf[off - r->base];
}

repeat_state *repeat_new(void)
{
    repeat_state *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    uint64_t s = 0x9E3779B97F4A7C15ull; /* splitmix64: fixed gear table */
    for (int i = 0; i < 256; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r->gear[i] = z ^ (z >> 31);
    }
    repeat_reset(r);
    return r;
}

void repeat_free(repeat_state *r)
{
    if (!r)
        return;
    repeat_free(r->spare);
    if (r->buf)
        free(r->buf - FRONT_PAD);
    free(r);
}

void repeat_reset(repeat_state *r)
{
    if (!r)
        return;
    r->base = r->a_in = r->pos = r->safe = r->anchor = r->gh = r->gpos = r->nl_at = r->nl_n = 0;
    r->pend = UINT64_MAX;
    if (r->n_dirty > DIRTY_MAX)
        memset(r->tab, 0, sizeof r->tab);
    else
        for (uint64_t i = 0; i < r->n_dirty; i++)
            memset(&r->tab[r->dirty[i]], 0, sizeof *r->tab);
    r->n_dirty = 0;
    r->n_trans = 0;
    r->last_block = BLOCK_PROSE;
    r->state = ST_IDLE;
    r->quiet = r->ready = r->pending = r->running = false;
    r->group = 0;
    r->next_group = 1;
}

/* ---- buffer ----------------------------------------------------------- */

static uint64_t count_nl(const repeat_state *r, uint64_t lo, uint64_t hi)
{
    const unsigned char *p = (const unsigned char *)r->buf + (lo - r->base);
    size_t n = (size_t)(hi - lo), i = 0;
    uint64_t c = 0;
#ifdef __SSE2__
    /* each match subtracts -1 from its byte lane; lanes are summed before
     * they can overflow */
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
#define NL_EQ(q) _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q)), nl)
    while (i + 16 <= n) {
        __m128i acc = zero;
        for (unsigned k = 0; k < 63 && i + 64 <= n; k++, i += 64) /* 4 a lane each */
            acc = _mm_sub_epi8(_mm_sub_epi8(acc, _mm_add_epi8(NL_EQ(p + i), NL_EQ(p + i + 16))),
                               _mm_add_epi8(NL_EQ(p + i + 32), NL_EQ(p + i + 48)));
        if (i + 64 > n)
            for (; i + 16 <= n; i += 16)
                acc = _mm_sub_epi8(acc, NL_EQ(p + i));
        __m128i sums = _mm_sad_epu8(acc, zero);
        c += (uint64_t)_mm_cvtsi128_si32(sums) + (uint64_t)_mm_extract_epi16(sums, 4);
    }
#undef NL_EQ
#endif
    for (; i < n; i++)
        c += p[i] == '\n';
    return c;
}

static bool append(repfix_ctx *ctx, const char *p, size_t n)
{
    repeat_state *r = ctx->repeat;
    size_t len = (size_t)(r->a_in - r->base);
    if (len + n > r->cap) {
        uint64_t keep_from = ctx->a_final > WIN_HIST ? ctx->a_final - WIN_HIST : 0;
        if (keep_from > r->base) {
            size_t cut = (size_t)(keep_from - r->base);
            if (r->nl_at < keep_from) {
                r->nl_n += count_nl(r, r->nl_at, keep_from);
                r->nl_at = keep_from;
            }
            memmove(r->buf, r->buf + cut, len - cut);
            r->base = keep_from;
            len -= cut;
        }
        if (len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4 * WIN_HIST;
            while (cap < len + n)
                cap *= 2;
            char *nb = realloc(r->buf ? r->buf - FRONT_PAD : NULL, FRONT_PAD + cap + BUF_PAD);
            if (!nb)
                return false;
            memset(nb, 0, FRONT_PAD);
            r->buf = nb + FRONT_PAD;
            r->cap = cap;
        }
    }
    memcpy(r->buf + len, p, n);
    memset(r->buf + len + n, 0, BUF_PAD);
    r->a_in += n;
    return true;
}

static void release(repfix_ctx *ctx, uint64_t upto)
{
    repeat_state *r = ctx->repeat;
    if (upto <= ctx->a_final)
        return;
    uint64_t from = ctx->a_final;
    out_keep(ctx, r->buf + (from - r->base), (size_t)(upto - from));
}

static void drop(repfix_ctx *ctx, uint64_t upto)
{
    if (upto <= ctx->a_final)
        return;
    out_drop(ctx, (size_t)(upto - ctx->a_final));
}

/* ---- block context ---------------------------------------------------- */

static void note_block(repeat_state *r, uint64_t off, block_kind block)
{
    if ((uint8_t)block == r->last_block)
        return;
    if (r->n_trans == N_TRANS) { /* forget the oldest: they lie far behind */
        memmove(r->trans, r->trans + N_TRANS / 2, (N_TRANS / 2) * sizeof *r->trans);
        r->n_trans = N_TRANS / 2;
    }
    r->trans[r->n_trans++] = (block_trans){off, (uint8_t)block};
    r->last_block = (uint8_t)block;
}

/* The index of the first block transition after offset lo. */
static size_t trans_after(const repeat_state *r, uint64_t lo)
{
    size_t first = 0, end = r->n_trans;
    while (first < end) {
        size_t mid = first + (end - first) / 2;
        if (r->trans[mid].off <= lo)
            first = mid + 1;
        else
            end = mid;
    }
    return first;
}

/* The block kinds of the bytes [lo, hi), as a bit set (1 << block). */
static unsigned region_blocks(const repeat_state *r, uint64_t lo, uint64_t hi)
{
    size_t first = trans_after(r, lo);
    unsigned set = 1u << (first ? r->trans[first - 1].block : BLOCK_PROSE);
    for (size_t i = first; i < r->n_trans && r->trans[i].off < hi; i++)
        set |= 1u << r->trans[i].block;
    return set;
}

/* -1: never a loop here (JSON structure: removing it would change the
 * value; cells of one table row: table.c's business); 1: strict (code,
 * HTML, tables); 0: prose. */
static int region_rule(const repeat_state *r, uint64_t lo, uint64_t hi, bool has_nl)
{
    unsigned set = region_blocks(r, lo, hi);
    if ((set & (1u << BLOCK_JSON)) || ((set & (1u << BLOCK_TABLE)) && !has_nl) || r->symbolic)
        return -1;
    return (set & ~(1u << BLOCK_PROSE)) != 0;
}

/* ---- thresholds ------------------------------------------------------- */

static bool is_loop(uint64_t c, uint64_t p, bool one_char, bool strict, bool has_nl,
                    unsigned line_min, bool at_end)
{
    if (!at_end && c < line_min)
        return false;
    if (c < 3)
        return false;
    if (one_char)
        return c >= (strict && !at_end ? 1024u : 256u);
    if (p < 24) {
        if (c < 16 || c * p < 64)
            return false;
        return !strict || has_nl || at_end || c * p >= 4096;
    }
    return !strict || at_end || c >= 16;
}

/* ---- periods and alignment ------------------------------------------- */

/* Smallest divisor q of p such that [lo, hi) (periodic with p) has period q. */
static uint64_t primitive(const repeat_state *r, uint64_t p, uint64_t lo, uint64_t hi)
{
    if (hi - lo > 2 * p)
        lo = hi - 2 * p;
    const char *b = r->buf - r->base;
    uint64_t big[64];
    size_t nb = 0;
    for (uint64_t q = 1; q * q <= p; q++) { /* small divisors ascending */
        if (p % q)
            continue;
        if (q < p && hi - lo >= 2 * q && memcmp(b + lo + q, b + lo, (size_t)(hi - lo - q)) == 0)
            return q;
        if (q * q != p && nb < 64)
            big[nb++] = p / q;
    }
    while (nb > 0) { /* large divisors ascending */
        uint64_t q = big[--nb];
        if (q < p && hi - lo >= 2 * q && memcmp(b + lo + q, b + lo, (size_t)(hi - lo - q)) == 0)
            return q;
    }
    return p;
}

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Is the byte sequence ending at period index k (exclusive) a CJK full stop,
 * exclamation or question mark (U+3002, U+FF01, U+FF1F)? */
static bool cjk_end(const unsigned char *P, uint64_t p, uint64_t k)
{
    if (p < 3)
        return false;
    unsigned char c1 = P[(k + p - 3) % p], c2 = P[(k + p - 2) % p], c3 = P[(k + p - 1) % p];
    return (c1 == 0xE3 && c2 == 0x80 && c3 == 0x82) ||
           (c1 == 0xEF && c2 == 0xBC && (c3 == 0x81 || c3 == 0x9F));
}

static bool is_hws(unsigned char c) { return c == ' ' || c == '\t'; }
static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Where copies start: the first x >= lo that starts a unit, given the
 * period window [q, q + p): a line if the period holds a line break, else a
 * sentence (after . ! ? and white space, or after a CJK full stop), else a
 * word (after white space), else a code point. For sentences and words *t
 * receives the spaces that end the period before x: copies are counted and
 * cut from x - t, so a copy carries its separator in front (" B.") and a
 * last copy that lacks its trailing space still counts. */
static uint64_t align(const repeat_state *r, uint64_t lo, uint64_t q, uint64_t p, bool *has_nl,
                      uint64_t *t)
{
    const unsigned char *P = (const unsigned char *)r->buf + (q - r->base);
    uint64_t ph0 = (lo + p * ((q / p) + 1) - q) % p; /* phase of lo */
    *has_nl = memchr(P, '\n', (size_t)p) != NULL;
    *t = 0;
    for (int level = *has_nl ? 0 : 1; level < 4; level++) {
        for (uint64_t i = 0; i < p; i++) {
            uint64_t k = (ph0 + i) % p;
            unsigned char c = P[k], prev = P[(k + p - 1) % p];
            bool ok;
            switch (level) {
            case 0: ok = prev == '\n' && c != '\n' && c != '\r'; break;
            case 1:
                if (is_hws(prev) && !is_hws(c)) {
                    uint64_t m = 1;
                    while (m < p && is_hws(P[(k + p - 1 - m) % p]))
                        m++;
                    unsigned char e = P[(k + 2 * p - 1 - m) % p];
                    ok = m < p && (e == '.' || e == '!' || e == '?');
                } else {
                    ok = cjk_end(P, p, k) && !is_hws(c);
                }
                break;
            case 2: ok = is_hws(prev) && !is_hws(c); break;
            default: ok = !is_cont(c); break;
            }
            if (!ok)
                continue;
            if (level == 1 || level == 2)
                while (*t + 1 < p && is_hws(P[(k + p - 1 - *t) % p]))
                    ++*t;
            return lo + i;
        }
    }
    return lo;
}


/* Is [lo, lo + p) at most one code point (one byte that is not 10xxxxxx)? */
static bool one_code_point(const repeat_state *r, uint64_t lo, uint64_t p)
{
    unsigned n = 0;
    for (uint64_t i = 0; i < p && n < 2; i++)
        n += !is_cont(B(r, lo + i));
    return n <= 1;
}

/* Completes a candidate once it has matched for a while (content-defined,
 * so the same for any split): primitive period, alignment, hold start. It
 * works on [r0, x0) and the `safe` of the start, which stays frozen until
 * then, so the answer does not depend on when it runs. Candidates that die
 * at once (a common phrase seen again) never pay for it. */
static void setup(repfix_ctx *ctx)
{
    repeat_state *r = ctx->repeat;
    uint64_t f = r->x0, p = primitive(r, r->p, r->r0, f);
    uint64_t keepb = (uint64_t)ctx->keep * p;
    uint64_t lo = r->r0;
    if (r->safe > keepb && r->safe - keepb > lo)
        lo = r->safe - keepb;
    uint64_t t, a = align(r, lo, f - p, p, &r->has_nl, &t);
    /* the frame starts t bytes early (before the stream start, for a loop
     * that opens the text); the kept copies never end before what is
     * already released */
    if (a + p - t + keepb - p < r->safe)
        a += p;
    r->p = p;
    r->a_unit = a;
    r->a1 = a + p - t;
    r->one_char = one_code_point(r, f - p, p);
    r->hs = r->a1 + keepb - p;
    /* One character: only a Markdown-structural one is data ("----" x 300
     * is a thematic break, one "-" would be a list item); "!!!!" is not. */
    unsigned char c0 = B(r, f - p);
    r->symbolic = !r->one_char ? !r->has_nl
                                : (c0 >= 0x80 ? c0 == 0xE2 : strchr("-=_*#~`+|:.<>/\\ \t", c0) && c0);
    /* the period window may start inside a character: the bytes before
     * byte i are taken cyclically, as the copies repeat */
    for (uint64_t i = 0; i < p && r->symbolic; i++) {
        unsigned char c = B(r, f - p + i);
        unsigned char c1 = B(r, f - p + (i + p - 1) % p), c2 = B(r, f - p + (i + p - 2) % p);
        bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        /* box drawing and block elements: U+2500..U+259F = E2 94..96 xx */
        bool box = c == 0xE2 || ((c == 0x94 || c == 0x95 || c == 0x96) && p > 1 && c1 == 0xE2) ||
                   (is_cont(c) && p > 2 && c2 == 0xE2);
        r->symbolic = !alnum && (c < 0x80 || box);
    }
    unsigned char u = B(r, a < f ? a : a - p);
    r->line_min = 0;
    if (r->has_nl && p < LIST_MAX_PERIOD) {
        if (u == ' ' || u == '\t')
            r->line_min = INDENT_MIN_COPIES;
        else if (u == '-' || u == '*' || u == '+' || (u >= '0' && u <= '9'))
            r->line_min = LIST_MIN_COPIES;
    }
    r->ready = true;
}

/* Starts tracking a candidate: [r0, f) is periodic with p. */
static void start_candidate(repfix_ctx *ctx, uint64_t p, uint64_t r0, uint64_t f)
{
    repeat_state *r = ctx->repeat;
    r->p = p;
    r->r0 = r0;
    r->x0 = r->f = f;
    r->ready = false;
    r->reported = r->judged = 0;
    r->state = ST_CAND;
}

/* ---- idle scanning ---------------------------------------------------- */

/* Index of the highest set bit of m (m != 0). */
static unsigned top_bit(uint64_t m)
{
#if defined(__GNUC__)
    return 63u - (unsigned)__builtin_clzll(m);
#else
    unsigned i = 0;
    while (m >>= 1)
        i++;
    return i;
#endif
}

/* How many bytes before `end` equal the bytes p before them, counting on
 * from t (known to match) up to lim (lim + p <= end - base): a word at a
 * time, the mismatch located in the first word that differs. */
static inline uint64_t match_back(const unsigned char *b, uint64_t end, uint64_t p,
                                  uint64_t t, uint64_t lim)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; t + 8 <= lim; t += 8) {
        uint64_t u, v;
        memcpy(&u, b + end - t - 8, 8);
        memcpy(&v, b + end - t - 8 - p, 8);
        if (u != v) /* the highest byte is the one nearest to end */
            return t + (63 - top_bit(u ^ v)) / 8;
    }
#endif
    while (t < lim && b[end - 1 - t] == b[end - 1 - t - p])
        t++;
    return t;
}

#if defined(__SSE2__) && defined(__x86_64__)
/* Words 2k and 2k + 1 of segment_hash: the 16 bytes at q, those whose lane
 * (16k..16k + 15) is n or more masked off, times their constants. */
static inline uint64_t hash_piece(const unsigned char *q, const unsigned char *lane, __m128i nv,
                                  const uint64_t *mul)
{
    __m128i keep = _mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)lane), nv);
    __m128i v = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)q), keep);
    return (uint64_t)_mm_cvtsi128_si64(v) * mul[0] +
           (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)) * mul[1];
}
#endif

/* The fingerprint of the segment [j, x): its length and its last 64 bytes
 * at most, as a sum of words times a constant per word (independent
 * multiplies, no chain), mixed once at the end. Word i holds the bytes
 * [x - n + 8i, x - n + 8i + 8) that lie before x, the others zero. */
static uint64_t segment_hash(const repeat_state *r, uint64_t j, uint64_t x)
{
    static const uint64_t mul[8] = {
        0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
        0xD6E8FEB86659FD93ull, 0xFF51AFD7ED558CCDull, 0xC4CEB9FE1A85EC53ull,
        0x94D049BB133111EBull, 0xBF58476D1CE4E5B9ull,
    };
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    uint64_t len = x - j, n = len < 64 ? len : 64, at = x - n;
    uint64_t h = len * 0x2545F4914F6CDD1Dull;
#if defined(__SSE2__) && defined(__x86_64__)
    /* Segment lengths vary from anchor to anchor: a loop over the words
     * mispredicts its exit, so all four 16-byte pieces are taken, the bytes
     * from x on masked off. A piece that starts at or after x is loaded
     * from x - 16 instead (readable: FRONT_PAD) and masked off whole; the
     * others read at most 15 bytes past x (BUF_PAD). */
    static const unsigned char lane[64] = {
        0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    };
    const __m128i nv = _mm_set1_epi8((char)n);
    h += hash_piece(0 < n ? b + at : b + x - 16, lane, nv, mul);
    h += hash_piece(16 < n ? b + at + 16 : b + x - 16, lane + 16, nv, mul + 2);
    h += hash_piece(32 < n ? b + at + 32 : b + x - 16, lane + 32, nv, mul + 4);
    h += hash_piece(48 < n ? b + at + 48 : b + x - 16, lane + 48, nv, mul + 6);
#else
    uint64_t w;
    unsigned i = 0;
    for (; n >= 8; n -= 8, at += 8, i++) {
        memcpy(&w, b + at, 8);
        h += w * mul[i];
    }
    if (n) { /* the bytes after x are readable (BUF_PAD at worst): masked off */
        memcpy(&w, b + at, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w >>= 8 * (8 - n);
#else
        w &= (1ull << (8 * n)) - 1;
#endif
        h += w * mul[i];
    }
#endif
    h ^= h >> 32;
    return h;
}

/* Long periods: the segment [anchor, x) against the last anchor with the
 * same fingerprint. Returns true when a candidate started. */
static bool anchor_at(repfix_ctx *ctx, uint64_t x)
{
    repeat_state *r = ctx->repeat;
    uint64_t j = r->anchor, len = x - j;
    uint64_t fp = segment_hash(r, j, x) * 0x9E3779B97F4A7C15ull;
    size_t si = (size_t)(fp >> (64 - TABLE_BITS));
    uint32_t tag = (uint32_t)fp | 1, x32 = (uint32_t)x;
    anchor_set *set = &r->tab[si];
    /* the way that holds tag, else the oldest one, which makes room (an
     * empty one is as old as the stream; positions are kept modulo 2^32: an
     * age is x - pos; entries too old to matter only cost a failed
     * comparison) */
    unsigned hit = 0;
#ifdef __SSE2__
    _Static_assert(TABLE_WAYS == 4, "one 16-byte compare covers a set");
    hit = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(
        _mm_loadu_si128((const __m128i *)(const void *)set->tag), _mm_set1_epi32((int)tag))));
#else
    for (unsigned w = 0; w < TABLE_WAYS; w++)
        hit |= (unsigned)(set->tag[w] == tag) << w;
#endif
    /* The oldest way, the first of equal ages, by a tournament of
     * conditional moves: ages are data, branches on them mispredict. */
    uint32_t a0 = x32 - set->pos[0], a1 = x32 - set->pos[1];
    uint32_t a2 = x32 - set->pos[2], a3 = x32 - set->pos[3];
    unsigned w01 = a1 > a0 ? 1 : 0, w23 = a3 > a2 ? 3 : 2;
    uint32_t m01 = a1 > a0 ? a1 : a0, m23 = a3 > a2 ? a3 : a2;
    unsigned later = 0u - (unsigned)(m23 > m01); /* a mask: GCC branched on "?:" */
    unsigned oldest = (w23 & later) | (w01 & ~later);
    static const uint8_t first_way[16] = {0, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0};
    unsigned way = hit ? first_way[hit] : oldest;
    uint32_t age = x32 - set->pos[way];
    bool started = false;
    uint64_t pend = UINT64_MAX;
    if (!r->quiet && hit && age > 0 && age <= MAX_PERIOD && age + len <= x - r->base) {
        const unsigned char *b = (const unsigned char *)r->buf - r->base;
        uint64_t d = age, t = match_back(b, x, d, 0, len); /* [x - t, x) matches */
        if (t == len) {
            uint64_t floor = r->base + d;
            uint64_t stop = x > 4 * (uint64_t)MAX_PERIOD ? x - 4 * (uint64_t)MAX_PERIOD : 0;
            if (stop < floor)
                stop = floor;
            if (j > stop)
                t = match_back(b, x, d, len, x - stop);
            /* a blank line or a short word seen again is no evidence yet,
             * but its bytes stay held until the next anchor tells */
            if (t >= MIN_MATCH) {
                start_candidate(ctx, d, x - t - d, x);
                started = true;
            } else {
                pend = x - t;
            }
        }
    }
    set->tag[way] = tag;
    set->pos[way] = x32;
    if (r->n_dirty < DIRTY_MAX)
        r->dirty[r->n_dirty] = (uint16_t)si;
    r->n_dirty++;
    r->anchor = x;
    r->pend = pend;
    return started;
}

/* The lags 1..64 worth comparing at checkpoint x, as bit 64 - p for lag p
 * (so ascending lags are descending bits): those where the n (1..4) bytes
 * before x recur p bytes earlier. A prefilter that only drops lags the full
 * comparison would reject (or whose tail would not count), so checkpoints
 * need not pay 64 comparisons on text that does not repeat. Reads the
 * 64 + n bytes before x (FRONT_PAD at the start of the buffer). */
static inline uint64_t lag_filter(const unsigned char *b, uint64_t x, unsigned n)
{
#ifdef __SSE2__
#define LOAD(q) _mm_loadu_si128((const __m128i *)(const void *)(q))
/* the byte splat from a 32-bit register: _mm_set1_epi8 of a char let the
 * compiler store the byte and reload it as 4 (a failed store forward) */
#define SPLAT(v) _mm_set1_epi32((int)(0x01010101u * (v)))
    const unsigned char *p = b + x - 65; /* p[i] is the byte 64 - i before x - 1 */
    __m128i c = SPLAT(b[x - 1]);
    __m128i e0 = _mm_cmpeq_epi8(LOAD(p), c), e1 = _mm_cmpeq_epi8(LOAD(p + 16), c);
    __m128i e2 = _mm_cmpeq_epi8(LOAD(p + 32), c), e3 = _mm_cmpeq_epi8(LOAD(p + 48), c);
    for (unsigned i = 1; i < n; i++) {
        c = SPLAT(b[x - 1 - i]);
        e0 = _mm_and_si128(e0, _mm_cmpeq_epi8(LOAD(p - i), c));
        e1 = _mm_and_si128(e1, _mm_cmpeq_epi8(LOAD(p + 16 - i), c));
        e2 = _mm_and_si128(e2, _mm_cmpeq_epi8(LOAD(p + 32 - i), c));
        e3 = _mm_and_si128(e3, _mm_cmpeq_epi8(LOAD(p + 48 - i), c));
    }
#undef SPLAT
#undef LOAD
    return (uint64_t)(uint16_t)_mm_movemask_epi8(e0) |
           (uint64_t)(uint16_t)_mm_movemask_epi8(e1) << 16 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(e2) << 32 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(e3) << 48;
#else
    (void)b;
    (void)x;
    (void)n;
    return UINT64_MAX;
#endif
}

/* The bits of lags 1..maxp (maxp <= 64) in lag_filter's order. */
static uint64_t lags_upto(uint64_t maxp)
{
    return maxp == 0 ? 0 : maxp == 64 ? UINT64_MAX : ~(UINT64_MAX >> maxp);
}

/* Starts a short-period candidate at x: the last t bytes before x match
 * the bytes p before them; the run is extended back beyond the cap. */
static void start_short(repfix_ctx *ctx, uint64_t x, uint64_t p, uint64_t t)
{
    repeat_state *r = ctx->repeat;
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    uint64_t y = x - t, stop = r->base + p;
    uint64_t lim = x > 4 * (uint64_t)MAX_PERIOD ? x - 4 * (uint64_t)MAX_PERIOD : 0;
    if (stop < lim)
        stop = lim;
    while (y > stop && b[y - 1] == b[y - 1 - p])
        y--;
    start_candidate(ctx, p, y - p, x);
}

/* Between checkpoints: starts the candidate a checkpoint at x would start
 * (the smallest lag p whose tail is >= p and >= 8 bytes), and nothing
 * else. Returns true when it did. */
static bool probe(repfix_ctx *ctx, uint64_t x)
{
    repeat_state *r = ctx->repeat;
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    uint64_t avail = x - r->base;
    if (avail < 9)
        return false;
    uint64_t maxp = avail - 8 < SHORT_MAX ? avail - 8 : SHORT_MAX, last, w;
    uint64_t lags = lag_filter(b, x, 2) & lags_upto(maxp);
    memcpy(&last, b + x - 8, 8);
    while (lags) {
        unsigned i = top_bit(lags);
        lags &= ~(1ull << i);
        uint64_t p = 64 - i;
        memcpy(&w, b + x - 8 - p, 8);
        if (w != last)
            continue;
        uint64_t lim = avail - p < SHORT_TAIL_CAP ? avail - p : SHORT_TAIL_CAP;
        uint64_t t = match_back(b, x, p, 8, lim);
        if (t >= p) {
            start_short(ctx, x, p, t);
            return true;
        }
    }
    return false;
}

/* Short periods at checkpoint x (a line end when exact): measures the
 * periodic tail at every lag up to SHORT_MAX, moves `safe`, and returns
 * true when a candidate started (only if may_start). */
static bool checkpoint(repfix_ctx *ctx, uint64_t x, bool may_start, bool exact)
{
    repeat_state *r = ctx->repeat;
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    uint64_t avail = x - r->base, tail = 0, best = 0, best_t = 0;
    /* At a line end every tail is measured, so a finished line goes out
     * whole; elsewhere only tails of 4 bytes or more and the last 3 bytes
     * stay held. Lags go up to avail - k: the k bytes the filter compares
     * lie in the buffer. */
    uint64_t k = exact ? 1 : 4;
    uint64_t maxp = avail <= k ? 0 : avail - k < SHORT_MAX ? avail - k : SHORT_MAX;
    _Static_assert(SHORT_MAX == 64, "lag_filter covers 64 lags");
    _Static_assert(FRONT_PAD >= SHORT_MAX + 4, "lag_filter may read before base");
    /* bit 64 - p for each lag p <= maxp still to compare */
    uint64_t lags = 0;
    if (maxp) {
        /* The filter keeps exactly the lags whose tail can matter. At a line
         * end a tail of t bytes only counts when byte x - t - 1 is a line
         * end (below): 1 byte after a blank line, 2 after a line of one
         * byte, else 3 bytes must agree. Elsewhere the 4 bytes measured. */
        unsigned n = 4;
        if (exact) { /* without branches: which one is taken is data */
            /* avail >= 2 here; byte x - 3 only counts when avail >= 4, and
             * is read at x - 2 before that (x - 3 may not exist) */
            uint64_t x3 = avail >= 3 ? x - 3 : x - 2;
            unsigned l2 = (unsigned)(b[x - 2] != '\n') & (unsigned)(avail >= 4);
            n = 1 + l2 + (l2 & (unsigned)(b[x3] != '\n'));
        }
        lags = lag_filter(b, x, n) & lags_upto(maxp);
        if (!exact)
            tail = 3;
    }
    while (lags) { /* the k bytes before x agree at each lag (filter) */
        unsigned i = top_bit(lags);
        lags &= ~(1ull << i);
        uint64_t p = 64 - i;
        uint64_t lim = avail - p < SHORT_TAIL_CAP ? avail - p : SHORT_TAIL_CAP;
        uint64_t t = match_back(b, x, p, k, lim);
        if (t > tail)
            tail = t;
        if (!best && t >= p && t >= 8) {
            best = p;
            best_t = t;
        }
    }
    if (best && may_start) {
        start_short(ctx, x, best, best_t);
        return true;
    }
    /* At a line end a periodic tail that does not start at a line start is
     * no removable copy: its period holds a line end, and such copies start
     * at line starts. Release the line whole ("Intro.\n" then "Step 1.\n"
     * share ".\n": no reason to hold the second line end). */
    if (exact && tail && tail < avail && b[x - tail - 1] != '\n')
        tail = 0;
    uint64_t s = x - tail;
    if (s > r->anchor)
        s = r->anchor;
    if (s > r->pend)
        s = r->pend;
    /* a space may be the separator in front of the next copy ("S. S. ");
     * a line end is not held: copies of lines start at line starts */
    while (s > r->base && s > r->safe && is_hws(b[s - 1]))
        s--;
    if (s > r->safe)
        r->safe = s;
    return false;
}

static const unsigned char anchor_class[256] = {
    ['\n'] = 1, [' '] = 2, [0x81] = 3, [0x82] = 3, [0x8C] = 3, [0x9A] = 3, [0x9B] = 3, [0x9F] = 3,
};

/* Is there a natural anchor after byte y (class cls)? */
static bool natural_anchor(const repeat_state *r, uint64_t y, unsigned cls)
{
    if (cls == 1)
        return true;
    if (y < r->base + 2)
        return false;
    unsigned char p1 = B(r, y - 1);
    if (cls == 2)
        return p1 == '.' || p1 == '!' || p1 == '?' || p1 == ';' || p1 == ':' || p1 == ',';
    unsigned char p2 = B(r, y - 2), c = B(r, y);
    if (p2 == 0xE3 && p1 == 0x80)
        return c == 0x82 || c == 0x81; /* 。、 */
    if (p2 == 0xEF && p1 == 0xBC)
        return c == 0x81 || c == 0x9F || c == 0x8C || c == 0x9A || c == 0x9B; /* ！？，：； */
    return false;
}

/* Bytes of [y, y + n) (n <= 64) that may end a natural anchor, as bit
 * y' - y: line ends, spaces after . ! ? ; : , and bytes of class 3 after
 * 0x80 or 0xBC. A superset (idle_scan asks natural_anchor about each), so
 * the bytes between them only feed the gear hash. */
static uint64_t maybe_natural(const unsigned char *b, uint64_t base, uint64_t y, unsigned n)
{
    uint64_t m = 0;
    unsigned i = 0;
#ifdef __SSE2__
    if (y > base) { /* the byte before each one is read */
#define EQ(v, c) _mm_cmpeq_epi8((v), _mm_set1_epi8((char)(c)))
        for (; i < n; i += 16) { /* the last load may read the padding */
            const unsigned char *p = b + y + i;
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i pv = _mm_loadu_si128((const __m128i *)(const void *)(p - 1));
            /* . and , are 0x2E 0x2C, : and ; 0x3A 0x3B */
            __m128i punct = _mm_or_si128(
                _mm_or_si128(EQ(_mm_or_si128(pv, _mm_set1_epi8(2)), '.'),
                             EQ(_mm_or_si128(pv, _mm_set1_epi8(1)), ';')),
                _mm_or_si128(EQ(pv, '!'), EQ(pv, '?')));
            __m128i nat = _mm_or_si128(EQ(v, '\n'), _mm_and_si128(EQ(v, ' '), punct));
            unsigned bits = (unsigned)_mm_movemask_epi8(nat);
            unsigned cjk = 0;
            if (_mm_movemask_epi8(v)) /* class 3 bytes are >= 0x80 */
                cjk = (unsigned)_mm_movemask_epi8(_mm_or_si128(EQ(pv, 0x80), EQ(pv, 0xBC)));
            for (; cjk; cjk &= cjk - 1) {
                unsigned j = (unsigned)top_bit(cjk & (0u - cjk));
                if (anchor_class[p[j]])
                    bits |= 1u << j;
            }
            if (n - i < 16)
                bits &= (1u << (n - i)) - 1;
            m |= (uint64_t)bits << i;
        }
#undef EQ
    }
#else
    (void)base;
#endif
    for (; i < n; i++)
        if (anchor_class[b[y + i]])
            m |= 1ull << i;
    return m;
}

/* Gear cuts after the plain bytes [from, lim): the first x in (from, lim]
 * where the gear hash of the 16 bytes before x has its WEAK_MASK bits zero
 * (bits 11..15 of the hash depend on those 16 bytes only, so a cut is
 * content-defined wherever the hashing starts), or 0. The hash carries over
 * to a call that goes on where the last one stopped. */
static uint64_t gear_cut(repeat_state *r, uint64_t from, uint64_t lim)
{
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    const uint64_t *gear = r->gear;
    uint64_t h = r->gh, y = from;
    if (r->gpos != from) {
        uint64_t i = from > r->base + 15 ? from - 15 : r->base;
        h = 0;
        for (; i + 4 <= from; i += 4) /* the steps below, 4 at once */
            h = (h << 4) + (gear[b[i]] << 3) + (gear[b[i + 1]] << 2) + (gear[b[i + 2]] << 1) +
                gear[b[i + 3]];
        for (; i < from; i++)
            h = (h << 1) + gear[b[i]];
    }
    for (; y + 4 <= lim; y += 4) { /* cuts are rare: 4 bytes a step */
        uint64_t h1 = (h << 1) + gear[b[y]];
        uint64_t h2 = (h1 << 1) + gear[b[y + 1]];
        uint64_t h3 = (h2 << 1) + gear[b[y + 2]];
        uint64_t h4 = (h3 << 1) + gear[b[y + 3]];
        if ((h1 & WEAK_MASK) == 0 || (h2 & WEAK_MASK) == 0 || (h3 & WEAK_MASK) == 0 ||
            (h4 & WEAK_MASK) == 0)
            break;
        h = h4;
    }
    for (; y < lim; y++) {
        h = (h << 1) + gear[b[y]];
        if ((h & WEAK_MASK) == 0) {
            r->gh = h;
            r->gpos = y + 1;
            return y + 1;
        }
    }
    r->gh = h;
    r->gpos = lim;
    return 0;
}

/* Scans from pos; returns true when it stopped because a candidate started.
 * An anchor after byte y when y ends a natural anchor, or when the segment
 * is WEAK_GAP bytes long and the gear hash cuts. Only the bytes that may
 * end a natural anchor (found a block at a time) are looked at one by one;
 * the gear hash runs only over the far part of long segments (prose has a
 * line or clause end every few dozen bytes, so it rarely runs there at all). */
static bool idle_scan(repfix_ctx *ctx, uint64_t end)
{
    repeat_state *r = ctx->repeat;
    const unsigned char *b = (const unsigned char *)r->buf - r->base;
    uint64_t y = r->pos;
    while (y < end) { /* blocks end at each probe or checkpoint */
        uint64_t blk = y, blk_end = (y | (PROBE_STEP - 1)) + 1;
        if (blk_end > end)
            blk_end = end;
        uint64_t nat = maybe_natural(b, r->base, blk, (unsigned)(blk_end - blk));
        while (y < blk_end) {
            uint64_t s = nat ? blk + top_bit(nat & (0 - nat)) : blk_end;
            /* plain bytes [y, s): gear cuts in segments of WEAK_GAP or more */
            for (;;) {
                uint64_t from = r->anchor + WEAK_GAP - 1; /* cut x = from + 1 is WEAK_GAP on */
                if (from < y)
                    from = y;
                uint64_t x = from < s ? gear_cut(r, from, s) : 0;
                if (!x)
                    break;
                if (anchor_at(ctx, x)) {
                    r->pos = x;
                    return true;
                }
                y = x;
            }
            y = s;
            if (y == blk_end)
                break;
            nat &= nat - 1;
            unsigned char c = b[y];
            uint64_t x = y + 1;
            if (c == '\n') { /* always an anchor, and a checkpoint: one test */
                y = x;
                if (anchor_at(ctx, x) || (!r->quiet && checkpoint(ctx, x, true, true))) {
                    r->pos = x;
                    return true;
                }
                continue;
            }
            unsigned cls = anchor_class[c];
            bool natural = cls && natural_anchor(r, y, cls);
            bool cut = !natural && x - r->anchor >= WEAK_GAP && gear_cut(r, y, x);
            y = x;
            if (!natural && !cut)
                continue;
            if (anchor_at(ctx, x)) {
                r->pos = x;
                return true;
            }
        }
        if (y % CP_STEP == 0) {
            if (y - r->anchor >= FORCE_GAP && anchor_at(ctx, y)) {
                r->pos = y;
                return true;
            }
            if (!r->quiet && checkpoint(ctx, y, true, false)) {
                r->pos = y;
                return true;
            }
        } else if (y % PROBE_STEP == 0 && !r->quiet && probe(ctx, y)) {
            r->pos = y;
            return true;
        }
    }
    r->pos = y;
    return false;
}

/* Resumes idle scanning at e after a candidate or loop ended there. */
static void resume_idle(repfix_ctx *ctx, uint64_t e)
{
    repeat_state *r = ctx->repeat;
    /* the anchors went on through the candidate (quietly): pos == e */
    r->pend = UINT64_MAX;
    r->state = ST_IDLE;
    checkpoint(ctx, e, false, false); /* the run that just ended must not restart here */
}

/* ---- tracking --------------------------------------------------------- */

/* Whole copies in [frame start, y). */
static uint64_t copies_at(const repeat_state *r, uint64_t y)
{
    return y + r->p < r->a1 ? 0 : (y + r->p - r->a1) / r->p;
}

/* Is the candidate a loop at some count of copies in (judged, c]? A count
 * is judged with the block kinds of its own copies, [a_unit, end of copy),
 * never with the bytes matched after them, so the answer does not depend
 * on how far the frontier got when it is asked (a slice scanned at once
 * reaches further than a line; a table line after copy 3 must not undo
 * copy 3). Counts whose copies end before the same block transition share
 * a rule, and is_loop grows with the count: only the largest of each such
 * stretch is tried. */
static bool loop_by(repfix_ctx *ctx, uint64_t c)
{
    repeat_state *r = ctx->repeat;
    uint64_t k = r->judged;
    while (k < c) {
        uint64_t end = r->a1 + k * r->p; /* the end of copy k + 1 */
        uint64_t last = c;
        size_t i = trans_after(r, end - 1); /* the first transition at or after end */
        if (i < r->n_trans && r->trans[i].off < r->a1 + (c - 1) * r->p)
            last = k + 1 + (r->trans[i].off - end) / r->p;
        int rule = region_rule(r, r->a_unit, r->a1 + (last - 1) * r->p, r->has_nl);
        if (rule >= 0 && last > (uint64_t)ctx->keep &&
            is_loop(last, r->p, r->one_char, rule, r->has_nl, r->line_min, false))
            return true;
        k = last;
    }
    r->judged = k;
    return false;
}

/* The input line of stage A offset a. Line ends are counted from where
 * the last question left off, so a stream of loops costs one pass. */
static uint64_t line_of(const repfix_ctx *ctx, uint64_t a)
{
    repeat_state *r = ctx->repeat;
    while (r->parent) /* a rescan's bytes are the stream state's too */
        r = r->parent;
    if (a < r->base)
        a = r->base;
    uint64_t n;
    if (a >= r->nl_at) {
        r->nl_n += count_nl(r, r->nl_at, a);
        r->nl_at = a;
        n = r->nl_n;
    } else {
        n = r->nl_n - count_nl(r, a, r->nl_at);
    }
    /* input lines: the ones stage A dropped before a count too */
    return 1 + n + amap_nl_dropped(ctx, a);
}

/* Adds or extends the finding of the current loop up to `end`. */
static void report(repfix_ctx *ctx, uint64_t copies, uint64_t end)
{
    repeat_state *r = ctx->repeat;
    uint64_t removed_now = copies > (uint64_t)ctx->keep ? copies - (uint64_t)ctx->keep : 0;
    if (r->reported == 0) {
        r->group = r->next_group++;
        if (r->next_group == 0)
            r->next_group = 1;
        finding_add(ctx, REPFIX_K_REPEAT, amap_in(ctx, r->a_unit), amap_in(ctx, end), r->hs,
                    end, line_of(ctx, r->a_unit), r->p, copies, removed_now, r->group);
    } else if (copies > r->reported || end > r->rep_end) {
        uint64_t removed_before = r->reported - (uint64_t)ctx->keep;
        finding_add(ctx, REPFIX_K_REPEAT, 0, amap_in(ctx, end), r->hs, end, 0, r->p,
                    copies - r->reported, removed_now - removed_before, r->group);
    }
    r->reported = copies;
    r->rep_end = end;
}

/* The loop (or candidate) ends at e, before the end of input. */
static void end_loop(repfix_ctx *ctx, uint64_t e)
{
    repeat_state *r = ctx->repeat;
    if (r->state == ST_LOOP) {
        uint64_t c = copies_at(r, e), ce = r->a1 + (c - 1) * r->p;
        report(ctx, c, ce);
        drop(ctx, ce);
        finding_close_group(ctx, r->group);
        r->safe = ce;
    }
    resume_idle(ctx, e);
}

/* A candidate or loop of a rescan that is still open at the end of its
 * region and goes on in the bytes after it is taken over by the state the
 * rescan works for, with its copies, finding and held bytes, as if that
 * state had found it: the region's end is no reason to end it. */
static void adopt(repeat_state *r, const repeat_state *in)
{
    r->state = in->state;
    r->p = in->p;
    r->one_char = in->one_char;
    r->a1 = in->a1;
    r->a_unit = in->a_unit;
    r->hs = in->hs;
    r->f = in->f;
    r->r0 = in->r0;
    r->x0 = in->x0;
    r->ready = in->ready;
    r->reported = in->reported;
    r->rep_end = in->rep_end;
    r->judged = in->judged;
    r->has_nl = in->has_nl;
    r->line_min = in->line_min;
    r->symbolic = in->symbolic;
    r->group = in->group;
    if (r->safe < in->safe)
        r->safe = in->safe; /* a candidate's safe stays frozen until setup */
}

/* A candidate that turned out not to be a loop: its held bytes were only
 * compared with the period before them, never searched for loops of their
 * own ("important!!!!..." held as copy 2 of a repeated line). They are
 * searched now by a fresh state over the same offsets [safe, hi); at the
 * end of input it applies the end-of-input rule. Without this a second
 * pass would remove more. `safe` is content-defined, so the region is the
 * same for any split of the input.
 * Returns true when the outer state took over a candidate or loop that
 * goes on at hi (only when may_adopt: hi is where the outer candidate
 * diverged, so the byte there is known whatever the split). */
static bool rescan(repfix_ctx *ctx, uint64_t hi, bool at_end, bool may_adopt)
{
    repeat_state *r = ctx->repeat;
    if (r->depth >= RESCAN_DEPTH) /* bounded: each level may find the same */
        return false;
    release(ctx, r->safe < hi ? r->safe : hi);
    uint64_t lo = ctx->a_final;
    if (hi < lo + MIN_LOOP_BYTES || ctx->error || ctx->stopped)
        return false; /* too short to hold a loop */
    if (region_blocks(r, lo, hi) & (1u << BLOCK_JSON))
        return false;
    if (!r->spare && !(r->spare = repeat_new())) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    repeat_state *inner = r->spare;
    repeat_reset(inner);
    inner->base = inner->a_in = inner->pos = inner->safe = inner->anchor = inner->nl_at = lo;
    inner->parent = r;
    inner->depth = (uint8_t)(r->depth + 1);
    inner->next_group = r->next_group + 1;
    ctx->repeat = inner;
    /* fed piece by piece with the block kinds the bytes came with */
    size_t i = trans_after(r, lo);
    uint8_t cur = i ? r->trans[i - 1].block : BLOCK_PROSE;
    uint64_t at = lo;
    for (; i < r->n_trans && r->trans[i].off < hi && !ctx->error; i++) {
        const block_trans *t = &r->trans[i];
        repeat_feed(ctx, r->buf + (at - r->base), (size_t)(t->off - at), (block_kind)cur);
        repeat_flush(ctx);
        at = t->off;
        cur = t->block;
    }
    repeat_feed(ctx, r->buf + (at - r->base), (size_t)(hi - at), (block_kind)cur);
    repeat_flush(ctx);
    bool adopted = false;
    if (at_end) {
        repeat_end(ctx);
    } else if (!ctx->error && !ctx->stopped) {
        adopted = may_adopt && inner->state != ST_IDLE && inner->f == hi &&
                  B(r, hi) == B(r, hi - inner->p);
        if (!adopted) {
            /* a candidate that ends at hi only tracked its bytes: they are
             * searched as when it diverges */
            if (inner->state == ST_CAND)
                rescan(ctx, inner->f, false, false);
            if (inner->state != ST_IDLE)
                end_loop(ctx, inner->f);
            release(ctx, inner->a_in);
        }
    }
    ctx->repeat = r;
    r->next_group = inner->next_group + 1;
    if (adopted)
        adopt(r, inner);
    inner->state = ST_IDLE;
    /* what the rescan released is final: copies kept later start after it
     * (setup aligns them to safe), or a drop would start mid-copy */
    if (r->safe < ctx->a_final)
        r->safe = ctx->a_final;
    return adopted;
}

/* Compares new bytes against the period before them; returns true when the
 * candidate or loop ended (state is idle again). */
static bool track(repfix_ctx *ctx)
{
    repeat_state *r = ctx->repeat;
    const char *b = r->buf - r->base;
    uint64_t y = r->f, end = r->a_in, p = r->p;
    /* decision points are content-defined: setup after SETUP_AFTER bytes,
     * give up after HOLD_MAX held bytes, whatever the feed sizes */
    uint64_t cap = !r->ready ? r->x0 + (p < SETUP_AFTER ? p : SETUP_AFTER)
                   : r->state == ST_CAND ? r->hs + HOLD_MAX : UINT64_MAX;
    if (end > cap)
        end = cap;
    while (y < end) {
        size_t n = end - y > 256 ? 256 : (size_t)(end - y);
        if (memcmp(b + y, b + y - p, n) == 0) {
            y += n;
            continue;
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* the mismatch lies in the n bytes: words up to it stay in BUF_PAD */
        for (uint64_t u, v;; y += 8) {
            memcpy(&u, b + y, 8);
            memcpy(&v, b + y - p, 8);
            if (u != v) { /* the lowest byte that differs */
                y += top_bit((u ^ v) & (0 - (u ^ v))) / 8;
                break;
            }
        }
#else
        while (b[y] == b[y - p])
            y++;
#endif
        break;
    }
    r->f = y;
    r->quiet = true; /* the anchor sequence must not depend on candidates */
    idle_scan(ctx, y);
    r->quiet = false;
    if (!r->ready) {
        if (y < cap && y == end)
            return false; /* the next bytes decide */
        bool died = y < cap;
        /* three copies need more than two periods (see is_loop) */
        if (died && y - r->r0 <= 2 * p) {
            resume_idle(ctx, y);
            return true;
        }
        setup(ctx);
        if (!died)
            return true; /* go on from the new decision point */
        p = r->p; /* it diverged before that point, long enough to be a loop: judged now */
    }
    /* Kept copies after the first stay held until the loop is confirmed:
     * if it is not, they are rescanned with the rest (--keep=2: a loop
     * inside copy 2 of a candidate that failed). */
    if (r->state == ST_LOOP && y >= r->hs && r->safe < r->hs)
        r->safe = r->hs;
    uint64_t c = copies_at(r, y), ce = c ? r->a1 + (c - 1) * p : 0;
    if (r->state == ST_CAND) {
        if (loop_by(ctx, c)) {
            report(ctx, c, ce);
            release(ctx, r->hs);
            drop(ctx, ce);
            r->state = ST_LOOP;
            if (ctx->stop_on_loop) {
                ctx->stopped = true;
                return false;
            }
        }
    } else {
        if (ce > ctx->a_final) {
            report(ctx, c, ce);
            drop(ctx, ce);
        }
    }
    if (y < end || (y == cap && r->state == ST_CAND)) {
        /* a loop found in the held bytes may go on here */
        if (r->state == ST_CAND && rescan(ctx, y, false, y < end))
            return true;
        end_loop(ctx, y); /* diverged, or held too long without a loop */
        return true;
    }
    return y == cap && y < r->a_in; /* a loop goes on past its decision point */
}

static void run(repfix_ctx *ctx)
{
    repeat_state *r = ctx->repeat;
    while (!ctx->error && !ctx->stopped) {
        if (r->state == ST_IDLE) {
            if (!idle_scan(ctx, r->a_in))
                break;
        } else if (!track(ctx)) {
            break;
        }
    }
    if (ctx->error || ctx->stopped)
        return;
    release(ctx, r->safe); /* never beyond safe: it is the same for any split */
}

/* Stage A's bytes are only appended here; repeat_flush scans them. Every
 * decision depends on the bytes alone, so scanning a slice of lines at once
 * gives what scanning them line by line gives, without paying the per-call
 * cost for every line. */
void repeat_feed(repfix_ctx *ctx, const char *p, size_t n, block_kind block)
{
    repeat_state *r = ctx->repeat;
    if (ctx->error || ctx->stopped || n == 0)
        return;
    if ((uint8_t)block != r->last_block && r->n_trans == N_TRANS) {
        /* note_block forgets the oldest transitions: scan the bytes they
         * describe first, as a scan per line would have */
        repeat_flush(ctx);
        if (ctx->error || ctx->stopped)
            return;
    }
    note_block(r, r->a_in, block);
    if (!append(ctx, p, n)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    r->pending = true;
}

void repeat_flush(repfix_ctx *ctx)
{
    repeat_state *r = ctx->repeat;
    if (!r || !r->pending || r->running)
        return;
    r->pending = false;
    r->running = true;
    run(ctx);
    r->running = false;
}

/* End of input: a loop that reaches it is judged with the end-of-input
 * rule and loses its trailing partial copy too; everything is released. */
void repeat_end(repfix_ctx *ctx)
{
    repeat_state *r = ctx->repeat;
    repeat_flush(ctx);
    if (!r || ctx->error || ctx->stopped)
        return;
    if (r->state != ST_IDLE && r->f == r->a_in) {
        if (!r->ready)
            setup(ctx);
        uint64_t c = copies_at(r, r->f);
        int rule = region_rule(r, r->a_unit, r->f, r->has_nl);
        if (r->state == ST_LOOP ||
            (rule >= 0 && is_loop(c, r->p, r->one_char, rule, r->has_nl, r->line_min, true) &&
             c > (uint64_t)ctx->keep)) {
            /* the partial copy goes, but its separator ends the kept text */
            uint64_t ce = r->a1 + (c - 1) * r->p, sep = ce;
            while (sep < r->f && sep - ce < r->p - (r->a1 - r->a_unit) && is_ws(B(r, sep)))
                sep++;
            report(ctx, c, r->f);
            release(ctx, r->hs);
            drop(ctx, ce);
            release(ctx, sep);
            drop(ctx, r->f);
            finding_close_group(ctx, r->group);
            if (ctx->stop_on_loop)
                ctx->stopped = true;
        }
    }
    if (r->state != ST_IDLE && ctx->a_final < r->a_in && !ctx->error && !ctx->stopped)
        rescan(ctx, r->a_in, true, false);
    r->state = ST_IDLE;
    release(ctx, r->a_in);
}
