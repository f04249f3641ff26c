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
 */
#include "internal.h"

#define WS_RUN_MIN 32

static inline bool is_ws(char c) { return c == ' ' || c == '\t'; }

/* Cheap test first: a run of WS_RUN_MIN (>= 32) blanks always covers a
 * whole aligned 16-byte block, so only lines where some block starts and
 * ends with a blank need the full scan. */
static bool may_have_run(const char *p, size_t len)
{
    for (size_t j = 0; j + 16 <= len; j += 16)
        if (is_ws(p[j]) && is_ws(p[j + 15]))
            return true;
    return false;
}

void whitespace_line(repfix_ctx *ctx, const line_view *lv)
{
    const char *p = lv->p;
    size_t len = lv->len, i;
    if (!may_have_run(p, len))
        return;
    if (lv->partial && ctx->scan.in_fragment)
        i = 0; /* a continuation fragment has no indentation */
    else
        line_indent(p, len, &i);
    while (i < len) {
        char c = p[i];
        if (c == '`') {
            i = skip_code_span(p, len, i);
            continue;
        }
        if (c == '\\') {
            i += 2;
            continue;
        }
        if (c != ' ' && c != '\t') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j - i >= WS_RUN_MIN && !edit_overlaps(ctx, i, j)) {
            bool at_eol = j == len && !lv->partial;
            edit_add(ctx, i, j, "  ", at_eol ? 2 : 1, REPFIX_K_WHITESPACE_RUN, 0);
        }
        i = j;
    }
}
