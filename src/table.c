/*
 * table.c - GFM tables: table-separator, table-padding, table-runaway.
 *
 * What is a table is decided as cmark-gfm 0.29.0.gfm.6 (the tables
 * extension, GFM spec 0.29 section 4.10) decides it: a delimiter row
 * (`[|]? delim ([|] delim)* [|]? spaces`, delim = `:?-+:?` with spaces)
 * directly under the last line of a paragraph in the same container, with
 * as many cells as that line, and not itself a list item or setext
 * underline. Cells split at every pipe not preceded by a backslash, also
 * inside code spans. Body rows follow until a blank line or a line that
 * starts another block (quote, ATX heading, fence, HTML, thematic break,
 * list item, indented code, a line of pipes only); lines without pipes are
 * rows too. Containers (block quotes, list items, lazy lines) are tracked
 * only as far as needed; where they are uncertain (a list item we cannot
 * place, a quote nested in a list item, an HTML start scan.c does not see,
 * an over-long line, cmark's 16-bit cell counter) nothing is detected until
 * the next blank line, and after a bare CR (a line end to cmark, not to
 * scan.c) nothing more in the stream: a missed repair costs nothing, a
 * table seen where cmark sees none would change the rendering.
 *
 * Aligned tables are clean. A table whose delimiter row is exactly as wide
 * as its header row, cell by cell (what people and formatters such as
 * Prettier write), with no header cell wider than ALIGN_MAX columns (CJK and
 * emoji count 2) or padded PAD_RUN_MIN columns on both sides outside a
 * centered column (how models stretch cells), is left alone: its long
 * delimiter cells and its padding are alignment. Its body cells are left
 * alone while no wider than their header cell plus ALIGN_SLACK.
 *
 * Repaired (action fixed), never changing what cmark-gfm renders:
 * - table-separator: in a table that is not aligned, a delimiter cell with
 *   more than 3 hyphens becomes `---`, its colons kept. A `---` row in the
 *   body is data and renders as text: never touched.
 * - table-padding: a cell with a padding run (spaces and tabs between a
 *   pipe and the content, which cmark trims) of PAD_RUN_MIN columns or more
 *   (tab = 4) that alignment does not explain gets one space on each side,
 *   every run of two or more replaced. A run at the end of the line (after
 *   the last pipe, or after a last cell without one) is repaired from
 *   PAD_RUN_MIN on: no alignment explains it. Padding never goes below one
 *   space (a cell ending in a backslash keeps the space that stops it
 *   escaping the pipe; an empty cell becomes one space), is never added, and
 *   the indentation before the first pipe is never touched.
 * - table-runaway: a body row with more than twice the header's cells and
 *   RUNAWAY_EXTRA more loses the cells past the header's count (cmark drops
 *   them), keeping its outer pipe style.
 * Flagged only (action flagged, bytes unchanged): Unicode spaces (category
 * Zs: U+00A0, U+2000-U+200A, U+3000...) padding a cell, next to content or
 * two or more, which reach the HTML (removed with REPFIX_P_UNICODE_PADDING,
 * except at the start of a line or where the header would turn into a
 * delimiter row); a delimiter row with 2n+2 or more cells under a header of
 * n (GFM sees no table); body cells of HYPHEN_RUN_MIN or more hyphens that
 * the columns' alignment does not explain (a separator repeated as data; a
 * divider row above a totals row in an aligned table is not); rows of
 * 65536 or more cells and tables wider than MAX_COLS; a line longer than
 * LINE_MAX_HOLD (it arrives as fragments) under a candidate header or in a
 * table.
 *
 * Streaming: only the last paragraph line with a pipe is held (a copy, at
 * most one line of LINE_MAX_HOLD bytes) until the next line shows whether it
 * heads a table; a line without pipes (only a one-column header) is emitted
 * at once and its context kept to compare. Every other row is emitted as it
 * arrives.
 * Each table gets two finding groups (fixed, flagged), closed when the table
 * ends: one finding per kind and action, `count` = cells involved.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PAD_RUN_MIN 16     /* columns (tab = 4) of a padding run that is a defect */
#define ALIGN_MAX 150      /* widest cell, in display columns, of an aligned table */
#define ALIGN_SLACK 4      /* columns a hand-edited row may stick out */
#define RUNAWAY_EXTRA 32   /* cells past the header's count that make a row runaway */
#define HYPHEN_RUN_MIN 16  /* a body cell of this many hyphens is flagged */
#define MAX_COLS 1024      /* wider tables pass through, flagged */
#define CMARK_CELLS 65535  /* cmark-gfm counts a row's cells in 16 bits */
#define GROUP_BASE (1u << 30)

#define K_SEP REPFIX_K_TABLE_SEPARATOR
#define K_PAD REPFIX_K_TABLE_PADDING
#define K_RUN REPFIX_K_TABLE_RUNAWAY

/* One cell: left padding [lpad, cs), content [cs, ce), right padding
 * [ce, end); a pipe at `end` when `pipe`. */
typedef struct {
    uint32_t lpad, cs, ce, end;
    bool pipe;
} cell;

/* A row as cmark-gfm's row_from_string splits it. */
typedef struct {
    size_t n;        /* cells (counting stops just past CMARK_CELLS) */
    size_t stored;   /* cells in table_state.cells */
    bool lead;       /* starts with a pipe */
    bool trail_pipe; /* the last cell is closed by a pipe */
    uint32_t tstart; /* after the final pipe: trailing whitespace [tstart, len) */
    uint32_t last_pipe;
} row;

/* Container prefix and block start of a line. */
typedef struct {
    uint32_t qd;      /* block quote markers */
    uint32_t qcol;    /* column of the first one */
    uint32_t ind;     /* indentation (columns) after the quote markers */
    uint32_t w;       /* list marker line: column of the item content */
    size_t cstart;    /* first byte after the quote markers */
    bool marker;      /* a list item starts on this line */
    bool marker_bad;  /* ...with empty content or indented code */
    bool ordered_not1; /* ...an ordered one not numbered 1 */
    size_t fn;        /* first byte of the content */
} lineinfo;

struct table_state {
    /* the held candidate header */
    bool holding;
    bool held_out; /* a line without pipes: emitted, only its context kept */
    rbuf held;
    line_view held_lv;
    lineinfo held_li;
    bool held_list;
    uint32_t held_w;
    size_t held_n;
    /* paragraph and list context */
    bool para_open;
    uint32_t para_qd; /* quote depth of the open paragraph */
    bool tainted;
    bool frag_pending; /* a paragraph line went on in pieces: is the next line a delimiter row? */
    bool cr_seen;     /* a bare CR: cmark's lines are not ours any more */
    bool rec_valid;
    uint32_t rec_qd, rec_w;
    /* the open table */
    bool in_table, passive, aligned, list;
    uint32_t qd, qcol, w;
    size_t ncols;
    uint32_t group, next_group;
    uint32_t *refw;   /* aligned table: the header's cell widths */
    bool *centered;   /* ...and which columns are centered (`:-:`) */
    size_t nref, cap_ref;
    /* scratch */
    cell *cells;
    size_t cap_cells;
};

table_state *table_new(void)
{
    return calloc(1, sizeof(table_state));
}

