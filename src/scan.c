/*
 * scan.c - stage A for text: lines, block context, dispatch to the line
 * detectors.
 *
 * Input is split at '\n' (a preceding '\r' belongs to the line ending, so
 * CRLF stays CRLF). A line longer than LINE_MAX_HOLD is handed on in
 * fragments of exactly LINE_MAX_HOLD bytes, so memory is bounded and the
 * fragment points do not depend on how the input was split.
 *
 * A long prose line goes on sooner, in pieces of a little over
 * SOFT_FRAGMENT bytes, so a model's paragraph that loops without a line
 * break reaches the loop detector (and the reader, and --stop-on-loop)
 * after a kilobyte, not at its end. Only a line that can be neither a
 * table row nor code, HTML or a tool call is cut: a paragraph line that
 * starts with a letter, or the first line of a list item (a marker at the
 * margin, then a letter), outside code, HTML, an open table or a tool
 * call, whose first SOFT_FRAGMENT bytes hold no '|' or '`'. A cut lies
 * inside a word (between two ASCII letters, or before a letter of a
 * multi-byte script), never within 6 bytes after a backslash and never
 * after a backtick, so no run a line detector repairs (white space,
 * escapes, code spans) straddles it. Pieces are fragments: a table right
 * after a paragraph line is left alone only if the line could be its
 * header, one after a list item until the next blank line
 * (table_fragment). The cuts depend on the line's bytes only, not on how
 * they arrive.
 *
 * Each line is classified with the block structure of CommonMark/GFM that
 * matters for repairs (spec 0.29, section 4): fenced code (4.5), indented
 * code (4.4), raw HTML blocks (4.6, types 1-7), tables (table.c), and
 * prose, which is everything else (paragraphs, headings, lists, block
 * quotes). Code and HTML lines are never edited: inside <pre> every byte
 * renders; only runaway blank-line runs in them are repaired (newline.c).
 *
 * The classification is deliberately conservative where it is approximate
 * (container prefixes, lazy continuation lines): when unsure, a line is
 * treated as code, which only means fewer repairs.
 *
 * Most lines start with a letter; a table of first bytes sends them straight
 * to the paragraph path without looking for indentation, quotes, list
 * markers, fences or HTML.
 */
#include "internal.h"

#include <string.h>

/* scan_state.soft: may the pending line be cut into pieces? SOFT_YES: a
 * paragraph line; SOFT_ITEM: the first line of a list item. */
enum { SOFT_UNDECIDED = 0, SOFT_YES, SOFT_ITEM, SOFT_NO };

/* First-byte classes: most lines start with a letter, which rules out
 * everything but a paragraph line at once. */
enum {
    FB_BLANK = 1, /* may start a blank line: space, tab, CR, FF, VT */
    FB_BLOCK = 2  /* may start indentation, a quote, list item, fence or HTML */
};
static const unsigned char first_byte[256] = {
    [' '] = FB_BLANK | FB_BLOCK, ['\t'] = FB_BLANK | FB_BLOCK, ['\r'] = FB_BLANK,
    ['\f'] = FB_BLANK, ['\v'] = FB_BLANK, ['>'] = FB_BLOCK, ['-'] = FB_BLOCK,
    ['*'] = FB_BLOCK, ['+'] = FB_BLOCK, ['`'] = FB_BLOCK, ['~'] = FB_BLOCK, ['<'] = FB_BLOCK,
    ['0'] = FB_BLOCK, ['1'] = FB_BLOCK, ['2'] = FB_BLOCK, ['3'] = FB_BLOCK, ['4'] = FB_BLOCK,
    ['5'] = FB_BLOCK, ['6'] = FB_BLOCK, ['7'] = FB_BLOCK, ['8'] = FB_BLOCK, ['9'] = FB_BLOCK};

static inline unsigned first_class(const char *p, size_t len)
{
    return len ? first_byte[(unsigned char)p[0]] : FB_BLANK | FB_BLOCK;
}

bool line_is_blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\f' && p[i] != '\v')
            return false;
    return true;
}

