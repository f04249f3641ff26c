/*
 * jsonstr.c - JSON string bodies: decoding, encoding, and cleaning their
 * text through a nested text-format context.
 *
 * json_unescape turns the bytes between two quotes into the string's value
 * as bytes: escapes are decoded to UTF-8, raw bytes (including invalid
 * UTF-8, which JSON forbids but models and logs contain) are copied as
 * they are. A lone surrogate escape (\uD800-\uDFFF not forming a pair) has
 * no UTF-8 form; it is decoded to its generalized UTF-8 bytes (WTF-8,
 * ED A0 80 for \uD800) so nothing is lost, and json_escape turns those
 * three bytes back into the escape. Decoding never grows: every escape is
 * at least as long as its bytes, so a caller that reserved n bytes in `out`
 * cannot see an out-of-memory failure - and the decoder may store sixteen
 * bytes at a time (SSE2) between escapes without passing that bound.
 * jsonl.c decodes its text fields itself, in its lexer's pass (lex_decode,
 * the same rules).
 *
 * json_escape writes the shortest conventional form: '"', '\\' and control
 * characters escaped (\b \f \n \r \t, others \u00XX in lower case), WTF-8
 * surrogates as \uXXXX, every other byte raw - UTF-8 stays UTF-8, "/" stays
 * "/", and bytes that are not UTF-8 stay as they were in the input. So a
 * string that came from valid JSON goes back to valid JSON with the same
 * value; its bytes change only where the original used another spelling
 * (\u00e9 for e-acute, \/): callers re-escape only strings they repaired.
 *
 * text_clean and text_stream_* run decoded text through one nested
 * repfix_ctx (format text, the parent's kinds, keep and padding option),
 * always in fix mode - the parent's stage A must emit the repaired bytes
 * in flag mode too, so both modes find the same defects. The nested
 * context is created once per parent and reset for each string. Its
 * findings are copied to the parent with the parent's action, record and
 * the string's path; start/end stay offsets in the decoded string (as the
 * report documents for JSON fields) and both stage A positions are the
 * parent's a_off when copied, which resolves to where the string's bytes
 * go in the output.
 */
#include "internal.h"

#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#define JSONSTR_SSE2 1
#include <emmintrin.h>
#endif

/* ---- decoding -------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long json_hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

size_t json_put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t json_decode_escape(const char *p, size_t n, size_t i, char **o, bool *lone)
{
    char *w = *o;
    if (i + 1 >= n)
        return 0;
    switch (p[i + 1]) {
    case '"': *w = '"'; break;
    case '\\': *w = '\\'; break;
    case '/': *w = '/'; break;
    case 'b': *w = '\b'; break;
    case 'f': *w = '\f'; break;
    case 'n': *w = '\n'; break;
    case 'r': *w = '\r'; break;
    case 't': *w = '\t'; break;
    case 'u': {
        long u = i + 6 <= n ? json_hex4(p + i + 2) : -1;
        if (u < 0)
            return 0;
        if (u >= 0xD800 && u <= 0xDBFF && i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u') {
            long lo = json_hex4(p + i + 8);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                *o += json_put_utf8(w, 0x10000 + (((uint32_t)u - 0xD800) << 10) +
                                           ((uint32_t)lo - 0xDC00));
                return 12;
            }
        }
        *lone = u >= 0xD800 && u <= 0xDFFF;
        *o += json_put_utf8(w, (uint32_t)u);
        return 6;
    }
    default:
        return 0;
    }
    *o += 1;
    return 2;
}

/* Index of the first '\\' or control byte in p[i..n), or n; the bytes
 * before it are copied to o (o may be written up to 15 bytes past them,
 * never past o + (n - i): the caller reserved that much). */
static size_t plain_copy(const char *p, size_t n, size_t i, char *o)
{
#ifdef JSONSTR_SSE2
    const __m128i bs = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        _mm_storeu_si128((__m128i *)(void *)o, v);
        /* v <= 0x1F unsigned: min(v, 0x1F) == v */
        __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(v, bs),
                                    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m)
            return i + (unsigned)__builtin_ctz(m);
        i += 16;
        o += 16;
    }
#endif
    while (i < n && p[i] != '\\' && (unsigned char)p[i] >= 0x20)
        *o++ = p[i++];
    return i;
}

bool json_unescape(const char *p, size_t n, rbuf *out, bool *lone_seen)
{
    if (n == 0)
        return true; /* out->p may still be NULL */
    if (!rbuf_reserve(out, n))
        return false;
    char *o = out->p + out->len;
    size_t i = 0;
    for (;;) {
        /* the output never runs ahead of the input: o's store stays in
         * the n bytes reserved */
        size_t k = plain_copy(p, n, i, o);
        o += k - i;
        i = k;
        if (i >= n)
            break;
        bool lone = false;
        size_t k2 = p[i] == '\\' ? json_decode_escape(p, n, i, &o, &lone) : 0;
        if (!k2)
            return false; /* a raw control character, a bad or cut escape */
        if (lone && lone_seen)
            *lone_seen = true;
        i += k2;
    }
    out->len = (size_t)(o - out->p);
    return true;
}