void table_free(table_state *t)
{
    if (!t)
        return;
    rbuf_free(&t->held);
    free(t->refw);
    free(t->centered);
    free(t->cells);
    free(t);
}

void table_reset(table_state *t)
{
    t->holding = t->para_open = t->tainted = t->rec_valid = t->cr_seen = false;
    t->in_table = t->passive = t->aligned = t->list = t->frag_pending = false;
    t->held.len = 0;
    t->next_group = 0;
    t->nref = 0;
}

/* ---- line structure ----------------------------------------------------- */

static bool is_pad(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_spacechar(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static inline bool thematic_break(const char *p, size_t len);

/* Can a line starting with c have indentation, quote markers or a list
 * marker? */
static inline bool may_open_container(char c)
{
    return is_pad(c) || c == '>' || c == '-' || c == '*' || c == '+' ||
           (c >= '0' && c <= '9');
}

/* Columns of the spaces and tabs at p[i..) from column col (tabs to the
 * next multiple of 4); *end is the first other byte. */
static uint32_t ws_cols(const char *p, size_t len, size_t i, uint32_t col, size_t *end)
{
    uint32_t c = col;
    for (; i < len && is_pad(p[i]); i++)
        c = p[i] == '\t' ? c + 4 - c % 4 : c + 1;
    *end = i;
    return c - col;
}

/* Quote markers, indentation and list marker of the line (CommonMark 5.1,
 * 5.2, 2.2): columns count from the line's start, and the optional space
 * after '>' may be one column of a tab. */
static lineinfo line_info(const char *p, size_t len)
{
    lineinfo li = {0, 0, 0, 0, 0, false, false, false, 0};
    if (len && !may_open_container(p[0]))
        return li; /* a letter, a pipe, ...: no prefix, no list item */
    size_t i = 0, j;
    uint32_t col = 0, eat = 0;
    for (;;) {
        uint32_t w = ws_cols(p, len, i, col, &j);
        uint32_t ind = w - eat;
        if (li.qd == 0)
            li.qcol = ind;
        if (ind <= 3 && j < len && p[j] == '>') {
            i = j + 1;
            col += w + 1;
            eat = 0;
            if (i < len && p[i] == ' ') {
                i++;
                col++;
            } else if (i < len && p[i] == '\t') {
                eat = 1;
            }
            li.qd++;
            continue;
        }
        li.ind = ind;
        li.cstart = i;
        col += w;
        i = j;
        break;
    }
    li.fn = i;
    if (i >= len || thematic_break(p + i, len - i))
        return li; /* a thematic break wins over a list item (5.2) */
    size_t m = 0;
    if (p[i] == '-' || p[i] == '*' || p[i] == '+') {
        m = 1;
    } else {
        while (i + m < len && m < 10 && p[i + m] >= '0' && p[i + m] <= '9')
            m++;
        if (m == 0 || m > 9 || i + m >= len || (p[i + m] != '.' && p[i + m] != ')'))
            m = 0;
        else
            li.ordered_not1 = !(m == 1 && p[i] == '1'), m++;
    }
    if (m == 0 || (i + m < len && !is_pad(p[i + m])))
        return li;
    li.marker = true;
    uint32_t sp = ws_cols(p, len, i + m, col + (uint32_t)m, &j);
    li.fn = j;
    if (li.fn >= len || sp > 4) {
        li.marker_bad = true; /* an empty item, or one opening with code */
        sp = 1;
    }
    li.w = li.ind + (uint32_t)m + sp;
    return li;
}

static inline bool atx_heading(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] == '#')
        n++;
    return n >= 1 && n <= 6 && (n == len || is_pad(p[n]));
}

static inline bool thematic_break(const char *p, size_t len)
{
    char c = p[0];
    if (c != '-' && c != '*' && c != '_')
        return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == c)
            n++;
        else if (!is_pad(p[i]))
            return false;
    }
    return n >= 3;
}

static bool setext_line(const char *p, size_t len)
{
    char c = p[0];
    if (c != '-' && c != '=')
        return false;
    size_t i = 0;
    while (i < len && p[i] == c)
        i++;
    while (i < len && is_pad(p[i]))
        i++;
    return i == len;
}

/* Might open an HTML block (CommonMark 4.6) that scan.c does not track: a
 * lone tag (type 7, which scan.c leaves to the paragraph rules), or any
 * start inside a list item, where scan.c does not look. The detection then
 * pauses until the next blank line. */
static inline bool html_like(const char *p, size_t len)
{
    if (len < 2 || p[0] != '<')
        return false;
    char c = p[1] | 0x20;
    return (c >= 'a' && c <= 'z') || p[1] == '/' || p[1] == '!' || p[1] == '?';
}

/* A list marker at the start of p (an item nested on its parent's line). */
static bool starts_marker(const char *p, size_t len)
{
    size_t m = 0;
    if (p[0] == '-' || p[0] == '*' || p[0] == '+') {
        m = 1;
    } else {
        while (m < len && m < 9 && p[m] >= '0' && p[m] <= '9')
            m++;
        if (m == 0 || m >= len || (p[m] != '.' && p[m] != ')'))
            return false;
        m++;
    }
    return m == len || is_pad(p[m]);
}

/* ---- rows --------------------------------------------------------------- */

static bool cells_room(repfix_ctx *ctx, table_state *t, size_t n)
{
    if (n < t->cap_cells)
        return true;
    size_t cap = t->cap_cells ? t->cap_cells * 2 : 64;
    while (cap <= n)
        cap *= 2;
    cell *c = realloc(t->cells, cap * sizeof *c);
    if (!c) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    t->cells = c;
    t->cap_cells = cap;
    return true;
}

/* Nothing but spaces, tabs, VT and FF in p[i..len). */
static bool blank_from(const char *p, size_t len, size_t i)
{
    while (i < len && is_spacechar(p[i]))
        i++;
    return i == len;
}

/* blank_from for i past the spaces and tabs of a run (skip_pad). */
static inline bool blank_after_pad(const char *p, size_t len, size_t i)
{
    return i == len || ((p[i] == '\v' || p[i] == '\f') && blank_from(p, len, i));
}

/* Cells are split 16 bytes at a time: a row's cells are a few bytes to
 * hundreds of padding bytes long. A 16-byte load never reads outside the
 * line: near its end the load ends at len and the mask is shifted. */
#ifdef __SSE2__
static inline __m128i load16(const char *p, size_t len, size_t i, unsigned *sh)
{
    size_t at = i + 16 <= len ? i : len - 16; /* callers ensure len >= 16 */
    *sh = (unsigned)(i - at);
    return _mm_loadu_si128((const __m128i *)(const void *)(p + at));
}
#endif

/* First index in [i, len) that is not a space or a tab, or len. */
static inline size_t skip_pad(const char *p, size_t len, size_t i)
{
    if (i < len && !is_pad(p[i]))
        return i;
    if (i + 1 < len && !is_pad(p[i + 1]))
        return i + 1; /* one space: most cells */
#ifdef __SSE2__
    if (len >= 16) {
        for (; i < len; i += 16) {
            unsigned sh;
            __m128i v = load16(p, len, i, &sh);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
            m = ~m >> sh & 0xFFFFu;
            if (m)
                return i + (size_t)__builtin_ctz(m);
        }
        return len;
    }
#endif
    while (i < len && is_pad(p[i]))
        i++;
    return i;
}

