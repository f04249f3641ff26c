/*
 * jsonl.c - stage A for JSON Lines: one record a line, text fields cleaned
 * in place.
 *
 * A record is one line (split at '\n'; "\r\n" stays the line's ending). For
 * each complete line a small path-tracking lexer walks the record bytes: it
 * validates the record (RFC 8259, strict: no raw control characters in
 * strings, no leading zeros, depth <= 1000 like cJSON) and notes, for every
 * string value, its byte span and path. Strings whose path has a known shape
 * (Gemini candidates[].content.parts[].text and contents[].parts[].text,
 * OpenAI choices[].message.content, choices[].delta.content, choices[].text,
 * messages[].content and messages[].content[].text, Anthropic
 * content[].text, and the reasoning next to them: thinking blocks,
 * reasoning_content, Responses summaries, see builtin_paths; each at any
 * depth so wrapped logs such as batch outputs match too) or that a --field path names (anchored at the record root) are
 * the record's text fields. The lexer is the validator; cJSON
 * (cJSON_ParseWithLengthOpts only) builds the tree that toolcall_record
 * reads, for the records that may hold a tool call, and never prints one.
 *
 * Each text field is decoded while it is lexed (lex_decode: the lexer's
 * checks and json_unescape's output in one pass over its bytes), cleaned as
 * text (text_clean, findings with the record number, the field's path and
 * offsets in the decoded field) and, only where the cleaned text differs,
 * re-escaped and spliced into the record's original bytes: the common
 * prefix and suffix of the decoded and the cleaned text keep their original
 * spelling (an escape is never cut), so every byte outside the repaired
 * stretch of the value - big integers, \u00e9 escapes, key order, odd
 * spacing - is kept. A record with nothing to repair is emitted as it came,
 * from the input itself when the line was whole in one feed. Two shortcuts
 * keep clean records cheap: a string without escapes is cleaned from the
 * record bytes (its decoded copy is dropped), and a short field that no
 * default could fire on (quiet_text) is not cleaned at all. Strings are
 * scanned sixteen bytes at a time with SSE2 (eight without), and a record
 * is only parsed by cJSON when a key or short value mentions a tool or
 * function (tool_word).
 *
 * A line that is not a JSON value passes through unchanged with one
 * invalid-json finding (flagged); empty and whitespace-only lines pass
 * through silently. A line longer than JSONL_MAX_RECORD bytes is not held:
 * once its first JSONL_MAX_RECORD bytes have gone out, the rest passes
 * through as it comes, and the line is reported as one invalid-json
 * finding spanning it all (its group stays open until the line ends).
 *
 * Stage B (the loop detector) does not see JSONL records: hold.c sends
 * them straight to the output, as repeated records are data; loops inside
 * a text field are found by the nested text context.
 */
#include <cjson/cJSON.h>

#include "internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#define JSONL_SSE2 1
#include <emmintrin.h>
#endif

/* Longest record held whole (documented in docs/batch.md). */
#define JSONL_MAX_RECORD (64u << 20)
/* Deepest nesting accepted; cJSON's own limit (CJSON_NESTING_LIMIT). */
#define JSONL_MAX_DEPTH 1000
/* Group of the invalid-json finding of an over-long line (extended per
 * fragment, closed at the line end). */
#define OVERLONG_GROUP 0x4a534f4eu

typedef enum { SEG_KEY, SEG_ANY, SEG_INDEX } seg_type;

typedef struct {
    seg_type type;
    const char *name; /* SEG_KEY: into the path's text */
    size_t len;
    uint64_t index; /* SEG_INDEX */
} path_seg;

typedef struct {
    path_seg *seg;
    size_t n;
    bool anchored; /* --field paths start at the record root */
} path_pat;

/* One open container while lexing. */
typedef struct {
    const char *key; /* object: raw key body of the current member */
    uint32_t key_len;
    bool key_esc; /* the raw key contains escapes */
    bool array;
    uint64_t index; /* array: index of the current element */
} frame;

/* A text field found in the record. */
typedef struct {
    size_t start, end; /* string body, inside the quotes */
    bool esc;          /* it has escapes (else its bytes are its value) */
    size_t dec, dec_len; /* esc: its value in jsonl_state.dec */
    char path[96];
} target;

struct jsonl_state {
    bool compiled;
    path_pat *pats;
    size_t n_pats;
    uint8_t last_key[32]; /* first bytes of the patterns' last key names */
    bool last_elem;       /* a pattern ends in [] or [N] */

    rbuf line;         /* current incomplete line */
    uint64_t line_in;  /* input offset of the current line */
    uint64_t record;   /* 0-based number of the current line */
    bool fragment;     /* the current line is over-long: going out in fragments */
    bool last_cr;      /* the last fragment byte was a CR */