/* line_indent, inlined in this file's per-line paths. */
static inline uint32_t indent_of(const char *p, size_t len, size_t *bytes)
{
    uint32_t col = 0;
    size_t i = 0;
    for (; i < len; i++) {
        if (p[i] == ' ')
            col++;
        else if (p[i] == '\t')
            col += 4 - col % 4;
        else
            break;
    }
    *bytes = i;
    return col;
}

uint32_t line_indent(const char *p, size_t len, size_t *bytes)
{
    size_t i;
    uint32_t col = indent_of(p, len, &i);
    if (bytes)
        *bytes = i;
    return col;
}

size_t skip_code_span(const char *p, size_t len, size_t i)
{
    size_t run = 0;
    while (i + run < len && p[i + run] == '`')
        run++;
    for (size_t j = i + run; j < len;) {
        const char *q = memchr(p + j, '`', len - j);
        if (!q)
            return len;
        j = (size_t)(q - p);
        size_t r = 0;
        while (j + r < len && p[j + r] == '`')
            r++;
        if (r == run)
            return j + r;
        j += r;
    }
    return len;
}

/* Skips block quote markers and the indentation around them. */
static size_t skip_quotes(const char *p, size_t len)
{
    size_t i = 0;
    for (;;) {
        size_t ws;
        uint32_t ind = line_indent(p + i, len - i, &ws);
        if (ind <= 3 && i + ws < len && p[i + ws] == '>') {
            i += ws + 1;
            continue;
        }
        return i;
    }
}

/* Length of a list marker at p ("- ", "* ", "+ ", "1. ", "1) "), or 0. */
static size_t list_marker(const char *p, size_t len)
{
    if (len >= 1 && (p[0] == '-' || p[0] == '*' || p[0] == '+'))
        return (len == 1 || p[1] == ' ' || p[1] == '\t') ? 1 : 0;
    size_t i = 0;
    while (i < len && i < 9 && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == 0 || i >= len || (p[i] != '.' && p[i] != ')'))
        return 0;
    return (i + 1 == len || p[i + 1] == ' ' || p[i + 1] == '\t') ? i + 1 : 0;
}

/* A fence opening at p: sets char and length; info string of a backtick
 * fence may not contain a backtick. */
static bool fence_open(const char *p, size_t len, char *fc, uint32_t *flen)
{
    if (len < 3 || (p[0] != '`' && p[0] != '~'))
        return false;
    size_t n = 0;
    while (n < len && p[n] == p[0])
        n++;
    if (n < 3)
        return false;
    if (p[0] == '`' && memchr(p + n, '`', len - n))
        return false;
    *fc = p[0];
    *flen = (uint32_t)n;
    return true;
}

static bool fence_close(const scan_state *s, const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] == s->fence_char)
        n++;
    return n >= s->fence_len && line_is_blank(p + n, len - n);
}

/* A closing fence starts with the fence character after quote markers
 * and indentation: the first other byte must be it. */
static bool may_close_fence(const scan_state *s, const char *p, size_t len)
{
    size_t k = 0;
    while (k < len && (p[k] == ' ' || p[k] == '\t' || p[k] == '>'))
        k++;
    return k < len && p[k] == s->fence_char;
}

/* Does p (k bytes available) start with lower, ASCII case-insensitively?
 * lower holds no upper-case letters. */