/* One past the last byte in [lo, end) that is not a space or a tab, or lo:
 * the end of a cell's content. Mostly one space before a pipe. */
static inline size_t content_end(const char *p, size_t lo, size_t end)
{
    if (end > lo && !is_pad(p[end - 1]))
        return end;
    if (end > lo + 1 && !is_pad(p[end - 2]))
        return end - 1; /* one space: most cells */
#ifdef __SSE2__
    for (; end >= lo + 16; end -= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + end - 16));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
        if (m != 0xFFFFu)
            return end - 16 + 32 - (size_t)__builtin_clz(~m & 0xFFFFu);
    }
#endif
    while (end > lo && is_pad(p[end - 1]))
        end--;
    return end;
}

/* First index in [i, end) whose byte is not c, or end: the hyphens of a
 * runaway delimiter row run into the thousands. */
static size_t skip_byte(const char *p, size_t i, size_t end, char c)
{
#ifdef __SSE2__
    for (; i + 16 <= end; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
        if (m != 0xFFFFu)
            return i + (size_t)__builtin_ctz(~m);
    }
#endif
    while (i < end && p[i] == c)
        i++;
    return i;
}

/* The first pipe at or after i not preceded by a backslash (a backslash
 * at i - 1 does not count: cmark matches from the cell's start), or len.
 * The first 16 bytes inline (most cells are short), then memchr (prose
 * lines without a pipe are long). */
static inline size_t next_pipe(const char *p, size_t len, size_t i)
{
    size_t j = i;
#ifdef __SSE2__
    if (len >= 16 && i < len) {
        unsigned sh;
        __m128i v = load16(p, len, i, &sh);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('|'))) >> sh;
        for (; m; m &= m - 1) {
            j = i + (size_t)__builtin_ctz(m);
            if (j == i || p[j - 1] != '\\')
                return j;
        }
        j = i + 16;
    }
#endif
    while (j < len) {
        const char *q = memchr(p + j, '|', len - j);
        if (!q)
            return len;
        j = (size_t)(q - p);
        if (j == i || p[j - 1] != '\\')
            return j;
        j++;
    }
    return len;
}

/* Splits p[fn..len) into cells as row_from_string does, storing at most
 * `keep` of them. A pipe preceded by a backslash does not split (cmark's
 * scanner matches `\|` as one escaped character whatever comes before).
 * After a pipe, a rest of white space (spacechars) is no cell. The search
 * for the next pipe may start anywhere in the white space before a cell:
 * a backslash is never white space, so where it starts does not change
 * which pipe escapes. */
static bool parse_row(repfix_ctx *ctx, table_state *t, const char *p, size_t len, size_t fn,
                      size_t keep, row *r)
{
    memset(r, 0, sizeof *r);
    if (fn >= len)
        return true;
    if (keep == 0 && !memchr(p + fn, '|', len - fn)) {
        r->n = 1; /* most paragraph lines */
        return true;
    }
    size_t lpad = fn, n = 0, stored = 0;
    if (p[fn] == '|') {
        r->lead = true;
        r->last_pipe = (uint32_t)fn;
        r->trail_pipe = true;
        lpad = fn + 1;
        r->tstart = (uint32_t)lpad;
    }
    size_t cs = skip_pad(p, len, lpad);
    if (r->lead && blank_after_pad(p, len, cs))
        return true;
    for (;;) {
        size_t j = next_pipe(p, len, cs);
        if (stored < keep) {
            if (stored >= t->cap_cells && !cells_room(ctx, t, stored))
                return false;
            t->cells[stored++] = (cell){(uint32_t)lpad, (uint32_t)cs,
                                        (uint32_t)content_end(p, cs, j), (uint32_t)j, j < len};
        }
        n++;
        if (j == len) {
            r->trail_pipe = false;
            break;
        }
        r->last_pipe = (uint32_t)j;
        r->trail_pipe = true;
        lpad = j + 1;
        r->tstart = (uint32_t)lpad;
        cs = skip_pad(p, len, lpad);
        if (n > CMARK_CELLS || blank_after_pad(p, len, cs))
            break;
    }
    r->n = n;
    r->stored = stored;
    return true;
}

/* cmark-gfm's scan_table_start on p[fn..len): a delimiter row. */
static bool delimiter_row(const char *p, size_t len, size_t fn)
{
    size_t i = fn;
    if (i < len && p[i] == '|')
        i++;
    for (;;) {
        while (i < len && is_spacechar(p[i]))
            i++;
        if (i < len && p[i] == ':')
            i++;
        size_t h = i;
        i = skip_byte(p, i, len, '-');
        if (i == h)
            return false;
        if (i < len && p[i] == ':')
            i++;
        while (i < len && is_spacechar(p[i]))
            i++;
        if (i == len)
            return true;
        if (p[i] != '|')
            return false;
        i++;
        size_t k = i;
        while (k < len && is_spacechar(p[k]))
            k++;
        if (k == len)
            return true;
    }
}

/* 16 ASCII bytes, none a tab: 16 columns. (Without SSE2: false, and the
 * bytes are counted one by one.) */
static inline bool plain16(const char *p)
{
#ifdef __SSE2__
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return !_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
#else
    (void)p;
    return false;
#endif
}

/* Display column after p[0..n) (CJK and emoji 2, combining marks 0), or
 * UINT32_MAX when a tab makes it editor-dependent. */
static uint32_t display_cols(const char *p, size_t n)
{
    uint32_t col = 0;
    for (size_t i = 0, stop = 0; i < n;) {
        if (i >= stop && i + 16 <= n) {
            if (plain16(p + i)) {
                col += 16;
                i += 16;
                continue;
            }
            stop = i + 16; /* byte by byte up to there */
        }
        unsigned char c = (unsigned char)p[i];
        if (c == '\t')
            return UINT32_MAX;
        if (c < 0x80) {
            col++;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            col++;
            i++;
            continue;
        }
        col += (uint32_t)utf8proc_charwidth(cp);
        i += (size_t)k;
    }
    return col;
}

/* Tabs in p[a..b). */
static uint32_t tabs_in(const char *p, size_t a, size_t b)
{
    uint32_t n = 0;
    for (const char *q = p + a, *e = p + b; (q = memchr(q, '\t', (size_t)(e - q))); q++)
        n++;
    return n;
}

/* Padding run length in columns (tab = 4): its bytes, 3 more per tab.
 * Most runs are one space. */
static inline uint32_t run_cols(const char *p, size_t a, size_t b)
{
    uint32_t n = (uint32_t)(b - a);
    if (n > 2)
        return n + 3 * tabs_in(p, a, b);
    for (size_t i = a; i < b; i++)
        n += p[i] == '\t' ? 3 : 0;
    return n;
}

/* Unicode space (Zs other than U+0020) starting at p[i]: its length, or 0. */
static size_t zs_at(const char *p, size_t len, size_t i)
{
    if ((unsigned char)p[i] < 0x80)
        return 0;
    utf8proc_int32_t cp;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)(len - i), &cp);
    if (k <= 0 || utf8proc_category(cp) != UTF8PROC_CATEGORY_ZS)
        return 0;
    return (size_t)k;
}