    frame *stack;
    size_t cap_stack;
    target *targets;
    size_t n_targets, cap_targets;
    rbuf dec, clean, esc, key;
    bool tool_marker;  /* the record may hold a tool call */
    bool lone;         /* the record has an unpaired surrogate escape */
    cJSON *no_calls;   /* what toolcall_record sees of a record without any */
};

static const char *const builtin_paths[] = {
    "candidates[].content.parts[].text", /* Gemini GenerateContentResponse */
    "contents[].parts[].text",           /* Gemini request / history */
    "choices[].message.content",         /* OpenAI chat completion */
    "choices[].delta.content",           /* OpenAI stream chunk */
    "choices[].text",                    /* OpenAI legacy completion */
    "messages[].content",                /* OpenAI / Anthropic messages, string */
    "messages[].content[].text",         /* content parts */
    "content[].text",                    /* Anthropic message; OpenAI Responses output[] */
    "content[].thinking",                /* Anthropic extended thinking */
    "choices[].message.reasoning_content", /* DeepSeek, vLLM, Qwen reasoning */
    "choices[].delta.reasoning_content",
    "choices[].message.reasoning",       /* OpenRouter, Ollama's OpenAI API */
    "choices[].delta.reasoning",
    "summary[].text",                    /* OpenAI Responses reasoning summary */
    "message.content",                   /* Ollama /api/chat */
    "message.thinking",
};

jsonl_state *jsonl_new(void) { return calloc(1, sizeof(jsonl_state)); }

static void free_pats(jsonl_state *j)
{
    for (size_t i = 0; i < j->n_pats; i++)
        free(j->pats[i].seg);
    free(j->pats);
    j->pats = NULL;
    j->n_pats = 0;
    memset(j->last_key, 0, sizeof j->last_key);
    j->last_elem = false;
    j->compiled = false;
}

void jsonl_free(jsonl_state *j)
{
    if (!j)
        return;
    free_pats(j);
    rbuf_free(&j->line);
    rbuf_free(&j->dec);
    rbuf_free(&j->clean);
    rbuf_free(&j->esc);
    rbuf_free(&j->key);
    free(j->stack);
    free(j->targets);
    cJSON_Delete(j->no_calls);
    free(j);
}

void jsonl_reset(jsonl_state *j)
{
    /* fields may be added between streams: compile them again */
    free_pats(j);
    j->line.len = 0;
    j->line_in = 0;
    j->record = 0;
    j->fragment = false;
    j->n_targets = 0;
}

/* ---- path patterns ---------------------------------------------------- */

/* Parses "a.b[].c[2]" into segments (seg may be NULL: syntax only); names
 * point into s. False when malformed. */
static bool parse_segs(const char *s, path_seg *seg, size_t *nseg)
{
    size_t n = strlen(s), i = 0, ns = 0;
    while (i < n) {
        path_seg g;
        if (s[i] == '[') {
            size_t k = i + 1;
            uint64_t v = 0;
            while (k < n && s[k] >= '0' && s[k] <= '9' && v < UINT64_MAX / 10)
                v = v * 10 + (uint64_t)(s[k++] - '0');
            if (k >= n || s[k] != ']')
                return false;
            g = (path_seg){k == i + 1 ? SEG_ANY : SEG_INDEX, NULL, 0, v};
            i = k + 1;
            if (i < n && s[i] != '.' && s[i] != '[')
                return false;
        } else {
            size_t k = i;
            while (k < n && s[k] != '.' && s[k] != '[')
                k++;
            if (k == i)
                return false;
            g = (path_seg){SEG_KEY, s + i, k - i, 0};
            i = k;
        }
        if (i < n && s[i] == '.' && ++i == n)
            return false;
        if (seg)
            seg[ns] = g;
        ns++;
    }
    *nseg = ns;
    return ns > 0;
}

bool jsonl_path_ok(const char *path)
{
    size_t n;
    return parse_segs(path, NULL, &n);
}

static bool compile(repfix_ctx *ctx, jsonl_state *j)
{
    size_t nb = sizeof builtin_paths / sizeof *builtin_paths;
    free_pats(j);
    j->pats = calloc(nb + ctx->n_fields, sizeof *j->pats);
    if (!j->pats) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    for (size_t i = 0; i < nb + ctx->n_fields; i++) {
        /* the names point into builtin_paths or ctx->fields, which outlive
         * the stream (fields change only before it starts) */
        const char *src = i < nb ? builtin_paths[i] : ctx->fields[i - nb];
        path_pat *pat = &j->pats[j->n_pats];
        size_t n;
        if (!parse_segs(src, NULL, &n))
            continue; /* repfix_add_field refuses these */
        pat->seg = malloc(n * sizeof *pat->seg);
        if (!pat->seg) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        parse_segs(src, pat->seg, &pat->n);
        pat->anchored = i >= nb;
        const path_seg *last = &pat->seg[pat->n - 1];
        unsigned char c = last->type == SEG_KEY ? (unsigned char)last->name[0] : 0;
        if (last->type == SEG_KEY)
            j->last_key[c >> 3] |= (uint8_t)(1u << (c & 7));
        else
            j->last_elem = true;
        j->n_pats++;
    }
    j->compiled = true;
    return true;
}