static inline bool starts_ci(const char *p, size_t k, const char *lower)
{
    size_t i = 0;
    for (; lower[i]; i++) {
        if (i == k)
            return false;
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

/* Does p hold needle, ASCII case-insensitively? needle starts with a byte
 * that has no case ('<', '-', '?', ']'), so memchr finds the candidates. */
static bool has_ci(const char *p, size_t len, const char *needle)
{
    for (const char *q = p, *end = p + len; q < end; q++) {
        q = memchr(q, needle[0], (size_t)(end - q));
        if (!q)
            return false;
        if (starts_ci(q + 1, (size_t)(end - q) - 1, needle + 1))
            return true;
    }
    return false;
}

/* End condition 1: a closing script, pre, style or textarea tag (one pass
 * over the '<'s for the four). */
static bool raw_closes(const char *p, size_t len)
{
    for (const char *q = p, *end = p + len; q < end; q++) {
        q = memchr(q, '<', (size_t)(end - q));
        if (!q)
            return false;
        size_t k = (size_t)(end - q) - 1;
        if (k > 0 && q[1] == '/' &&
            (starts_ci(q + 2, k - 1, "script>") || starts_ci(q + 2, k - 1, "pre>") ||
             starts_ci(q + 2, k - 1, "style>") || starts_ci(q + 2, k - 1, "textarea>")))
            return true;
    }
    return false;
}

static bool html_ends(int type, const char *p, size_t len)
{
    switch (type) {
    case 1: return raw_closes(p, len);
    case 2: return has_ci(p, len, "-->");
    case 3: return has_ci(p, len, "?>");
    case 4: return memchr(p, '>', len) != NULL;
    case 5: return has_ci(p, len, "]]>");
    default: return false; /* 6 and 7 end at a blank line */
    }
}

static const char *const block_tags[] = {
    "address", "article", "aside", "base", "basefont", "blockquote", "body", "caption",
    "center", "col", "colgroup", "dd", "details", "dialog", "dir", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset", "h1", "h2",
    "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "iframe", "legend", "li",
    "link", "main", "menu", "menuitem", "nav", "noframes", "ol", "optgroup", "option", "p",
    "param", "section", "source", "summary", "table", "tbody", "td", "tfoot", "th", "thead",
    "title", "tr", "track", "ul"};

/* HTML block start condition (CommonMark 4.6) of the line at p, or 0. */
static int html_start(const char *p, size_t len, bool interrupts_para)
{
    if (len < 2 || p[0] != '<')
        return 0;
    static const char *const raw[] = {"script", "pre", "style", "textarea"};
    for (size_t k = 0; k < 4; k++) {
        size_t n = strlen(raw[k]);
        if (starts_ci(p + 1, len - 1, raw[k]) &&
            (len == n + 1 || p[n + 1] == ' ' || p[n + 1] == '\t' || p[n + 1] == '>'))
            return 1;
    }
    if (len >= 4 && memcmp(p, "<!--", 4) == 0)
        return 2;
    if (p[1] == '?')
        return 3;
    if (len >= 9 && memcmp(p, "<![CDATA[", 9) == 0)
        return 5;
    if (p[1] == '!' && len >= 3 && ((p[2] | 0x20) >= 'a' && (p[2] | 0x20) <= 'z'))
        return 4;
    size_t i = p[1] == '/' ? 2 : 1, n = 0;
    while (i + n < len && ((p[i + n] | 0x20) >= 'a' && (p[i + n] | 0x20) <= 'z'))
        n++;
    while (i + n < len && p[i + n] >= '0' && p[i + n] <= '9')
        n++;
    if (n == 0)
        return 0;
    char c = i + n < len ? p[i + n] : ' ';
    if (c == ' ' || c == '\t' || c == '>' || (c == '/' && i + n + 1 < len && p[i + n + 1] == '>')) {
        for (size_t k = 0; k < sizeof block_tags / sizeof *block_tags; k++)
            if (strlen(block_tags[k]) == n && starts_ci(p + i, n, block_tags[k]))
                return 6;
    }
    /* type 7: a complete tag alone on its line; cannot interrupt a paragraph */
    if (interrupts_para)
        return 0;
    size_t e = len;
    while (e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    if (e > 0 && p[e - 1] == '>' && (c == ' ' || c == '>' || c == '/' || c == '-' || c == '\t'))
        return 7;
    return 0;
}

void prose_line(repfix_ctx *ctx, const line_view *lv)
{
    if (kind_on(ctx, REPFIX_K_ESCAPE_RUN))
        escape_line(ctx, lv);
    if (kind_on(ctx, REPFIX_K_WHITESPACE_RUN))
        whitespace_line(ctx, lv);
    line_emit(ctx, lv, BLOCK_PROSE);
}

/* newline_flush, called for every line: most have no blank lines before. */
static inline void flush_blanks(repfix_ctx *ctx, bool next_is_code)
{
    if (ctx->nl.blanks)
        newline_flush(ctx, next_is_code, false);
}

/* A fragment of an over-long line: same block as the line it continues. */
static void fragment_line(repfix_ctx *ctx, const line_view *lv)
{
    scan_state *s = &ctx->scan;
    if (!s->in_fragment) {
        if (!(first_class(lv->p, lv->len) & FB_BLOCK)) { /* as a paragraph line */
            s->prev_indented = false;
            if (s->prev_blank)
                s->in_list = false;
        } else if (s->soft == SOFT_ITEM) { /* as a list item's first line */
            s->prev_indented = false;
            s->in_list = true;
        }
        flush_blanks(ctx, s->fence_char || s->html_end);
        table_fragment(ctx, lv, s->soft == SOFT_YES);
        s->frag_block = s->fence_char ? BLOCK_CODE : s->html_end ? BLOCK_HTML : BLOCK_PROSE;
        s->prev_blank = false;
        s->prev_para = s->frag_block == BLOCK_PROSE;
    }
    if (s->frag_block == BLOCK_PROSE)
        prose_line(ctx, lv);
    else
        line_emit(ctx, lv, s->frag_block);
}

/* A line of text outside code and HTML: a table row or prose. */
static void paragraph_line(repfix_ctx *ctx, const line_view *lv)
{
    flush_blanks(ctx, false);
    ctx->scan.prev_para = true;
    if (table_line(ctx, lv))
        return;
    prose_line(ctx, lv);
}

void scan_line(repfix_ctx *ctx, const line_view *lv)
{
    scan_state *s = &ctx->scan;
    if (kind_on(ctx, REPFIX_K_REPEAT) && nearloop_line(ctx, lv))
        return;
    if (lv->partial || s->in_fragment) {
        /* an over-long line is no tool call: held call blocks go out first */
        if (!s->in_fragment && kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT))
            toolcall_flush(ctx);
        fragment_line(ctx, lv);
        s->in_fragment = lv->partial;
        return;
    }
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT) && toolcall_line(ctx, lv))
        return;
    const char *p = lv->p;
    size_t len = lv->len;
    unsigned fc0 = first_class(p, len);
    bool blank = (fc0 & FB_BLANK) && line_is_blank(p, len);

    if (s->fence_char) {
        if (blank) {
            newline_blank(ctx, lv, true);
            return;
        }
        flush_blanks(ctx, true);
        if (may_close_fence(s, p, len)) {
            size_t q = skip_quotes(p, len), ws;
            line_indent(p + q, len - q, &ws);
            if (fence_close(s, p + q + ws, len - q - ws))
                s->fence_char = 0;
        }
        line_emit(ctx, lv, BLOCK_CODE);
        s->prev_blank = false;
        return;
    }
    if (s->html_end) {
        if (blank && s->html_end < 6) {
            newline_blank(ctx, lv, true);
            return;
        }
        if (!blank) {
            flush_blanks(ctx, true);
            if (html_ends(s->html_end, p, len))
                s->html_end = 0;
            line_emit(ctx, lv, BLOCK_HTML);
            return;
        }
        s->html_end = 0; /* a blank line ends types 6 and 7 */
    }
    if (blank) {
        table_flush(ctx);
        newline_blank(ctx, lv, s->prev_indented);
        s->prev_blank = true;
        s->prev_para = false;
        return;
    }

    bool was_blank = s->prev_blank;
    s->prev_blank = false;
    if (!(fc0 & FB_BLOCK)) {
        /* no indentation, quote, list marker, fence or HTML: a paragraph line */
        s->prev_indented = false;
        if (was_blank)
            s->in_list = false;
        paragraph_line(ctx, lv);
        return;
    }
    size_t ws;
    uint32_t indent = indent_of(p, len, &ws);
    if (indent >= 4 && !s->in_list && (was_blank || s->prev_indented)) {
        table_flush(ctx);
        flush_blanks(ctx, true);
        line_emit(ctx, lv, BLOCK_CODE);
        s->prev_indented = true;
        s->prev_para = false;
        return;
    }
    s->prev_indented = false;

    size_t q = 0, bws = ws;
    uint32_t bind = indent;
    if (indent <= 3 && ws < len && p[ws] == '>') {
        /* block quote markers (skip_quotes' first test, done) */
        q = skip_quotes(p, len);
        bind = indent_of(p + q, len - q, &bws);
    }
    const char *body = p + q + bws;
    size_t blen = len - q - bws;
    size_t lm = list_marker(body, blen);
    if (lm)
        s->in_list = true;
    else if (was_blank && indent < 2 && q == 0)
        s->in_list = false;

    char fc;
    uint32_t flen;
    if (fence_open(body, blen, &fc, &flen)) {
        table_flush(ctx);
        flush_blanks(ctx, false);
        s->fence_char = fc;
        s->fence_len = flen;
        line_emit(ctx, lv, BLOCK_CODE);
        s->prev_para = false;
        return;
    }
    int ht = bind <= 3 ? html_start(body, blen, s->prev_para && !was_blank) : 0;
    if (ht) {
        table_flush(ctx);
        flush_blanks(ctx, false);
        s->html_end = html_ends(ht, body, blen) ? 0 : ht;
        line_emit(ctx, lv, BLOCK_HTML);
        s->prev_para = false;
        return;
    }
    paragraph_line(ctx, lv);
}