/* Unicode padding of a cell: the content without its edges of spaces,
 * tabs and Unicode spaces is [rcs, rce); nl and nr count the Unicode spaces
 * in the left and right edge (a cell of only spaces has a left edge only). */
typedef struct {
    size_t rcs, rce, nl, nr;
} uedges;

static uedges unicode_edges_slow(const char *p, const cell *c)
{
    uedges u = {c->cs, c->ce, 0, 0};
    size_t k;
    while (u.rcs < c->ce && ((k = zs_at(p, c->ce, u.rcs)) || is_pad(p[u.rcs]))) {
        u.nl += k != 0;
        u.rcs += k ? k : 1;
    }
    if (u.rcs == c->ce) {
        u.rce = u.rcs;
        return u;
    }
    for (;;) {
        if (is_pad(p[u.rce - 1])) {
            u.rce--;
            continue;
        }
        size_t b = u.rce - 1; /* start of the last character */
        while (b > u.rcs && u.rce - b < 4 && ((unsigned char)p[b] & 0xC0) == 0x80)
            b--;
        if (b >= u.rcs && (k = zs_at(p, u.rce, b)) && b + k == u.rce) {
            u.rce = b;
            u.nr++;
            continue;
        }
        break;
    }
    return u;
}

/* The cells of parse_row start and end with a byte that is not a space
 * or a tab: when both are ASCII, there is no Unicode space at the edges. */
static inline uedges unicode_edges(const char *p, const cell *c)
{
    if (c->ce > c->cs) {
        unsigned char a = (unsigned char)p[c->cs], b = (unsigned char)p[c->ce - 1];
        if (a < 0x80 && b < 0x80 && !is_pad((char)a) && !is_pad((char)b))
            return (uedges){c->cs, c->ce, 0, 0};
    }
    return unicode_edges_slow(p, c);
}

/* Unicode spaces pad this cell: next to content, or two or more (a lone
 * no-break space is how people keep a cell from being empty). */
static bool unicode_padded(const uedges *u)
{
    return (u->nl || u->nr) && (u->rcs < u->rce || u->nl + u->nr >= 2);
}

/* ---- findings ----------------------------------------------------------- */

static pending_finding *group_finding(repfix_ctx *ctx, uint32_t group, repfix_kind kind)
{
    for (size_t i = ctx->n_findings; i > ctx->first_finding; i--) {
        pending_finding *pf = &ctx->findings[i - 1];
        if (pf->group == group && pf->f.kind == kind)
            return pf;
    }
    return NULL;
}

/* Output position, within the current line, of line position x given the
 * edits added so far. */
static uint64_t out_pos(const repfix_ctx *ctx, size_t x)
{
    uint64_t pos = x;
    for (size_t i = 0; i < ctx->n_edits; i++) {
        const line_edit *e = &ctx->edits[i];
        if (e->end <= x)
            pos = pos + e->rep_len - (e->end - e->start);
    }
    return pos;
}

/* Adds a finding whose bytes stay as they are (action flagged): input
 * [in_a, in_b), stage A [oa, ob). Added before those bytes are emitted. */
static void flag_at(repfix_ctx *ctx, repfix_kind kind, uint64_t in_a, uint64_t in_b, uint64_t oa,
                    uint64_t ob, uint64_t line, uint64_t count, uint32_t group)
{
    if (!kind_on(ctx, kind) || ctx->error)
        return;
    finding_add(ctx, kind, in_a, in_b, oa, ob, line, 0, 0, count, group);
    if (ctx->error || ctx->n_findings == 0)
        return;
    pending_finding *pf =
        group ? group_finding(ctx, group, kind) : &ctx->findings[ctx->n_findings - 1];
    if (pf)
        pf->f.action = REPFIX_ACTION_FLAGGED;
}

/* flag_at for line positions [a, b) of the line about to be emitted. */
static void flag_span(repfix_ctx *ctx, const line_view *lv, repfix_kind kind, size_t a, size_t b,
                      uint64_t count, uint32_t group)
{
    flag_at(ctx, kind, lv->in_off + a, lv->in_off + b, ctx->a_off + out_pos(ctx, a),
            ctx->a_off + out_pos(ctx, b), lv->line, count, group);
}

static void end_table(repfix_ctx *ctx)
{
    table_state *t = ctx->table;
    if (!t->in_table)
        return;
    finding_close_group(ctx, t->group);
    finding_close_group(ctx, t->group + 1);
    t->in_table = false;
}

/* ---- repairs of one row ------------------------------------------------- */

enum { ROLE_HEADER, ROLE_DELIM, ROLE_BODY };

/* Display width of cell k of row r, pipe to pipe (a first cell without a
 * pipe from the start of the line's container), or UINT32_MAX (a tab). */
static uint32_t cell_width(const char *p, const row *r, const cell *c, size_t k, size_t cstart)
{
    size_t a = k == 0 && !r->lead ? cstart : c->lpad;
    return display_cols(p + a, c->end - a);
}

/* Padding runs of cell c: left, and right unless it ends the line. */
static inline void cell_runs(const char *p, const cell *c, uint32_t *l, uint32_t *rr)
{
    *l = run_cols(p, c->lpad, c->cs);
    *rr = c->pipe ? run_cols(p, c->ce, c->end) : 0;
}

/* Is cell k padded PAD_RUN_MIN on both sides in a column that is not
 * centered? That is how models stretch cells, not how people align them. */
static bool stretched(const table_state *t, const char *p, const cell *c, size_t k)
{
    uint32_t l, rr;
    cell_runs(p, c, &l, &rr);
    return l >= PAD_RUN_MIN && rr >= PAD_RUN_MIN && !t->centered[k];
}

/* Does alignment explain the padding of cell k? In an aligned table a cell
 * no wider than its header cell (plus ALIGN_SLACK for hand-edited rows) is
 * aligned - unless padded PAD_RUN_MIN on both sides in a column that is not
 * centered, which is how models stretch cells, not how people align them. */
static bool cell_justified(const table_state *t, const char *p, const row *r, const cell *c,
                           size_t k, size_t cstart)
{
    if (!t->aligned || k >= t->nref || stretched(t, p, c, k))
        return false;
    uint32_t w = cell_width(p, r, c, k, cstart);
    return w != UINT32_MAX && w <= t->refw[k] + ALIGN_SLACK;
}

/* Would the row read as a delimiter row without its Unicode padding? Then
 * removing it would make a table of the line above: it stays. */
static bool delimiter_inside(const table_state *t, const char *p, size_t ncells)
{
    for (size_t k = 0; k < ncells; k++) {
        const cell *c = &t->cells[k];
        uedges u = c->ce > c->cs ? unicode_edges(p, c) : (uedges){c->cs, c->ce, 0, 0};
        for (size_t i = u.rcs; i < u.rce; i++)
            if (p[i] != '-' && p[i] != ':')
                return false;
    }
    return true;
}

/* A padding run of two or more becomes one space. */
static bool pad_edit(repfix_ctx *ctx, size_t a, size_t b)
{
    if (b < a + 2)
        return false;
    return edit_add(ctx, a, b, " ", 1, K_PAD, ctx->table->group);
}

/* A run at the end of the line (after the last pipe, or after a last cell
 * without one) is repaired when it is PAD_RUN_MIN long or its cell is: no
 * alignment explains it. */
