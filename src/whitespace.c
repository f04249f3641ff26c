/*
 * whitespace.c - whitespace-run: runaway horizontal whitespace in a line.
 *
 * A run of WS_RUN_MIN or more spaces and tabs after the first non-blank
 * byte of a prose line is a model padding text it cannot align. Inside the
 * line it becomes one space; at the end of the line two spaces, so a
 * Markdown hard break stays a hard break. Leading indentation is structure
 * (list nesting, code) and is never touched; backtick code spans are skipped
 * (their spaces render). In rendered Markdown a run of spaces in text shows
 * as one space, so the repair does not change what a browser displays.
 *
 * WS_RUN_MIN is high on purpose: people align plain text with a few spaces
 * ("Name:    value"), models that lose control emit dozens or hundreds.
 *
 * Speed: almost no line has such a run, so a line is first probed every
 * WS_RUN_MIN bytes (a run of WS_RUN_MIN holds a probe point whatever its
 * offset); only a line with a long enough run around a probe is scanned,
 * jumping with memchr from backtick to backslash and probing the stretches
 * between them the same way.
 */
#include "internal.h"

#include <string.h>

#define WS_RUN_MIN 32

static inline bool is_ws(char c) { return c == ' ' || c == '\t'; }

/* Cheap test first: a run of WS_RUN_MIN blanks covers one of the bytes
 * WS_RUN_MIN - 1, 2 * WS_RUN_MIN - 1, ...; only a line where the blanks
 * around such a byte reach WS_RUN_MIN needs the full scan. Most probes hit
 * a letter, and a blank one is in a word gap of a byte or two. */
static bool may_have_run(const char *p, size_t len)
{
    for (size_t q = WS_RUN_MIN - 1; q < len; q += WS_RUN_MIN) {
        if (!is_ws(p[q]))
            continue;
        size_t a = q, b = q + 1;
        while (a > 0 && is_ws(p[a - 1]) && b - a < WS_RUN_MIN)
            a--;
        while (b < len && is_ws(p[b]) && b - a < WS_RUN_MIN)
            b++;
        if (b - a >= WS_RUN_MIN)
            return true;
    }
    return false;
}

/* Index of the first c in p[i..len), or len. */
static size_t find(const char *p, size_t len, size_t i, char c)
{
    const char *q = i < len ? memchr(p + i, c, len - i) : NULL;
    return q ? (size_t)(q - p) : len;
}

/* Repairs the runs of WS_RUN_MIN or more blanks in p[i..k), a stretch
 * without backticks and backslashes (a run starting at i starts there).
 * Probed like may_have_run: every run long enough holds a probe. */
static void runs_in(repfix_ctx *ctx, const line_view *lv, size_t i, size_t k)
{
    const char *p = lv->p;
    for (size_t q = i + WS_RUN_MIN - 1; q < k;) {
        if (!is_ws(p[q])) {
            q += WS_RUN_MIN;
            continue;
        }
        size_t a = q, b = q + 1;
        while (a > i && is_ws(p[a - 1]))
            a--;
        while (b < k && is_ws(p[b]))
            b++;
        if (b - a >= WS_RUN_MIN && !edit_overlaps(ctx, a, b)) {
            bool at_eol = b == lv->len && !lv->partial;
            edit_add(ctx, a, b, "  ", at_eol ? 2 : 1, REPFIX_K_WHITESPACE_RUN, 0);
        }
        q = b + WS_RUN_MIN; /* the next run starts after b */
    }
}

/* whitespace_line for a line that may have a run. Out of line, so the
 * probes of most lines need no stack frame. */
#ifdef __GNUC__
__attribute__((noinline))
#endif
static void scan_runs(repfix_ctx *ctx, const line_view *lv)
{
    const char *p = lv->p;
    size_t len = lv->len, i;
    if (lv->partial && ctx->scan.in_fragment)
        i = 0; /* a continuation fragment has no indentation */
    else
        line_indent(p, len, &i);
    /* code spans and escaped characters break the line into stretches */
    size_t tick = find(p, len, i, '`'), bs = find(p, len, i, '\\');
    while (i < len) {
        if (tick < i)
            tick = find(p, len, i, '`');
        if (bs < i)
            bs = find(p, len, i, '\\');
        size_t k = tick < bs ? tick : bs;
        runs_in(ctx, lv, i, k);
        if (k == len)
            break;
        i = k == tick ? skip_code_span(p, len, k) : k + 2;
    }
}

void whitespace_line(repfix_ctx *ctx, const line_view *lv)
{
    if (lv->len >= WS_RUN_MIN && may_have_run(lv->p, lv->len))
        scan_runs(ctx, lv);
}
