/*
 * escape.c - escape-run: runs of literal escape sequences in text.
 *
 * A model that produced JSON-escaped text where it meant plain text, or
 * that fell into the "repeated newlines in structured output" failure, emits
 * literal backslash escapes: "\n\n\n\n\n\n". Four or more of \n, \t, \r
 * (or \u000a, \u000d, \u0009) in a row, optionally separated by single
 * spaces, are squeezed to the first two sequences. Code spans are skipped,
 * and a backslash that is itself escaped ("\\n") does not start a sequence;
 * code blocks never reach this detector.
 */
#include "internal.h"

#include <string.h>

#define ESCAPE_RUN_MIN 4
#define ESCAPE_RUN_KEEP 2

/* Length of the escape sequence at p[i] (a backslash), or 0. */
static size_t escape_at(const char *p, size_t len, size_t i)
{
    if (i + 1 >= len)
        return 0;
    char c = p[i + 1];
    if (c == 'n' || c == 't' || c == 'r')
        return 2;
    if (c == 'u' && i + 6 <= len &&
        (memcmp(p + i + 2, "000a", 4) == 0 || memcmp(p + i + 2, "000A", 4) == 0 ||
         memcmp(p + i + 2, "000d", 4) == 0 || memcmp(p + i + 2, "000D", 4) == 0 ||
         memcmp(p + i + 2, "0009", 4) == 0))
        return 6;
    return 0;
}

/* Index of the first c in p[i..len), or len. */
static size_t find(const char *p, size_t len, size_t i, char c)
{
    const char *q = i < len ? memchr(p + i, c, len - i) : NULL;
    return q ? (size_t)(q - p) : len;
}

/* escape_line from the line's first backslash bs. Out of line, so the
 * test of most lines (no backslash) needs no stack frame. */
#ifdef __GNUC__
__attribute__((noinline))
#endif
static void escape_from(repfix_ctx *ctx, const line_view *lv, size_t bs)
{
    const char *p = lv->p;
    size_t len = lv->len, i = 0;
    /* only backslashes and backticks matter: jump from one to the next */
    size_t tick = find(p, len, 0, '`');
    while (i < len) {
        if (bs < i)
            bs = find(p, len, i, '\\');
        if (tick < i)
            tick = find(p, len, i, '`');
        if (tick < bs) {
            i = skip_code_span(p, len, tick);
            continue;
        }
        if (bs == len)
            break;
        i = bs;
        size_t k = escape_at(p, len, i);
        if (k == 0) {
            i += 2; /* an escaped character, maybe a backslash */
            continue;
        }
        /* a run of sequences starting at i */
        size_t start = i, keep_end = 0, end = i, count = 0, j = i;
        for (;;) {
            size_t m = j < len && p[j] == '\\' ? escape_at(p, len, j) : 0;
            if (m == 0)
                break;
            j += m;
            count++;
            end = j;
            if (count == ESCAPE_RUN_KEEP)
                keep_end = j;
            if (j < len && p[j] == ' ' && j + 1 < len && p[j + 1] == '\\')
                j++;
        }
        if (count >= ESCAPE_RUN_MIN)
            edit_add(ctx, keep_end, end, "", 0, REPFIX_K_ESCAPE_RUN, 0);
        i = end > start ? end : start + 2;
    }
}

void escape_line(repfix_ctx *ctx, const line_view *lv)
{
    /* a run takes 4 sequences of 2 bytes or more */
    const char *bs = lv->len < 8 ? NULL : memchr(lv->p, '\\', lv->len);
    if (bs)
        escape_from(ctx, lv, (size_t)(bs - lv->p));
}