static bool line_end_edit(repfix_ctx *ctx, const char *p, size_t a, size_t b, bool normalize)
{
    if (!kind_on(ctx, K_PAD) || (!normalize && run_cols(p, a, b) < PAD_RUN_MIN))
        return false;
    return pad_edit(ctx, a, b);
}

/* Might a Unicode space (Zs) start at p[i]? The Zs characters other than
 * U+0020 are U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F and U+3000:
 * their UTF-8 starts with C2 A0, E1 9A, E2 80, E2 81 or E3 80. */
static inline bool may_be_zs(const char *p, size_t len, size_t i)
{
    unsigned char a = (unsigned char)p[i], b = i + 1 < len ? (unsigned char)p[i + 1] : 0;
    switch (a) {
    case 0xC2: return b == 0xA0;
    case 0xE1: return b == 0x9A;
    case 0xE2: return b == 0x80 || b == 0x81;
    case 0xE3: return b == 0x80;
    default: return false;
    }
}

/* A row that emit_row would pass unchanged and without findings, by a
 * test of its bytes that is cheaper than its cells: no Unicode space
 * (Unicode padding), no run of 4 white-space bytes (padding of PAD_RUN_MIN
 * columns takes 4 tabs or 16 spaces), too few pipes for a runaway row (a
 * row has at most one cell more than it has pipes), and for a body row
 * fewer than HYPHEN_RUN_MIN hyphens, for a delimiter row no run of 4.
 * False is always safe: the row then takes the full path. */
static bool plain_row(const char *p, size_t len, size_t ncols, int role)
{
    size_t pipes = 0, dashes = 0;
    bool delim = role == ROLE_DELIM;
#ifdef __SSE2__
    if (len >= 16) {
        const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'),
                      three = _mm_set1_epi8(3);
        unsigned prev_ws = 0, prev_dash = 0;
        for (size_t i = 0; i < len; i += 16) {
            unsigned sh;
            __m128i v = load16(p, len, i, &sh);
            unsigned hi = (unsigned)_mm_movemask_epi8(v) >> sh;
            for (; hi; hi &= hi - 1)
                if (may_be_zs(p, len, i + (size_t)__builtin_ctz(hi)))
                    return false;
            __m128i x = _mm_sub_epi8(v, tab); /* 0..3: tab, LF, VT, FF */
            __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(v, sp),
                                      _mm_cmpeq_epi8(_mm_min_epu8(x, three), x));
            unsigned b = (unsigned)_mm_movemask_epi8(ws) >> sh;
            unsigned w = b << 3 | prev_ws >> 13; /* with the 3 bytes before */
            if (w & w >> 1 & w >> 2 & w >> 3)
                return false;
            prev_ws = b << sh; /* bit 15: the chunk's last byte */
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('|'))) >> sh;
            for (; m; m &= m - 1)
                pipes++;
            m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('-'))) >> sh;
            if (delim) {
                w = m << 3 | prev_dash >> 13;
                if (w & w >> 1 & w >> 2 & w >> 3)
                    return false;
                prev_dash = m << sh;
            }
            for (; m; m &= m - 1)
                dashes++;
        }
        return pipes < ncols + RUNAWAY_EXTRA && (role != ROLE_BODY || dashes < HYPHEN_RUN_MIN);
    }
#endif
    size_t run = 0, drun = 0;
    for (size_t i = 0; i < len; i++) {
        if (may_be_zs(p, len, i))
            return false;
        run = is_spacechar(p[i]) ? run + 1 : 0;
        drun = p[i] == '-' ? drun + 1 : 0;
        if (run >= 4 || (delim && drun >= 4))
            return false;
        pipes += p[i] == '|';
        dashes += p[i] == '-';
    }
    return pipes < ncols + RUNAWAY_EXTRA && (role != ROLE_BODY || dashes < HYPHEN_RUN_MIN);
}

/* Adds the edits of a table row, emits it, and fixes the finding counts
 * (line_emit counts edits; a finding counts cells). Cells are repaired one
 * by one: a cell with a padding run of PAD_RUN_MIN or more that alignment
 * does not explain gets one space on each side. */
static void emit_row(repfix_ctx *ctx, const line_view *lv, const lineinfo *li, int role)
{
    table_state *t = ctx->table;
    const char *p = lv->p;
    row r;
    if (t->passive || plain_row(p, lv->len, t->ncols, role) ||
        !parse_row(ctx, t, p, lv->len, li->fn, MAX_COLS, &r)) {
        line_emit(ctx, lv, BLOCK_TABLE);
        return;
    }
    if (r.n > CMARK_CELLS) {
        /* cmark-gfm's 16-bit cell counter wraps: leave it, stop detecting */
        flag_span(ctx, lv, K_RUN, 0, lv->len, r.n, t->group + 1);
        line_emit(ctx, lv, BLOCK_TABLE);
        t->tainted = true;
        return;
    }
    bool truncate = role == ROLE_BODY && kind_on(ctx, K_RUN) && r.n > t->ncols + RUNAWAY_EXTRA &&
                    r.n > 2 * t->ncols;
    size_t ncells = truncate ? t->ncols : r.stored;
    /* an aligned table's delimiter row is its alignment, not a runaway */
    bool pad_on = kind_on(ctx, K_PAD),
         sep_on = role == ROLE_DELIM && kind_on(ctx, K_SEP) && !t->aligned;
    bool unicode_fix = pad_on && ctx->unicode_padding && role != ROLE_DELIM &&
                       !(role == ROLE_HEADER && delimiter_inside(t, p, ncells));
    size_t pad_cells = 0, hyphen_cells = 0, hy_a = 0, hy_b = 0;
    bool last_touched = false;
    for (size_t k = 0; k < ncells && !ctx->error; k++) {
        const cell *c = &t->cells[k];
        bool touched = false;
        uint32_t l, rr;
        cell_runs(p, c, &l, &rr);
        bool runaway = l >= PAD_RUN_MIN || rr >= PAD_RUN_MIN;
        bool justified = role == ROLE_HEADER ? t->aligned : cell_justified(t, p, &r, c, k, li->cstart);
        bool normalize = pad_on && runaway && !justified;
        uedges u = {c->cs, c->ce, 0, 0};
        if (role != ROLE_DELIM && c->ce > c->cs)
            u = unicode_edges(p, c);
        bool uni = unicode_padded(&u);
        /* a first cell without a pipe starts the line: without its Unicode
         * spaces it could start a block ("#\u00a0|" becomes a heading) */
        bool bare = k == 0 && !r.lead;
        bool fix_l = uni && unicode_fix && u.nl && !bare;
        bool fix_r = uni && unicode_fix && u.nr && !bare;
        normalize |= uni && unicode_fix;
        if (fix_l)
            touched |= edit_add(ctx, c->lpad, u.rcs == c->ce ? c->end : u.rcs, " ", 1, K_PAD,
                                t->group);
        else if (normalize)
            touched |= pad_edit(ctx, c->lpad, c->cs);
        if (sep_on) {
            size_t h = c->cs;
            while (h < c->ce && p[h] != '-')
                h++;
            size_t he = skip_byte(p, h, c->ce, '-');
            if (he - h > 3)
                edit_add(ctx, h, he, "---", 3, K_SEP, t->group);
        }
        if (role == ROLE_BODY && !justified && c->ce - c->cs >= HYPHEN_RUN_MIN) {
            size_t h = 0, i;
            for (i = c->cs; i < c->ce && (p[i] == '-' || p[i] == ':'); i++)
                h += p[i] == '-';
            if (i == c->ce && h >= HYPHEN_RUN_MIN) {
                hy_a = hyphen_cells++ ? hy_a : c->cs;
                hy_b = c->ce;
            }
        }
        bool cut = truncate && !r.trail_pipe && k == ncells - 1; /* see below */
        if (cut || (fix_l && u.rcs == c->ce))
            ;
        else if (fix_r)
            touched |= edit_add(ctx, u.rce, c->end, " ", 1, K_PAD, t->group);
        else if (!c->pipe)
            touched |= line_end_edit(ctx, p, c->ce, c->end, normalize);
        else if (normalize)
            touched |= pad_edit(ctx, c->ce, c->end);
        if (uni && (!unicode_fix || bare))
            flag_span(ctx, lv, K_PAD, c->cs, c->ce, 1, t->group + 1);
        pad_cells += touched;
        last_touched = touched;
    }
    if (truncate && !ctx->error) {
        /* cmark-gfm drops cells past the header's count */
        const cell *c = &t->cells[t->ncols - 1];
        size_t a = r.trail_pipe ? c->end + 1u : c->ce;
        size_t b = r.trail_pipe ? r.last_pipe + 1u : lv->len;
        if (ctx->n_edits && ctx->edits[ctx->n_edits - 1].end > a)
            a = ctx->edits[ctx->n_edits - 1].end; /* after the cell's own edit */
        edit_add(ctx, a, b, "", 0, K_RUN, t->group);
    }
    if (r.trail_pipe && r.n == r.stored && !ctx->error &&
        line_end_edit(ctx, p, r.tstart, lv->len, false) && !last_touched)
        pad_cells++;
    if (hyphen_cells)
        flag_span(ctx, lv, K_RUN, hy_a, hy_b, hyphen_cells, t->group + 1);
    size_t pad_edits = 0;
    for (size_t i = 0; i < ctx->n_edits; i++)
        pad_edits += ctx->edits[i].kind == K_PAD;
    line_emit(ctx, lv, BLOCK_TABLE);
    pending_finding *pf;
    if (pad_edits > pad_cells && (pf = group_finding(ctx, t->group, K_PAD)))
        pf->f.count -= pad_edits - pad_cells;
    if (truncate && (pf = group_finding(ctx, t->group, K_RUN)))
        pf->f.count += r.n - t->ncols - 1;
}