static inline void complete_line(repfix_ctx *ctx, const char *p, size_t total)
{
    size_t eol = 0;
    if (total && p[total - 1] == '\n') {
        eol = 1;
        if (total >= 2 && p[total - 2] == '\r')
            eol = 2;
    }
    line_view lv = {p, total - eol, eol, ctx->line_in, ctx->line_no, false};
    scan_line(ctx, &lv);
    ctx->line_in += total;
    if (eol)
        ctx->line_no++;
}

static void fragment(repfix_ctx *ctx)
{
    line_view lv = {ctx->line.p, ctx->line.len, 0, ctx->line_in, ctx->line_no, true};
    scan_line(ctx, &lv);
    ctx->line_in += ctx->line.len;
    ctx->line.len = 0;
}

/* Notes the input offsets up to the first '\r' of p[0..n): table_line
 * then need not look for a bare CR in each line (CRLF input has one in
 * every line ending and gains nothing). */
static void note_crfree(scan_state *s, uint64_t base, const char *p, size_t n)
{
    const char *cr = n ? memchr(p, '\r', n) : NULL;
    if (s->crfree_hi != base)
        s->crfree_lo = base;
    s->crfree_hi = base + (cr ? (size_t)(cr - p) : n);
}

static bool is_letter(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }

static bool starts_word(unsigned char c) { return is_letter(c) || c >= 0xC3; }