/* The key of frame f equals name[0..len) (after decoding escapes). */
static bool key_is(jsonl_state *j, const frame *f, const char *name, size_t len)
{
    if (!f->key_esc)
        return f->key_len == len && memcmp(f->key, name, len) == 0;
    j->key.len = 0;
    if (!json_unescape(f->key, f->key_len, &j->key, NULL))
        return false;
    return j->key.len == len && memcmp(j->key.p, name, len) == 0;
}

/* The path of a value under the open frames [0, depth) matches pat.
 * Innermost segment first: most values fail on their own key. */
static bool pat_match(jsonl_state *j, const path_pat *pat, size_t depth)
{
    if (pat->n > depth || (pat->anchored && pat->n != depth))
        return false;
    const frame *f = j->stack + (depth - pat->n);
    for (size_t i = pat->n; i-- > 0;) {
        const path_seg *s = &pat->seg[i];
        switch (s->type) {
        case SEG_KEY:
            if (f[i].array || !key_is(j, &f[i], s->name, s->len))
                return false;
            break;
        case SEG_ANY:
            if (!f[i].array)
                return false;
            break;
        case SEG_INDEX:
            if (!f[i].array || f[i].index != s->index)
                return false;
            break;
        }
    }
    return true;
}

/* "[N]" into out (24 bytes); returns its length. */
static size_t index_text(uint64_t v, char *out)
{
    char d[20];
    size_t n = 0, k = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    out[k++] = '[';
    while (n)
        out[k++] = d[--n];
    out[k++] = ']';
    return k;
}

/* Writes the path of the value under frames [0, depth) ("a.b[3].c"),
 * truncated to fit. */
static void path_write(jsonl_state *j, size_t depth, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < depth && k + 1 < size; i++) {
        const frame *f = &j->stack[i];
        char tmp[24];
        const char *s;
        size_t n;
        if (f->array) {
            n = index_text(f->index, tmp);
            s = tmp;
        } else {
            if (i > 0 && k + 1 < size)
                out[k++] = '.';
            s = f->key;
            n = f->key_len;
            if (f->key_esc) {
                j->key.len = 0;
                if (json_unescape(f->key, f->key_len, &j->key, NULL)) {
                    s = j->key.p;
                    n = j->key.len;
                }
            }
        }
        if (n > size - 1 - k)
            n = size - 1 - k;
        memcpy(out + k, s, n);
        k += n;
    }
    out[k] = '\0';
}

/* ---- the lexer -------------------------------------------------------- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Index of the first '"', '\\' or control byte at or after p[i], or n.
 * Eight bytes at a time (the bit tricks of "Bit Twiddling Hacks": a byte of
 * w is below k when (w - k*ONES) & ~w & HIGHS has its high bit). */
static size_t string_stop(const char *p, size_t n, size_t i)
{
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t q = w ^ (0x22 * ONES), b = w ^ (0x5c * ONES);
        uint64_t hit = ((w - 0x20 * ONES) | (q - ONES) | (b - ONES)) & ~w & HIGHS;
        /* q and b have the high bits of w: one ~w serves all three */
        if (hit)
            break;
        i += 8;
    }
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return i;
        i++;
    }
    return n;
}

#ifdef JSONL_SSE2
/* Bit k set when byte k of v is '"', '\\' or a control byte. */
static inline unsigned stop_mask(__m128i v)
{
    const __m128i qu = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
    /* v <= 0x1F unsigned: min(v, 0x1F) == v */
    __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, qu), _mm_cmpeq_epi8(v, bs)),
                                _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
    return (unsigned)_mm_movemask_epi8(stop);
}
#endif

/* The \u escape at p[i] (validated) is a surrogate without its partner:
 * valid JSON text, but cJSON refuses it. */
static bool lone_surrogate(const char *p, size_t n, size_t i, size_t *skip)
{
    unsigned u = (unsigned)json_hex4(p + i + 2);
    *skip = 6;
    if (u < 0xD800 || u > 0xDFFF)
        return false;
    if (u <= 0xDBFF && i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u' &&
        is_hex(p[i + 8]) && is_hex(p[i + 9]) && is_hex(p[i + 10]) && is_hex(p[i + 11])) {
        unsigned lo = (unsigned)json_hex4(p + i + 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *skip = 12;
            return false;
        }
    }
    return true;
}