/* ---- the line state machine --------------------------------------------- */

static bool table_kinds(const repfix_ctx *ctx)
{
    return kind_on(ctx, K_SEP) || kind_on(ctx, K_PAD) || kind_on(ctx, K_RUN);
}

static void release_held(repfix_ctx *ctx)
{
    table_state *t = ctx->table;
    if (!t->holding)
        return;
    t->holding = false;
    t->held_lv.p = t->held.p;
    if (!t->held_out)
        prose_line(ctx, &t->held_lv);
}

/* Does the line continue the open table as a body row? */
static bool body_row(repfix_ctx *ctx, const line_view *lv, const lineinfo *li)
{
    table_state *t = ctx->table;
    const char *c = lv->p + li->fn;
    size_t clen = lv->len - li->fn;
    if (li->qd != t->qd || (li->qd && li->qcol != t->qcol) || li->marker || clen == 0 ||
        c[0] == '>')
        return false;
    if (t->list ? li->ind < t->w || li->ind >= t->w + 4 : li->ind >= 4)
        return false;
    if (atx_heading(c, clen) || thematic_break(c, clen))
        return false;
    if (html_like(c, clen)) {
        t->tainted = true;
        return false;
    }
    /* parse_row would find a cell: anything but a pipe and white space */
    return c[0] != '|' || !blank_from(lv->p, lv->len, li->fn + 1);
}

/* Is the table aligned the way people and formatters align tables? Each
 * delimiter cell is exactly as wide as its header cell (a last cell left
 * open is only capped), and no header cell is wider than ALIGN_MAX or
 * padded PAD_RUN_MIN on both sides outside a centered column. Only a
 * delimiter row as wide as the header shows alignment: a minimal one under
 * a wide header is how models pad. The header's widths become t->refw. */
static bool header_aligned(repfix_ctx *ctx, const line_view *h, const lineinfo *hli,
                           const line_view *d, const lineinfo *dli)
{
    table_state *t = ctx->table;
    row r;
    t->nref = 0;
    if (!parse_row(ctx, t, d->p, d->len, dli->fn, MAX_COLS, &r) || r.n != r.stored)
        return false;
    size_t n = r.n;
    if (n > t->cap_ref) {
        uint32_t *w = realloc(t->refw, n * sizeof *w);
        if (w)
            t->refw = w;
        bool *c = w ? realloc(t->centered, n * sizeof *c) : NULL;
        if (!w || !c) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        t->centered = c;
        t->cap_ref = n;
    }
    bool d_open = !r.trail_pipe;
    for (size_t k = 0; k < n; k++) {
        const cell *c = &t->cells[k];
        t->centered[k] = c->ce - c->cs >= 2 && d->p[c->cs] == ':' && d->p[c->ce - 1] == ':';
        t->refw[k] = cell_width(d->p, &r, c, k, dli->cstart); /* until the header's below */
        /* a stretched delimiter cell is no alignment either (cell_justified
         * repairs it: the header must not stay) */
        if (stretched(t, d->p, c, k))
            return false;
    }
    if (!parse_row(ctx, t, h->p, h->len, hli->fn, MAX_COLS, &r) || r.stored != n)
        return false;
    bool h_open = !r.trail_pipe;
    for (size_t k = 0; k < n; k++) {
        const cell *c = &t->cells[k];
        uint32_t w = cell_width(h->p, &r, c, k, hli->cstart), dw = t->refw[k];
        uint32_t l = run_cols(h->p, c->lpad, c->cs);
        if (w == UINT32_MAX || w > ALIGN_MAX || (!c->pipe && l >= PAD_RUN_MIN) ||
            stretched(t, h->p, c, k))
            return false;
        if (ctx->unicode_padding && kind_on(ctx, K_PAD) && c->ce > c->cs) {
            uedges u = unicode_edges(h->p, c);
            if (unicode_padded(&u))
                return false; /* the header will change */
        }
        if (k == n - 1 && (h_open || d_open)) {
            /* a last cell without its pipe has no width to match */
            if (n == 1 || dw == UINT32_MAX || dw > ALIGN_MAX)
                return false;
            t->refw[k] = w > dw ? w : dw;
        } else if (w != dw) {
            return false;
        } else {
            t->refw[k] = w;
        }
    }
    t->nref = n;
    return true;
}