/* May the pending line p[0..SOFT_FRAGMENT) be cut into pieces, and as
 * what: a paragraph line (it starts with a letter) or the first line of a
 * list item ("- ", "* ", "+ ", "1. ", "1) " at the margin, then a letter)? */
static uint8_t soft_kind(repfix_ctx *ctx, const char *p)
{
    const scan_state *s = &ctx->scan;
    if (s->fence_char || s->html_end || s->in_fragment || memchr(p, '|', SOFT_FRAGMENT) ||
        memchr(p, '`', SOFT_FRAGMENT) || table_open(ctx) || !toolcall_idle(ctx, p, SOFT_FRAGMENT))
        return SOFT_NO;
    if (starts_word((unsigned char)p[0]))
        return SOFT_YES;
    size_t m = list_marker(p, SOFT_FRAGMENT);
    return m && p[m] == ' ' && starts_word((unsigned char)p[m + 1]) ? SOFT_ITEM : SOFT_NO;
}

/* A cut before p[i]: inside a word, and not within an escape sequence. */
static bool cut_at(const char *p, size_t i)
{
    unsigned char a = (unsigned char)p[i - 1], b = (unsigned char)p[i];
    bool word = (is_letter(a) && is_letter(b)) ||
                (a >= 0x80 && a < 0xC0 && ((b >= 0xC3 && b < 0xE0) || (b >= 0xE4 && b < 0xEA)));
    return word && !memchr(p + i - 6, '\\', 6);
}