/* The escape at p[i] (a backslash): index after it, or 0 when invalid.
 * *lone: set when it is an unpaired surrogate. */
static inline size_t escape_end(const char *p, size_t n, size_t i, bool *lone)
{
    if (i + 1 >= n)
        return 0;
    switch (p[i + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return i + 2;
    case 'u': {
        if (i + 6 > n || !is_hex(p[i + 2]) || !is_hex(p[i + 3]) || !is_hex(p[i + 4]) ||
            !is_hex(p[i + 5]))
            return 0;
        size_t skip;
        if (lone_surrogate(p, n, i, &skip))
            *lone = true;
        return i + skip;
    }
    default:
        return 0;
    }
}

/* p[i] is just after an opening quote: index of the closing quote, or 0
 * when the string is invalid or unterminated. *esc: it had escapes;
 * *lone: set when it has an unpaired surrogate escape. With SSE2 sixteen
 * bytes are classified at once and the escapes inside a block are stepped
 * over without loading it again (text fields have one every line). */
static size_t lex_string(const char *p, size_t n, size_t i, bool *esc, bool *lone)
{
    *esc = false;
#ifdef JSONL_SSE2
    while (i + 16 <= n) {
        unsigned m = stop_mask(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        size_t next = i + 16;
        while (m) {
            size_t k = i + (unsigned)__builtin_ctz(m);
            if (p[k] == '"')
                return k;
            if (p[k] != '\\')
                return 0; /* raw control character */
            *esc = true;
            if (!(k = escape_end(p, n, k, lone)))
                return 0;
            if (k >= i + 16) {
                next = k;
                break;
            }
            m &= ~0u << (k - i); /* the escape's own bytes are no stops */
        }
        i = next;
    }
#endif
    for (;;) {
        i = string_stop(p, n, i);
        if (i >= n)
            return 0;
        if (p[i] == '"')
            return i;
        if (p[i] != '\\')
            return 0; /* raw control character */
        *esc = true;
        if (!(i = escape_end(p, n, i, lone)))
            return 0;
    }
}

/* Index of the first '"', '\\' or control byte at or after p[i], or n;
 * the bytes before it are copied to o (which may be written up to 15
 * bytes further, never past o + (n - i)). */
static size_t plain_copy(const char *p, size_t n, size_t i, char *o)
{
#ifdef JSONL_SSE2
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        _mm_storeu_si128((__m128i *)(void *)o, v);
        unsigned m = stop_mask(v);
        if (m)
            return i + (unsigned)__builtin_ctz(m);
        i += 16;
        o += 16;
    }
#endif
    size_t k = string_stop(p, n, i);
    memcpy(o, p + i, k - i);
    return k;
}

/*
 * lex_string for a text field, which also decodes it, as json_unescape
 * would, into out (n - i bytes reserved there: the value is never longer
 * than its spelling), so its bytes are read once. out->len grows only when
 * the string is valid.
 */
static size_t lex_decode(const char *p, size_t n, size_t i, bool *esc, bool *lone, rbuf *out)
{
    char *o = out->p + out->len;
    *esc = false;
    for (;;) {
        size_t k = plain_copy(p, n, i, o);
        o += k - i;
        i = k;
        if (i >= n)
            return 0;
        if (p[i] == '"') {
            out->len = (size_t)(o - out->p);
            return i;
        }
        bool lone_here = false;
        size_t k2 = p[i] == '\\' ? json_decode_escape(p, n, i, &o, &lone_here) : 0;
        if (!k2)
            return 0; /* a raw control character, a bad or cut escape */
        *esc = true;
        *lone |= lone_here;
        i += k2;
    }
}

/* Whether the 'o' at s[k] begins to spell "tool" (any case) from k - 1 or
 * "unction" from k - 5 in s[0..n) (1 <= k, k + 2 <= n). */
static bool tool_at(const char *s, size_t n, size_t k)
{
    if (k + 3 <= n && (s[k - 1] | 0x20) == 't' && (s[k + 1] | 0x20) == 'o' &&
        (s[k + 2] | 0x20) == 'l')
        return true;
    return k >= 5 && memcmp(s + k - 5, "unction", 7) == 0;
}

/* The key or short value s[0..n) may mark a tool call ("tool_calls",
 * "tool_use", "functionCall", "function_call", "toolUse", ...): it holds
 * "tool" in any case or "unction". Both have an 'o' (or 'O') at a fixed
 * place, so only those bytes are looked at closer; with SSE2 they are
 * found at once when room (bytes readable at s) allows 32-byte loads. */
static bool tool_word(const char *s, size_t n, size_t room)
{
    if (n < 4)
        return false;
#ifdef JSONL_SSE2
    if (n <= 32 && room >= 32) {
        const __m128i low = _mm_set1_epi8(0x20), o = _mm_set1_epi8('o');
#define O16(q) ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8( \
        _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(q)), low), o)))
        uint32_t m = O16(s);
        if (n > 16)
            m |= O16(s + 16) << 16;