/* The held line and this one: header and delimiter row of a table? */
static bool try_start(repfix_ctx *ctx, const line_view *lv, const lineinfo *li)
{
    table_state *t = ctx->table;
    const lineinfo *hli = &t->held_li;
    const char *c = lv->p + li->fn;
    size_t clen = lv->len - li->fn;
    if (li->qd != hli->qd || (li->qd && li->qcol != hli->qcol) || li->marker || clen == 0)
        return false;
    if (t->held_list ? li->ind < t->held_w || li->ind > t->held_w + 3 : li->ind > 3)
        return false;
    if (!delimiter_row(lv->p, lv->len, li->fn) || setext_line(c, clen))
        return false;
    row r;
    if (!parse_row(ctx, t, lv->p, lv->len, li->fn, 0, &r))
        return false;
    if (r.n != t->held_n) {
        if (r.n >= 2 * t->held_n + 2) {
            /* a runaway delimiter row: GFM sees no table, so neither do we */
            release_held(ctx);
            flag_at(ctx, K_RUN, lv->in_off, lv->in_off + lv->len, ctx->a_off, ctx->a_off,
                    lv->line, r.n, 0);
        }
        return false;
    }
    t->held_lv.p = t->held.p;
    t->group = GROUP_BASE + 2 * t->next_group++;
    t->in_table = true;
    t->holding = false;
    t->para_open = false;
    t->qd = li->qd;
    t->qcol = li->qcol;
    t->list = t->held_list;
    t->w = t->held_w;
    t->ncols = r.n;
    t->passive = r.n > MAX_COLS;
    /* (a header without pipes is one open cell: never aligned) */
    t->nref = 0;
    t->aligned = !t->passive && !t->held_out && header_aligned(ctx, &t->held_lv, hli, lv, li);
    if (t->passive)
        flag_at(ctx, K_RUN, lv->in_off, lv->in_off + lv->len, ctx->a_off, ctx->a_off, lv->line,
                r.n, t->group + 1);
    if (!t->held_out)
        emit_row(ctx, &t->held_lv, hli, ROLE_HEADER);
    emit_row(ctx, lv, li, ROLE_DELIM);
    return true;
}

/* A line outside a table: track paragraphs and list items; hold a
 * paragraph line as a candidate header. */