/* Cuts pieces off the front of the pending line while it is a soft line
 * with a cut at SOFT_FRAGMENT bytes or more into the piece. The search
 * goes on where it stopped (soft_pos), so bytes arriving one at a time
 * cost no rescans; a backtick ends the cutting for the rest of the line.
 * The rest moves to the front of the buffer once, after the last cut. */
static void soft_cuts(repfix_ctx *ctx)
{
    scan_state *s = &ctx->scan;
    size_t start = 0; /* bytes of ctx->line handed on */
    _Static_assert(SOFT_FRAGMENT >= 6, "cut_at reads 6 bytes back");
    while (s->soft != SOFT_NO && ctx->line.len - start > SOFT_FRAGMENT && !ctx->error) {
        const char *p = ctx->line.p + start;
        size_t len = ctx->line.len - start, i = s->soft_pos, cut = 0;
        if (s->soft == SOFT_UNDECIDED) {
            s->soft = soft_kind(ctx, p);
            i = SOFT_FRAGMENT;
        }
        for (; s->soft != SOFT_NO && i < len; i++) {
            if (p[i - 1] == '`')
                s->soft = SOFT_NO;
            else if (i >= SOFT_FRAGMENT && cut_at(p, i)) {
                cut = i;
                break;
            }
        }
        s->soft_pos = i;
        if (!cut)
            break;
        line_view lv = {p, cut, 0, ctx->line_in, ctx->line_no, true};
        scan_line(ctx, &lv);
        ctx->line_in += cut;
        start += cut;
        s->soft_pos = 1; /* the next piece is searched from its start */
    }
    if (start) {
        memmove(ctx->line.p, ctx->line.p + start, ctx->line.len - start);
        ctx->line.len -= start;
    }
}

void scan_feed(repfix_ctx *ctx, const char *p, size_t n)
{
    note_crfree(&ctx->scan, ctx->line_in + ctx->line.len, p, n);
    while (n > 0 && !ctx->error) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        size_t content = nl ? seg - 1 : seg;
        if (nl && ctx->line.len == 0 && content <= SOFT_FRAGMENT) {
            complete_line(ctx, p, seg); /* the common case: no copy */
            p += seg;
            n -= seg;
            continue;
        }
        /* a line that is long or arrives in pieces: held, cut (softly as
         * its bytes come, hard at LINE_MAX_HOLD) */
        size_t room = LINE_MAX_HOLD - ctx->line.len;
        size_t take = content > room ? room : seg;
        if (!rbuf_append(&ctx->line, p, take)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return;
        }
        p += take;
        n -= take;
        soft_cuts(ctx);
        if (take < seg) {
            if (ctx->line.len == LINE_MAX_HOLD) {
                fragment(ctx);
                ctx->scan.soft = SOFT_NO; /* an over-long line goes on hard */
            }
            continue;
        }
        if (nl) {
            complete_line(ctx, ctx->line.p, ctx->line.len);
            ctx->line.len = 0;
            ctx->scan.soft = SOFT_UNDECIDED;
            ctx->scan.soft_pos = 0;
        }
    }
}

void scan_end(repfix_ctx *ctx)
{
    if (ctx->line.len) {
        complete_line(ctx, ctx->line.p, ctx->line.len);
        ctx->line.len = 0;
    }
    ctx->scan.soft = SOFT_UNDECIDED;
    ctx->scan.soft_pos = 0;
    if (kind_on(ctx, REPFIX_K_REPEAT))
        nearloop_end(ctx);
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT))
        toolcall_flush(ctx);
    table_flush(ctx);
    newline_flush(ctx, ctx->scan.fence_char || ctx->scan.html_end, true);
}