#undef O16
        m &= (((uint32_t)1 << (n - 1)) - 1) & ~(uint32_t)1; /* 1 <= k <= n - 2 */
        for (; m; m &= m - 1)
            if (tool_at(s, n, (unsigned)__builtin_ctz(m)))
                return true;
        return false;
    }
#else
    (void)room;
#endif
    for (size_t k = 1; k + 2 <= n; k++)
        if ((s[k] | 0x20) == 'o' && tool_at(s, n, k))
            return true;
    return false;
}

/* A number at p[i]: index after it, or 0 when malformed. */
static size_t lex_number(const char *p, size_t n, size_t i)
{
    if (i < n && p[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (p[i] == '0')
        i++;
    else if (p[i] >= '1' && p[i] <= '9')
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i;
}

static inline size_t skip_ws(const char *p, size_t n, size_t i)
{
    /* most calls stop at once, on a token byte above ' ' */
    if (i < n && (unsigned char)p[i] > ' ')
        return i;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

static bool push(repfix_ctx *ctx, jsonl_state *j, size_t depth, bool array)
{
    if (depth >= JSONL_MAX_DEPTH)
        return false;
    if (depth == j->cap_stack) {
        size_t cap = j->cap_stack ? j->cap_stack * 2 : 32;
        frame *s = realloc(j->stack, cap * sizeof *s);
        if (!s) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        j->stack = s;
        j->cap_stack = cap;
    }
    j->stack[depth] = (frame){NULL, 0, false, array, 0};
    return true;
}

/* Some pattern matches the path under frames [0, depth). */
static bool any_pat(jsonl_state *j, size_t depth)
{
    for (size_t k = 0; k < j->n_pats; k++)
        if (pat_match(j, &j->pats[k], depth))
            return true;
    return false;
}

/* The value under frames [0, depth) is a text field. */
static bool is_field(jsonl_state *j, size_t depth)
{
    if (depth == 0)
        return false;
    /* most values fail on their own key or index: a look at one byte */
    const frame *f = &j->stack[depth - 1];
    if (f->array)
        return j->last_elem && any_pat(j, depth);
    if (!f->key_esc) {
        unsigned char c = f->key_len ? (unsigned char)f->key[0] : 0;
        if (!f->key_len || !((j->last_key[c >> 3] >> (c & 7)) & 1))
            return false;
    }
    return any_pat(j, depth);
}

/* A text field's string spans p[start..end): a new target (its value, if
 * it has escapes, at dec). */
static bool add_target(repfix_ctx *ctx, jsonl_state *j, size_t depth, size_t start, size_t end,
                       bool esc, size_t dec)
{
    if (j->n_targets == j->cap_targets) {
        size_t cap = j->cap_targets ? j->cap_targets * 2 : 8;
        target *t = realloc(j->targets, cap * sizeof *t);
        if (!t) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        j->targets = t;
        j->cap_targets = cap;
    }
    target *t = &j->targets[j->n_targets++];
    t->start = start;
    t->end = end;
    t->esc = esc;
    t->dec = dec;
    t->dec_len = j->dec.len - dec;
    path_write(j, depth, t->path, sizeof t->path);
    return true;
}

/* The string value at p[i] (its opening quote): index of its closing quote,
 * or 0 when invalid (or out of memory: ctx->error). A text field is
 * decoded into j->dec as it is lexed and becomes a target. */
static size_t string_value(repfix_ctx *ctx, jsonl_state *j, const char *p, size_t n,
                           size_t i, size_t depth, bool *esc)
{
    if (!is_field(j, depth))
        return lex_string(p, n, i + 1, esc, &j->lone);
    size_t dec = j->dec.len;
    if (!rbuf_reserve(&j->dec, n - i)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return 0;
    }
    size_t e = lex_decode(p, n, i + 1, esc, &j->lone, &j->dec);
    if (!e)
        return 0;
    if (!*esc)
        j->dec.len = dec; /* its bytes are its value: no copy kept */
    return add_target(ctx, j, depth, i + 1, e, *esc, dec) ? e : 0;
}

/*
 * Validates the record p[0..n) (one JSON value, whitespace around it, a BOM
 * before it) and collects its text fields in j->targets. An iterative
 * descent: j->stack holds the open containers, so depth costs no C stack.
 */
static bool lex_record(repfix_ctx *ctx, jsonl_state *j, const char *p, size_t n)
{
    size_t i = 0, depth = 0;
    j->n_targets = 0;
    j->dec.len = 0;
    j->tool_marker = j->lone = false;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (;;) {
        /* a value is expected at p[i] */
        i = skip_ws(p, n, i);
        if (i >= n)
            return false;
        switch (p[i]) {
        case '{':
            if (!push(ctx, j, depth, false))
                return false;
            depth++;
            i = skip_ws(p, n, i + 1);
            if (i < n && p[i] == '}') {
                depth--;
                i++;
                break;
            }
            goto member;
        case '[':
            if (!push(ctx, j, depth, true))
                return false;
            depth++;
            i = skip_ws(p, n, i + 1);
            if (i < n && p[i] == ']') {
                depth--;
                i++;
                break;
            }
            continue;
        case '"': {
            bool esc;
            size_t e = string_value(ctx, j, p, n, i, depth, &esc);
            if (!e)
                return false;
            if (!j->tool_marker && e - i - 1 <= 32)
                j->tool_marker = esc || tool_word(p + i + 1, e - i - 1, n - i - 1);
            i = e + 1;
            break;
        }
        case 't':
            if (n - i < 4 || memcmp(p + i, "true", 4) != 0)
                return false;
            i += 4;
            break;
        case 'f':
            if (n - i < 5 || memcmp(p + i, "false", 5) != 0)
                return false;
            i += 5;
            break;
        case 'n':
            if (n - i < 4 || memcmp(p + i, "null", 4) != 0)
                return false;
            i += 4;
            break;
        default:
            if (!(i = lex_number(p, n, i)))
                return false;
            break;
        }
        /* after a value: close containers, or go on to the next element */
        for (;;) {
            i = skip_ws(p, n, i);
            if (depth == 0)
                return i == n;
            if (i >= n)
                return false;
            frame *f = &j->stack[depth - 1];
            if (p[i] == ',') {
                i++;
                if (f->array) {
                    f->index++;
                    goto value;
                }
                i = skip_ws(p, n, i);
                goto member;
            }
            if (p[i] != (f->array ? ']' : '}'))
                return false;
            depth--;
            i++;
        }
    member:
        /* p[i] should open the key of the next member of stack[depth-1] */
        {
            if (i >= n || p[i] != '"')
                return false;
            bool esc;
            size_t e = lex_string(p, n, i + 1, &esc, &j->lone);
            if (!e)
                return false;
            frame *f = &j->stack[depth - 1];
            f->key = p + i + 1;
            f->key_len = (uint32_t)(e - i - 1);
            f->key_esc = esc;
            if (!j->tool_marker)
                j->tool_marker = esc || tool_word(f->key, f->key_len, n - i - 1);
            i = skip_ws(p, n, e + 1);
            if (i >= n || p[i] != ':')
                return false;
            i++;
        }
    value:;
    }
}

/* ---- records ---------------------------------------------------------- */

static void invalid_finding(repfix_ctx *ctx, jsonl_state *j, uint64_t in_start,
                            uint64_t in_end, uint64_t a_len, uint32_t group, bool extend)
{
    if (!kind_on(ctx, REPFIX_K_INVALID_JSON))
        return;
    if (!group) {
        repfix_finding f;
        memset(&f, 0, sizeof f);
        f.kind = REPFIX_K_INVALID_JSON;
        f.action = REPFIX_ACTION_FLAGGED;
        f.start = in_start;
        f.end = in_end;
        f.line = j->record + 1;
        f.count = 1;
        f.record = (int64_t)j->record;
        finding_add_copy(ctx, &f, ctx->a_off, ctx->a_off + a_len);
        return;
    }
    finding_add(ctx, REPFIX_K_INVALID_JSON, in_start, in_end, ctx->a_off, ctx->a_off + a_len,
                j->record + 1, 0, 0, extend ? 0 : 1, group);
    /* finding_add takes the mode's action: this one is never fixed */
    if (!extend && !ctx->error && ctx->n_findings > ctx->first_finding) {
        pending_finding *pf = &ctx->findings[ctx->n_findings - 1];
        if (pf->f.kind == REPFIX_K_INVALID_JSON && pf->group == group)
            pf->f.action = REPFIX_ACTION_FLAGGED;
    }
}

/*
 * Text no default can find a defect in, so cleaning it is skipped (streamed
 * chunks, short messages): shorter than the shortest loop (DESIGN.md: a
 * repeat covers at least 64 bytes) and without a line break, table pipe,
 * backslash, tab or two spaces in a row, which every other kind needs
 * (blank lines, table rows, escape sequences, whitespace runs).
 */
static bool quiet_text(const char *s, size_t n)
{
    if (n >= 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == '|' || c == '\\' ||
            (c == ' ' && i + 1 < n && s[i + 1] == ' '))
            return false;
    }
    return true;
}

static bool same(const rbuf *a, const rbuf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/*
 * Splices the cleaned text of the string body raw[0..n) (decoded: dec,
 * cleaned: cl) and emits it: the raw spelling is kept for the longest
 * common prefix and suffix of dec and cl that end at escape boundaries;
 * only the stretch between them is re-escaped.
 */
static void splice(repfix_ctx *ctx, jsonl_state *j, const rbuf *dec, const char *raw, size_t n,
                   uint64_t in_off)
{
    const rbuf *cl = &j->clean;
    size_t min = dec->len < cl->len ? dec->len : cl->len, pre = 0, suf = 0;
    while (pre + 8 <= min && memcmp(dec->p + pre, cl->p + pre, 8) == 0)
        pre += 8;
    while (pre < min && dec->p[pre] == cl->p[pre])
        pre++;
    while (suf + 8 <= min - pre &&
           memcmp(dec->p + dec->len - 8 - suf, cl->p + cl->len - 8 - suf, 8) == 0)
        suf += 8;
    while (suf < min - pre && dec->p[dec->len - 1 - suf] == cl->p[cl->len - 1 - suf])
        suf++;
    /* unit boundaries: (rp, dp) last at or before pre, (rs, ds) first at or
     * after dec->len - suf */
    size_t i = 0, d = 0, rp = 0, dp = 0, rs = SIZE_MAX, ds = 0, want = dec->len - suf;
    while (i < n) {
        if (raw[i] != '\\') {
            /* a run of raw bytes, one unit each: boundaries (i + k, d + k)
             * for k < run, taken at once */
            const char *bs = memchr(raw + i, '\\', n - i);
            size_t run = (bs ? (size_t)(bs - raw) : n) - i;
            size_t stop = d >= want ? 0 : want - d < run ? want - d : SIZE_MAX;
            size_t last = stop == SIZE_MAX ? run - 1 : stop;
            if (d <= pre) {
                size_t k = pre - d < last ? pre - d : last;
                rp = i + k;
                dp = d + k;
            }
            if (stop != SIZE_MAX) {
                i += stop;
                d += stop;
                rs = i;
                ds = d;
                break;
            }
            i += run;
            d += run;
            continue;
        }
        if (d <= pre) {
            rp = i;
            dp = d;
        }
        if (d >= want) {
            rs = i;
            ds = d;
            break;
        }
        if (raw[i + 1] != 'u') {
            i += 2;
            d++;
            continue;
        }
        unsigned u = (unsigned)json_hex4(raw + i + 2);
        if (u >= 0xD800 && u <= 0xDBFF && i + 12 <= n && raw[i + 6] == '\\' && raw[i + 7] == 'u') {
            unsigned lo = (unsigned)json_hex4(raw + i + 8);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                i += 12;
                d += 4;
                continue;
            }
        }
        i += 6;
        d += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
    }
    if (rs == SIZE_MAX) {
        if (d <= pre) {
            rp = i;
            dp = d;
        }
        rs = i;
        ds = d;
    }
    if (d < ds || (i == n && d != dec->len) || dp > ds) { /* cannot happen: re-escape all */
        rp = dp = 0;
        rs = n;
        ds = dec->len;
    }
    j->esc.len = 0;
    if (!json_escape(cl->p + dp, cl->len - (dec->len - ds) - dp, j->lone, &j->esc)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    stage_a_emit(ctx, raw, rp, in_off, rp, BLOCK_JSON);
    stage_a_emit(ctx, j->esc.p, j->esc.len, in_off + rp, rs - rp, BLOCK_JSON);
    stage_a_emit(ctx, raw + rs, n - rs, in_off + rs, n - rs, BLOCK_JSON);
}

/*
 * Hands the record's tree to the tool-call detector. Only a record whose
 * keys or short values mention a tool or function is parsed; every other
 * record is shown as an empty object, which holds no call either way, so
 * the detector still sees one record per line while the parse (the biggest
 * cost per record) is skipped. A record cJSON rejects though the lexer
 * accepted it (a lone surrogate escape, a number longer than cJSON's 63
 * characters) is shown as empty too.
 */
static bool tool_calls(repfix_ctx *ctx, jsonl_state *j, const char *p, size_t len)
{
    cJSON *root = j->tool_marker ? cJSON_ParseWithLengthOpts(p, len, NULL, 0) : NULL;
    /* cJSON refuses nothing else the lexer accepts: a failure is memory */
    if ((j->tool_marker && !root && !j->lone) ||
        (!root && !j->no_calls && !(j->no_calls = cJSON_CreateObject()))) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    toolcall_record(ctx, root ? root : j->no_calls);
    cJSON_Delete(root);
    return !ctx->error;
}

/* One complete line: content p[0..len), then eol line-ending bytes. */
static void record_line(repfix_ctx *ctx, jsonl_state *j, const char *p, size_t len, size_t eol)
{
    uint64_t in_off = j->line_in;
    size_t total = len + eol;
    ctx->record = (int64_t)j->record;
    if (line_is_blank(p, len)) {
        stage_a_emit(ctx, p, total, in_off, total, BLOCK_JSON);
        goto done;
    }
    if (!lex_record(ctx, j, p, len)) {
        if (ctx->error)
            return;
        invalid_finding(ctx, j, in_off, in_off + len, total, 0, false);
        stage_a_emit(ctx, p, total, in_off, total, BLOCK_JSON);
        goto done;
    }
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT) && !tool_calls(ctx, j, p, len))
        return;
    size_t pos = 0;
    for (size_t k = 0; k < j->n_targets && !ctx->error; k++) {
        const target *t = &j->targets[k];
        /* without escapes the raw bytes are the value: no copy */
        rbuf raw = {(char *)(uintptr_t)(p + t->start), t->end - t->start, 0};
        rbuf val = {j->dec.p + t->dec, t->dec_len, 0};
        const rbuf *dec = t->esc ? &val : &raw;
        if (quiet_text(dec->p, dec->len))
            continue;
        /* findings of the field resolve to where its bytes go out */
        stage_a_emit(ctx, p + pos, t->start - pos, in_off + pos, t->start - pos, BLOCK_JSON);
        pos = t->start;
        j->clean.len = 0;
        if (!text_clean(ctx, dec->p, dec->len, &j->clean, t->path))
            return;
        if (same(dec, &j->clean))
            continue;
        splice(ctx, j, dec, raw.p, raw.len, in_off + t->start);
        pos = t->end;
    }
    stage_a_emit(ctx, p + pos, total - pos, in_off + pos, total - pos, BLOCK_JSON);
done:
    ctx->record = -1;
    j->line_in += total;
    j->record++;
}

/* A piece of an over-long line, passed through as it comes; extends the
 * line's finding. last: the piece ends the line (eol bytes at its end). */
static void fragment(repfix_ctx *ctx, jsonl_state *j, const char *p, size_t n, bool last)
{
    /* the line's content ends before "\n" or "\r\n", whichever piece the
     * CR came in */
    size_t eol = 0;
    if (last && n > 0)
        eol = (n >= 2 ? p[n - 2] == '\r' : j->last_cr) ? 2 : 1;
    ctx->record = (int64_t)j->record;
    invalid_finding(ctx, j, j->line_in, j->line_in + n - eol, n, OVERLONG_GROUP, j->fragment);
    stage_a_emit(ctx, p, n, j->line_in, n, BLOCK_JSON);
    if (n)
        j->last_cr = p[n - 1] == '\r';
    j->line_in += n;
    j->fragment = true;
    if (last) {
        finding_close_group(ctx, OVERLONG_GROUP);
        j->fragment = false;
        j->record++;
    }
    ctx->record = -1;
}

static size_t eol_of(const char *p, size_t seg)
{
    return seg >= 2 && p[seg - 2] == '\r' ? 2 : 1;
}

void jsonl_feed(repfix_ctx *ctx, const char *p, size_t n)
{
    jsonl_state *j = ctx->jsonl;
    if (!j->compiled && !compile(ctx, j))
        return;
    while (n > 0 && !ctx->error) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        size_t content = nl ? seg - 1 : seg;
        if (j->fragment) {
            fragment(ctx, j, p, seg, nl != NULL);
        } else if (content > JSONL_MAX_RECORD - j->line.len) {
            /* over-long: fill the cap, send it on, pass the rest through */
            seg = JSONL_MAX_RECORD - j->line.len;
            if (!rbuf_append(&j->line, p, seg)) {
                ctx_fail(ctx, REPFIX_E_NOMEM);
                return;
            }
            fragment(ctx, j, j->line.p, j->line.len, false);
            j->line.len = 0;
        } else if (nl && j->line.len == 0) {
            size_t eol = eol_of(p, seg);
            record_line(ctx, j, p, seg - eol, eol); /* the common case: no copy */
        } else {
            if (!rbuf_append(&j->line, p, seg)) {
                ctx_fail(ctx, REPFIX_E_NOMEM);
                return;
            }
            if (nl) {
                size_t eol = eol_of(j->line.p, j->line.len);
                record_line(ctx, j, j->line.p, j->line.len - eol, eol);
                j->line.len = 0;
            }
        }
        p += seg;
        n -= seg;
    }
}

void jsonl_end(repfix_ctx *ctx)
{
    jsonl_state *j = ctx->jsonl;
    if (!j->compiled && !compile(ctx, j))
        return;
    if (j->fragment)
        fragment(ctx, j, "", 0, true);
    else if (j->line.len)
        record_line(ctx, j, j->line.p, j->line.len, 0);
    j->line.len = 0;
    if (kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT))
        toolcall_flush(ctx);
}