static bool fresh_line(repfix_ctx *ctx, const line_view *lv, const lineinfo *li)
{
    table_state *t = ctx->table;
    bool para_before = t->para_open;
    const char *c = lv->p + li->fn;
    size_t clen = lv->len - li->fn;
    if (para_before && li->qd < t->para_qd) {
        /* a lazy continuation line of a quoted paragraph, unless it starts
         * a block: either way its prefix does not say its container */
        if (clen == 0 || (li->ind <= 3 && (li->marker || atx_heading(c, clen) ||
                                           thematic_break(c, clen) || html_like(c, clen))))
            t->para_open = false;
        return false;
    }
    if (li->qd != t->para_qd)
        para_before = false; /* a new block quote, or one ended by a blank line */
    t->para_open = false;
    t->para_qd = li->qd;
    if (t->rec_valid && li->qd != t->rec_qd && !(t->rec_qd == 0 && li->qcol >= t->rec_w))
        t->rec_valid = false; /* quotes change left of the item's content: it ended */
    bool in_rec = ctx->scan.in_list && t->rec_valid && t->rec_qd == li->qd;
    bool marker_ok = li->marker && (li->ind <= 3 || (in_rec && li->ind >= t->rec_w &&
                                                     li->ind - t->rec_w <= 3));
    if (li->marker && (!marker_ok || (para_before && li->ordered_not1))) {
        /* indented too far to be a list item, or "2." under a paragraph:
         * text or code, in a container we do not track */
        t->para_open = para_before;
        return false;
    }
    if (li->marker) {
        t->rec_valid = true;
        t->rec_qd = li->qd;
        t->rec_w = li->w;
    }
    if (clen == 0)
        return false;
    if (c[0] == '>') {
        /* a block quote in a list item (or indented past our prefix
         * parsing): not a container we model; lines with fewer markers
         * after it are its lazy lines */
        t->para_open = true;
        t->para_qd = li->qd + 1;
        return false;
    }
    bool list;
    uint32_t w;
    if (li->marker) {
        if (li->marker_bad)
            return false;
        if (starts_marker(c, clen)) {
            t->rec_valid = false; /* "- - x": nesting we do not model */
            return false;
        }
        para_before = false; /* the item's content starts a new block */
        list = true;
        w = li->w;
    } else if (ctx->scan.in_list && t->rec_valid && t->rec_qd == 0 && li->qd > 0 &&
               li->qcol >= t->rec_w && li->qcol <= t->rec_w + 3) {
        /* a block quote inside the list item */
        if (!para_before && li->ind >= 4)
            return false;
        list = false;
        w = 0;
    } else if (ctx->scan.in_list) {
        bool starts = li->ind <= 3 && (atx_heading(c, clen) || thematic_break(c, clen) ||
                                       html_like(c, clen) || starts_marker(c, clen));
        if (!t->rec_valid || t->rec_qd != li->qd || li->ind < t->rec_w) {
            /* a container we cannot place; unless a lazy line, the item has
             * ended. Paragraph text somewhere all the same. */
            if (!(para_before && !starts))
                t->rec_valid = false;
            t->para_open = !starts;
            return false;
        }
        t->para_open = true;
        if (!para_before && li->ind >= t->rec_w + 4) {
            t->para_open = false; /* indented code */
            return false;
        }
        list = true;
        w = t->rec_w;
    } else {
        if (!para_before && li->ind >= 4)
            return false; /* indented code */
        list = false;
        w = 0;
    }
    /* indented 4 or more past its container, a line starts no block: it
     * continues the paragraph (code without one was ruled out above) */
    if (li->marker || li->ind <= w + 3) {
        if (!li->marker && para_before && setext_line(c, clen))
            return false; /* a setext underline ends the paragraph */
        if (atx_heading(c, clen) || thematic_break(c, clen))
            return false;
        if (html_like(c, clen) ||
            (clen >= 3 && (memcmp(c, "```", 3) == 0 || memcmp(c, "~~~", 3) == 0))) {
            /* an HTML block or a fence scan.c did not see (in a list item) */
            t->tainted = true;
            return false;
        }
    }
    t->para_open = true;
    row r;
    if (!parse_row(ctx, t, lv->p, lv->len, li->fn, 0, &r) || r.n == 0)
        return false;
    if (r.n > CMARK_CELLS) {
        t->tainted = true;
        return false;
    }
    /* A line without pipes can only head a one-column table: it is emitted
     * at once (a finished line is never delayed for that) and only its
     * context is kept to recognize the delimiter row under it. Its bytes are
     * not: a one-column table is never aligned (header_aligned) and its
     * header row is out already. */
    bool out = r.n == 1 && !r.lead && !r.trail_pipe;
    t->held.len = 0;
    if (!out && !rbuf_append(&t->held, lv->p, lv->len + lv->eol)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    t->held_lv = *lv;
    t->held_lv.p = t->held.p;
    t->held_li = *li;
    t->held_list = list;
    t->held_w = w;
    t->held_n = r.n;
    t->holding = true;
    t->held_out = out;
    if (out)
        prose_line(ctx, lv);
    return true;
}

/* Bytes a line may start with and not be a plain paragraph line for the
 * rules above: indentation, a quote or list marker (line_info), a
 * delimiter row ('|', ':', '-', white space), setext underline, ATX
 * heading, thematic break, HTML or fence. Most lines start with a letter. */
static const unsigned char block_start[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1, ['#'] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, ['<'] = 1, ['='] = 1,
    ['>'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1};

/* The end of fresh_line for a line of one cell without pipes: its context
 * is kept to recognize a delimiter row under it, and it goes out at once. */
static bool hold_out(repfix_ctx *ctx, const line_view *lv, lineinfo li, bool list, uint32_t w)
{
    table_state *t = ctx->table;
    t->held.len = 0;
    t->held_lv = *lv;
    t->held_lv.p = t->held.p;
    t->held_li = li;
    t->held_list = list;
    t->held_w = w;
    t->held_n = 1;
    t->holding = true;
    t->held_out = true;
    prose_line(ctx, lv);
    return true;
}

/* Two common shapes of line take short cuts past line_info, try_start and
 * fresh_line, with the same effects. Both lie outside a table and a block
 * quote, have no pipe, and their content starts with no block_start byte:
 * it is no delimiter row and starts no block.
 * A plain line has n spaces (no tabs) before its content: its lineinfo is
 * its indentation only (n = 0 for most lines). */
static bool plain_line(repfix_ctx *ctx, const line_view *lv, uint32_t n)
{
    table_state *t = ctx->table;
    release_held(ctx);
    bool para_before = t->para_open, list = false;
    uint32_t w = 0;
    t->para_open = false;
    if (t->rec_valid && t->rec_qd != 0)
        t->rec_valid = false; /* quotes change left of the item's content */
    if (ctx->scan.in_list) {
        if (!t->rec_valid || t->rec_qd != 0 || n < t->rec_w) {
            /* a line left of the item's content: a lazy line or the end */
            if (!para_before)
                t->rec_valid = false;
            t->para_open = true;
            return false;
        }
        if (!para_before && n >= t->rec_w + 4)
            return false; /* indented code in the item */
        list = true;
        w = t->rec_w;
    } else if (!para_before && n >= 4) {
        return false; /* indented code */
    }
    t->para_open = true;
    return hold_out(ctx, lv, (lineinfo){0, n, n, 0, 0, false, false, false, n}, list, w);
}

/* A bullet line "- x", "* x" or "+ x" (one space after the marker) opens a
 * list item whose content starts at column 2 as a new block. */
static bool bullet_line(repfix_ctx *ctx, const line_view *lv)
{
    table_state *t = ctx->table;
    release_held(ctx); /* a list item is no delimiter row */
    t->rec_valid = true;
    t->rec_qd = 0;
    t->rec_w = 2;
    t->para_open = true;
    return hold_out(ctx, lv, (lineinfo){0, 0, 0, 2, 0, true, false, false, 2}, true, 2);
}

static bool any_line(repfix_ctx *ctx, const line_view *lv);

/* Could the line be a delimiter row (after indentation and quote markers,
 * only '-', ':', '|' and blanks, with a '-')? A superset: when unsure, yes. */
static bool delimiter_like(const line_view *lv)
{
    size_t i = 0;
    bool dash = false;
    while (i < lv->len && (lv->p[i] == ' ' || lv->p[i] == '\t' || lv->p[i] == '>'))
        i++;
    for (; i < lv->len; i++) {
        char c = lv->p[i];
        if (c == '-')
            dash = true;
        else if (c != ':' && c != '|' && !is_spacechar(c))
            return false;
    }
    return dash;
}

bool table_line(repfix_ctx *ctx, const line_view *lv)
{
    table_state *t = ctx->table;
    if (!table_kinds(ctx) || ctx->error)
        return false;
    const scan_state *s = &ctx->scan;
    bool crfree = lv->in_off >= s->crfree_lo && lv->in_off + lv->len <= s->crfree_hi;
    if (!t->cr_seen && !crfree && memchr(lv->p, '\r', lv->len)) {
        /* cmark ends a line at a bare CR, scan.c does not: what follows may
         * be a fence or an HTML block neither of us tracks. Detect nothing
         * more in this stream. */
        table_flush(ctx);
        t->cr_seen = true;
    }
    if (t->frag_pending) {
        t->frag_pending = false;
        if (delimiter_like(lv))
            t->tainted = true; /* until the next blank line, as after an over-long line */
    }
    if (t->tainted || t->cr_seen)
        return false;
    const char *p = lv->p;
    size_t len = lv->len;
    if (!t->in_table && t->para_qd == 0 && len) {
        size_t n = 0;
        while (n < len && p[n] == ' ')
            n++;
        if (n < len && !block_start[(unsigned char)p[n]]) {
            if (!memchr(p + n, '|', len - n))
                return plain_line(ctx, lv, (uint32_t)n); /* most paragraph lines */
        } else if (n == 0 && (p[0] == '-' || p[0] == '*' || p[0] == '+') && len >= 3 &&
                   p[1] == ' ' && !block_start[(unsigned char)p[2]] &&
                   !memchr(p + 2, '|', len - 2)) {
            return bullet_line(ctx, lv);
        }
    }
    return any_line(ctx, lv);
}

/* table_line for a line that takes the general path. Out of line, so
 * plain lines need no large stack frame. */
#ifdef __GNUC__
__attribute__((noinline))
#endif
static bool any_line(repfix_ctx *ctx, const line_view *lv)
{
    table_state *t = ctx->table;
    lineinfo li = line_info(lv->p, lv->len);
    if (t->in_table) {
        if (body_row(ctx, lv, &li)) {
            emit_row(ctx, lv, &li, ROLE_BODY);
            return true;
        }
        end_table(ctx);
        if (t->tainted)
            return false;
    } else if (t->holding) {
        if (try_start(ctx, lv, &li))
            return true;
        release_held(ctx);
    }
    return fresh_line(ctx, lv, &li);
}

void table_flush(repfix_ctx *ctx)
{
    table_state *t = ctx->table;
    release_held(ctx);
    end_table(ctx);
    t->para_open = false;
    t->tainted = t->frag_pending = false;
}

bool table_open(const repfix_ctx *ctx)
{
    return ctx->table->in_table;
}

void table_fragment(repfix_ctx *ctx, const line_view *lv, bool prose)
{
    table_state *t = ctx->table;
    if (prose) {
        /* a paragraph line cut into pieces (scan.c): it is no delimiter row
         * and no table is open, so what is held goes out and the paragraph
         * goes on; only if the next line is a delimiter row could this line
         * be a header we did not hold (table_line then stops detecting) */
        release_held(ctx);
        t->para_open = true;
        t->frag_pending = true;
        return;
    }
    if (table_kinds(ctx) && !t->tainted && !t->cr_seen && (t->holding || t->in_table)) {
        bool delim = t->holding;
        lineinfo li = line_info(lv->p, lv->len);
        for (size_t i = li.fn; i < lv->len && delim; i++)
            delim = lv->p[i] == '-' || lv->p[i] == ':' || lv->p[i] == '|' ||
                    is_spacechar(lv->p[i]);
        if (t->in_table || delim) {
            /* a row or delimiter row longer than LINE_MAX_HOLD: too long to
             * judge, so it passes unchanged (flagged) */
            release_held(ctx);
            flag_at(ctx, K_RUN, lv->in_off, lv->in_off + lv->len, ctx->a_off, ctx->a_off,
                    lv->line, 1, t->in_table ? t->group + 1 : 0);
        }
    }
    table_flush(ctx);
    /* cmark may still see a table around a long prose line: detect
     * nothing until the next blank line */
    t->tainted = !ctx->scan.fence_char && !ctx->scan.html_end;
}