/* ---- encoding -------------------------------------------------------- */

bool json_escape(const char *s, size_t n, bool surrogates, rbuf *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n) {
            unsigned char c = (unsigned char)s[j];
            if (c < 0x20 || c == '"' || c == '\\' ||
                (surrogates && c == 0xED && j + 2 < n && ((unsigned char)s[j + 1] & 0xE0) == 0xA0 &&
                 ((unsigned char)s[j + 2] & 0xC0) == 0x80))
                break;
            j++;
        }
        if (!rbuf_append(out, s + i, j - i))
            return false;
        if (j == n)
            break;
        unsigned char c = (unsigned char)s[j];
        char e[8];
        size_t k = 2, used = 1;
        e[0] = '\\';
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default: {
            unsigned long u = c;
            if (c == 0xED) { /* WTF-8 surrogate back to its escape */
                u = 0xD000 | (((unsigned long)s[j + 1] & 0x3F) << 6) |
                    ((unsigned long)s[j + 2] & 0x3F);
                used = 3;
            }
            e[1] = 'u';
            e[2] = hex[(u >> 12) & 15];
            e[3] = hex[(u >> 8) & 15];
            e[4] = hex[(u >> 4) & 15];
            e[5] = hex[u & 15];
            k = 6;
        }
        }
        if (!rbuf_append(out, e, k))
            return false;
        i = j + used;
    }
    return true;
}

/* ---- cleaning through a nested text context -------------------------- */

bool text_stream_begin(repfix_ctx *parent)
{
    if (!parent->nested) {
        parent->nested = repfix_ctx_new();
        if (!parent->nested) {
            ctx_fail(parent, REPFIX_E_NOMEM);
            return false;
        }
    }
    repfix_ctx *t = parent->nested;
    repfix_ctx_reset(t);
    t->mode = REPFIX_MODE_FIX;
    t->format = REPFIX_FORMAT_TEXT;
    t->kinds = parent->kinds & ~REPFIX_KIND_BIT(REPFIX_K_INVALID_JSON);
    t->keep = parent->keep;
    t->unicode_padding = parent->unicode_padding;
    t->stop_on_loop = false;
    return true;
}

/* Copies the nested context's ready findings into the parent, or hands
 * them to fn when given. */
static void copy_findings(repfix_ctx *parent, const char *path, text_finding_fn fn, void *arg)
{
    repfix_finding f;
    while (repfix_next_finding(parent->nested, &f)) {
        f.action = parent->mode == REPFIX_MODE_FIX ? REPFIX_ACTION_FIXED : REPFIX_ACTION_FLAGGED;
        f.record = parent->record;
        memset(f.path, 0, sizeof f.path);
        if (path) {
            size_t k = strlen(path);
            memcpy(f.path, path, k < sizeof f.path - 1 ? k : sizeof f.path - 1);
        }
        if (fn)
            fn(parent, arg, &f);
        else
            finding_add_copy(parent, &f, parent->a_off, parent->a_off);
        if (f.kind == REPFIX_K_REPEAT && parent->stop_on_loop)
            parent->stopped = true;
    }
}

bool text_stream_feed(repfix_ctx *parent, const char *s, size_t n, bool end, rbuf *out,
                      const char *path)
{
    return text_stream_feed_cb(parent, s, n, end, out, path, NULL, NULL);
}

bool text_stream_feed_cb(repfix_ctx *parent, const char *s, size_t n, bool end, rbuf *out,
                         const char *path, text_finding_fn fn, void *arg)
{
    repfix_ctx *t = parent->nested;
    if (parent->error || !t)
        return false;
    repfix_in in = {s, n, 0};
    for (;;) {
        size_t room = n + 4096;
        if (!rbuf_reserve(out, room)) {
            ctx_fail(parent, REPFIX_E_NOMEM);
            return false;
        }
        repfix_out o = {out->p + out->len, room, 0};
        repfix_status st = repfix_process(t, &o, &in, end ? REPFIX_END : REPFIX_CONTINUE);
        out->len += o.pos;
        copy_findings(parent, path, fn, arg);
        if (parent->error)
            return false;
        if (st != REPFIX_OK) {
            ctx_fail(parent, st == REPFIX_E_NOMEM ? REPFIX_E_NOMEM : REPFIX_E_STATE);
            return false;
        }
        if (in.pos < in.size || o.pos == o.size)
            continue;
        if (end && repfix_held(t) > 0)
            continue;
        break;
    }
    return true;
}

bool text_clean(repfix_ctx *parent, const char *s, size_t n, rbuf *out, const char *path)
{
    return text_stream_begin(parent) && text_stream_feed(parent, s, n, true, out, path);
}
