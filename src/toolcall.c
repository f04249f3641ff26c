/*
 * toolcall.c - toolcall-repeat: a model calling the same tool with the same
 * arguments again and again, or cycling through a few calls.
 *
 * Calls come from two places. In JSON and JSONL (toolcall_record) they are
 * found by shape anywhere in a parsed record: Gemini `functionCall` parts
 * (`function_call` in snake case), OpenAI `tool_calls[].function` (its
 * arguments a JSON string), a legacy `function_call`, Responses-API
 * `function_call` items, Anthropic `tool_use` blocks. Stream chunks
 * (`delta`) and tool declarations (`tools`) are not looked into. In text
 * (toolcall_line) they are the syntaxes models print: Hermes/Qwen
 * `<tool_call>{...}</tool_call>`, Llama `<function=f>{...}</function>` and
 * `<|python_tag|>{...}` or `<|python_tag|>f.call(...)`, Mistral
 * `[TOOL_CALLS][{...}, ...]` and `[TOOL_CALLS]f[ARGS]{...}`, Gemini
 * ```tool_code blocks of `print(default_api.f(...))`, and the patterns a
 * user adds (repfix_add_toolcall_pattern).
 *
 * Equality: a call is a 64-bit hash of its name and canonical arguments.
 * JSON arguments are parsed with cJSON and hashed with object keys sorted,
 * strings decoded ("\u00e9" == "é"), numbers as doubles printed %.17g (so
 * 1 == 1.0 == 1e0; integers beyond 2^53 may compare equal), whitespace
 * irrelevant; absent, null or empty arguments equal {}. Arguments that are
 * not JSON (Python keyword calls) are split at top-level commas, whitespace
 * outside quotes is dropped and keyword pieces are sorted.
 *
 * Detection (tc_seq) keeps the last TC_WIN hashes and, for each period
 * p = 1..TC_PMAX, the number of consecutive calls equal to the call p
 * before. A loop is confirmed at 4 identical calls in a row (p = 1) or at
 * 3 copies of a primitive cycle of 2-4 calls, and lasts while the calls
 * keep the period. A retry (two identical calls), the same tool with other
 * arguments, or a cycle seen twice never fire.
 *
 * Records. Boundaries reset the sequence: a user turn with text (not just
 * tool results), an assistant turn with text and no call (the turn ended),
 * each choice/candidate after the first (alternatives, not a sequence), and
 * a record with neither calls nor tool results (jsonl.c shows records
 * without tool vocabulary as {}: user turns, final answers). A
 * conversation record (`messages[]`, `contents[]`) stands alone, unless the
 * previous record's events are a prefix of its own (request logs resend the
 * history): then only its new events are fed. Response and single-message
 * records chain across consecutive records. A loop is reported once per
 * record it touches, always flagged (the calls' results are part of the
 * conversation): record, path of its first repeated call in that record,
 * period, copies = calls of the loop so far, count = its repeated calls in
 * the record, start = end = the record's input offset (the tree has no
 * byte spans), positioned at the record's output.
 *
 * Text. A line that starts (after at most 3 spaces, outside fences and
 * HTML blocks) with a syntax's marker opens a block, which grows line by
 * line until its end rule holds (closing tag, balanced brackets, closing
 * fence, or the user pattern matches) and is parsed with the syntax's
 * PCRE2 patterns, one match per call. A block gives up at TC_BLOCK_MAX
 * bytes or TC_BLOCK_LINES lines. Blocks separated only by blank lines form
 * a group; any other line ends it (and resets the sequence). Lines we held
 * that turn out not to be calls (a block without a call, the blank lines
 * after a group) are replayed through scan_line with `replaying` set, so
 * they are treated exactly as if we had never looked at them. The
 * sequence is the calls as fix leaves them (tc_seq), so fix is idempotent;
 * since a cut can bring older calls back to the sequence's end, a kept
 * call stays pending (held with its block) until TC_HOLD more calls were
 * kept or TC_HOLD_CALLS calls came after it, the group ends, or more than
 * TC_HOLD_BYTES of input is held. A loop drops its copies after the first
 * --keep cycles: a block whose calls all go is dropped with the blank lines
 * before it (and at once reduced to a record without bytes, so a long loop
 * holds nothing), calls inside a block go with their separators. A later
 * loop that would reach back past a released call keeps more copies
 * instead: fix is idempotent unless a loop reaches back further than the
 * hold bounds (random repetitive sequences of 80 calls: about 1 in 1000;
 * agent-like sequences: never seen). Decisions are taken at line ends
 * only, so output and findings do not depend on how the input was split. A
 * text finding spans from the first to the last dropped byte; copies =
 * calls of the loop, count = calls dropped.
 *
 * Patterns are compiled per context, lazily when the first candidate block
 * completes, and kept across resets (a context reused for many streams
 * compiles once; nothing is global). PCRE2 runs with match, depth and heap
 * limits, with JIT when available, so no input can make it hang; a match
 * that hits a limit simply ends the block's calls.
 */
#include "internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_PMAX 4                /* longest cycle, in calls */
#define TC_WIN 16                /* call hashes remembered */
#define TC_BLOCK_MAX (64u << 10) /* longest text block held */
#define TC_BLOCK_LINES 512u      /* most lines in a text block */
#define TC_GAP_MAX 32u           /* most blank lines between blocks of a group */
#define TC_HOLD 32u              /* a call is final once this many calls are kept after it */
#define TC_HOLD_CALLS 256u       /* ... or once this many calls, dropped ones included, came */
#define TC_HOLD_BYTES (1u << 20) /* held input beyond this releases the oldest calls */
#define TC_MATCH_LIMIT 2000000u
#define TC_HEAP_LIMIT 8192u      /* KiB */
#define TC_BOUNDARY 0x9e3779b97f4a7c15ull /* event hash of a boundary */

/* ---- hashing and canonical arguments --------------------------------- */

/*
 * Every value hashes alone (a type tag, its bytes, a final mix), so values
 * combine as 64-bit words: an array is its element hashes in order, an
 * object its (key hash, value hash) pairs sorted, which is canonical
 * whatever the key order. Arguments come as cJSON trees (records) or as
 * text (text syntaxes, OpenAI's argument strings); both paths follow the
 * same rules, so equal calls hash equal whichever way they came. The text
 * path parses JSON itself without allocating (pairs beyond 16 aside), so
 * running out of memory is never mistaken for "not JSON".
 */
#define H0 0xcbf29ce484222325ull

static void h_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t x = *h;
    for (size_t i = 0; i < n; i++) {
        x ^= s[i];
        x *= 0x100000001b3ull;
    }
    *h = x;
}

static uint64_t h_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hv_tag(const char *tag)
{
    uint64_t h = H0;
    h_bytes(&h, tag, strlen(tag));
    return h_mix(h);
}

static uint64_t hv_string(const char *s, size_t n)
{
    uint64_t h = H0;
    h_bytes(&h, "s", 1);
    h_bytes(&h, s, n);
    return h_mix(h);
}

static uint64_t hv_number(double d)
{
    char buf[48];
    if (d == 0)
        d = 0; /* -0 */
    int k = snprintf(buf, sizeof buf, "#%.17g", d);
    uint64_t h = H0;
    h_bytes(&h, buf, (size_t)k);
    return h_mix(h);
}

typedef struct {
    uint64_t k, v;
} hpair;

static int hpair_cmp(const void *a, const void *b)
{
    const hpair *x = a, *y = b;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

/* Sorts the pairs and hashes them as an object. */
static uint64_t hv_object(hpair *pairs, size_t n)
{
    if (n > 1)
        qsort(pairs, n, sizeof *pairs, hpair_cmp);
    uint64_t h = H0;
    h_bytes(&h, "{", 1);
    if (n)
        h_bytes(&h, pairs, n * sizeof *pairs);
    return h_mix(h);
}

/* Pairs of one object: a local array, grown on the heap for big objects. */
typedef struct {
    hpair local[16], *p;
    size_t n, cap;
} hpairs;

static void hp_init(hpairs *hp)
{
    hp->p = hp->local;
    hp->n = 0;
    hp->cap = 16;
}

static bool hp_add(hpairs *hp, uint64_t k, uint64_t v)
{
    if (hp->n == hp->cap) {
        hpair *g = malloc(2 * hp->cap * sizeof *g);
        if (!g)
            return false;
        memcpy(g, hp->p, hp->n * sizeof *g);
        if (hp->p != hp->local)
            free(hp->p);
        hp->p = g;
        hp->cap *= 2;
    }
    hp->p[hp->n++] = (hpair){k, v};
    return true;
}

static void hp_free(hpairs *hp)
{
    if (hp->p != hp->local)
        free(hp->p);
}

/* Hashes a cJSON value. False: out of memory. */
static bool hv_tree(const cJSON *v, uint64_t *out)
{
    switch (v->type & 0xff) {
    case cJSON_NULL: *out = hv_tag("n"); return true;
    case cJSON_False: *out = hv_tag("f"); return true;
    case cJSON_True: *out = hv_tag("t"); return true;
    case cJSON_Number: *out = hv_number(v->valuedouble); return true;
    case cJSON_String:
    case cJSON_Raw: {
        const char *s = v->valuestring ? v->valuestring : "";
        *out = hv_string(s, strlen(s));
        return true;
    }
    case cJSON_Array: {
        uint64_t h = H0;
        h_bytes(&h, "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            uint64_t e;
            if (!hv_tree(c, &e))
                return false;
            h_bytes(&h, &e, sizeof e);
        }
        *out = h_mix(h);
        return true;
    }
    case cJSON_Object: {
        hpairs hp;
        hp_init(&hp);
        bool ok = true;
        for (const cJSON *c = v->child; c && ok; c = c->next) {
            const char *key = c->string ? c->string : "";
            uint64_t e;
            ok = hv_tree(c, &e) && hp_add(&hp, hv_string(key, strlen(key)), e);
        }
        if (ok)
            *out = hv_object(hp.p, hp.n);
        hp_free(&hp);
        return ok;
    }
    default: *out = hv_tag("?"); return true;
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* JSON text, parsed and hashed in one pass (RFC 8259, strings leniently:
 * raw bytes are taken as they are). */
typedef struct {
    const char *p;
    size_t n, i;
    int depth;
    bool nomem;
} jtext;

static void jt_ws(jtext *j)
{
    while (j->i < j->n && is_space(j->p[j->i]))
        j->i++;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
}

static long jt_hex4(const jtext *j, size_t at)
{
    if (j->n - at < 4)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hexv(j->p[at + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The string at p[i] == '"': its value hash; its decoded bytes appended to
 * cap (may be NULL); the first bytes (up to 15) in key[] as a C string. */
static bool jt_string(jtext *j, uint64_t *out, rbuf *cap, char key[16])
{
    uint64_t h = H0;
    size_t kn = 0;
    h_bytes(&h, "s", 1);
    j->i++;
    while (j->i < j->n) {
        char c = j->p[j->i];
        unsigned char u8[4];
        size_t m = 0;
        if (c == '"') {
            j->i++;
            *out = h_mix(h);
            if (key)
                key[kn < 16 ? kn : 15] = '\0';
            return true;
        }
        if (c != '\\') {
            u8[m++] = (unsigned char)c;
            j->i++;
        } else {
            if (j->i + 1 >= j->n)
                return false;
            char e = j->p[j->i + 1];
            j->i += 2;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                u8[m++] = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                long cp = jt_hex4(j, j->i);
                if (cp < 0)
                    return false;
                j->i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && j->n - j->i >= 6 && j->p[j->i] == '\\' &&
                    j->p[j->i + 1] == 'u') {
                    long lo = jt_hex4(j, j->i + 2);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        j->i += 6;
                    }
                }
                if (cp < 0x80) {
                    u8[m++] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    u8[m++] = (unsigned char)(0xc0 | (cp >> 6));
                    u8[m++] = (unsigned char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    u8[m++] = (unsigned char)(0xe0 | (cp >> 12));
                    u8[m++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    u8[m++] = (unsigned char)(0x80 | (cp & 0x3f));
                } else {
                    u8[m++] = (unsigned char)(0xf0 | (cp >> 18));
                    u8[m++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                    u8[m++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    u8[m++] = (unsigned char)(0x80 | (cp & 0x3f));
                }
            } else {
                return false;
            }
        }
        h_bytes(&h, u8, m);
        for (size_t k = 0; key && k < m && kn < 16; k++)
            key[kn++] = (char)u8[k];
        if (cap && !rbuf_append(cap, u8, m)) {
            j->nomem = true;
            return false;
        }
    }
    return false;
}

static bool jt_value(jtext *j, uint64_t *out);

static bool jt_number(jtext *j, uint64_t *out)
{
    size_t s = j->i, i = s;
    const char *p = j->p;
    if (i < j->n && p[i] == '-')
        i++;
    if (i < j->n && p[i] == '0')
        i++;
    else if (i < j->n && p[i] >= '1' && p[i] <= '9')
        while (i < j->n && p[i] >= '0' && p[i] <= '9')
            i++;
    else
        return false;
    if (i < j->n && p[i] == '.') {
        size_t d = ++i;
        while (i < j->n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < j->n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < j->n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < j->n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    char buf[400];
    if (i - s >= sizeof buf)
        return false;
    memcpy(buf, p + s, i - s);
    buf[i - s] = '\0';
    *out = hv_number(strtod(buf, NULL));
    j->i = i;
    return true;
}

static bool jt_lit(jtext *j, const char *w, const char *tag, uint64_t *out)
{
    size_t k = strlen(w);
    if (j->n - j->i < k || memcmp(j->p + j->i, w, k))
        return false;
    j->i += k;
    *out = hv_tag(tag);
    return true;
}

/* Names of the members that hold a call's name and arguments. */
typedef struct {
    bool has_name, has_args;
    uint64_t name, args;
} jcall;

static bool canon_args_text(const char *p, size_t n, uint64_t *out);

/* The object at p[i] == '{'; with call != NULL (the top level of a
 * {"name": ..., "arguments": ...} call) also picks its name and arguments. */
static bool jt_object(jtext *j, uint64_t *out, jcall *call)
{
    hpairs hp;
    hp_init(&hp);
    bool ok = false;
    j->i++;
    jt_ws(j);
    if (j->i < j->n && j->p[j->i] == '}') {
        j->i++;
        *out = hv_object(hp.p, 0);
        return true;
    }
    for (;;) {
        char key[16];
        uint64_t k, v;
        jt_ws(j);
        if (j->i >= j->n || j->p[j->i] != '"' || !jt_string(j, &k, NULL, key))
            break;
        jt_ws(j);
        if (j->i >= j->n || j->p[j->i] != ':')
            break;
        j->i++;
        jt_ws(j);
        bool args_key = call && !call->has_args &&
                        (!strcmp(key, "arguments") || !strcmp(key, "parameters") ||
                         !strcmp(key, "args") || !strcmp(key, "input"));
        if (args_key && j->i < j->n && j->p[j->i] == '"') {
            /* arguments as a JSON string (OpenAI style): hash its content */
            rbuf s = {NULL, 0, 0};
            bool got = jt_string(j, &v, &s, NULL);
            if (got && !canon_args_text(s.p ? s.p : "", s.len, &call->args))
                j->nomem = true;
            rbuf_free(&s);
            if (!got || j->nomem)
                break;
            call->has_args = true;
        } else {
            if (!jt_value(j, &v))
                break;
            if (args_key) {
                call->args = v;
                call->has_args = true;
            }
        }
        if (call && !strcmp(key, "name") && j->p[j->i - 1] == '"' && !call->has_name) {
            call->name = v; /* a string value: its hash is the name's */
            call->has_name = true;
        }
        if (!hp_add(&hp, k, v)) {
            j->nomem = true;
            break;
        }
        jt_ws(j);
        if (j->i < j->n && j->p[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->i < j->n && j->p[j->i] == '}') {
            j->i++;
            *out = hv_object(hp.p, hp.n);
            ok = true;
        }
        break;
    }
    hp_free(&hp);
    return ok;
}

static bool jt_value(jtext *j, uint64_t *out)
{
    jt_ws(j);
    if (j->i >= j->n || j->depth > CJSON_NESTING_LIMIT)
        return false;
    switch (j->p[j->i]) {
    case '"': return jt_string(j, out, NULL, NULL);
    case '{': {
        j->depth++;
        bool ok = jt_object(j, out, NULL);
        j->depth--;
        return ok;
    }
    case '[': {
        uint64_t h = H0;
        h_bytes(&h, "[", 1);
        j->i++;
        j->depth++;
        jt_ws(j);
        bool ok = j->i < j->n && j->p[j->i] == ']';
        if (ok)
            j->i++;
        while (!ok) {
            uint64_t e;
            if (!jt_value(j, &e))
                break;
            h_bytes(&h, &e, sizeof e);
            jt_ws(j);
            if (j->i < j->n && j->p[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->i < j->n && j->p[j->i] == ']') {
                j->i++;
                ok = true;
            }
            break;
        }
        j->depth--;
        *out = h_mix(h);
        return ok;
    }
    case 't': return jt_lit(j, "true", "t", out);
    case 'f': return jt_lit(j, "false", "f", out);
    case 'n': return jt_lit(j, "null", "n", out);
    default: return jt_number(j, out);
    }
}

/* A keyword argument: identifier '=' value (not '=='). */
static bool kw_piece(const char *s, size_t n)
{
    size_t j = 0;
    while (j < n && (s[j] == '_' || ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') ||
                     (j > 0 && s[j] >= '0' && s[j] <= '9')))
        j++;
    return j > 0 && j + 1 < n && s[j] == '=' && s[j + 1] != '=';
}

/* Index after the quoted string that opens at p[i] (or n). */
static size_t skip_quoted(const char *p, size_t n, size_t i)
{
    char q = p[i++];
    while (i < n && p[i] != q)
        i += p[i] == '\\' ? 2 : 1;
    return i < n ? i + 1 : n;
}

/* Hashes arguments that are not JSON: `(a=1, b="x")` or `a=1, b="x"`:
 * pieces at top-level commas, whitespace outside quotes dropped, keyword
 * pieces sorted. False: out of memory. */
static bool canon_text(const char *p, size_t n, uint64_t *out)
{
    while (n && is_space(p[n - 1]))
        n--;
    while (n && is_space(*p))
        p++, n--;
    if (n >= 2 && p[0] == '(' && p[n - 1] == ')')
        p++, n -= 2;
    char *sq = malloc(n + 1);
    hpairs hp; /* (piece hash, position) pairs */
    hp_init(&hp);
    if (!sq)
        return false;
    size_t k = 0, start = 0, np = 0;
    int depth = 0;
    bool ok = true, kw = true;
    for (size_t i = 0; i <= n && ok; i++) {
        if (i == n || (p[i] == ',' && depth == 0)) {
            kw = kw && kw_piece(sq + start, k - start);
            ok = hp_add(&hp, hv_string(sq + start, k - start), np++);
            start = k;
            continue;
        }
        char c = p[i];
        if (c == '"' || c == '\'') {
            size_t e = skip_quoted(p, n, i);
            memcpy(sq + k, p + i, e - i);
            k += e - i;
            i = e - 1;
            continue;
        }
        if (is_space(c))
            continue;
        if (c == '(' || c == '[' || c == '{')
            depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0)
            depth--;
        sq[k++] = c;
    }
    if (ok) {
        /* keyword arguments in any order are the same call */
        if (kw && np > 1)
            for (size_t i = 0; i < np; i++)
                hp.p[i].v = 0;
        uint64_t h = H0;
        h_bytes(&h, "(", 1);
        if (kw && np > 1)
            qsort(hp.p, np, sizeof *hp.p, hpair_cmp);
        for (size_t i = 0; i < np; i++)
            h_bytes(&h, &hp.p[i].k, sizeof hp.p[i].k);
        *out = h_mix(h);
    }
    hp_free(&hp);
    free(sq);
    return ok;
}

/* Hashes arguments given as text: JSON if they parse whole, else as code;
 * blank is {}. False: out of memory. */
static bool canon_args_text(const char *p, size_t n, uint64_t *out)
{
    jtext j = {p, n, 0, 0, false};
    jt_ws(&j);
    if (j.i == n) {
        *out = hv_object(NULL, 0);
        return true;
    }
    if (jt_value(&j, out)) {
        jt_ws(&j);
        if (j.i == n)
            return true;
    }
    return !j.nomem && canon_text(p, n, out);
}

/* Hashes an arguments value from a record: an object, a JSON string
 * (OpenAI), absent or null (= {}). False: out of memory. */
static bool canon_args_value(const cJSON *args, uint64_t *out)
{
    if (!args || cJSON_IsNull(args)) {
        *out = hv_object(NULL, 0);
        return true;
    }
    if (cJSON_IsString(args) && args->valuestring)
        return canon_args_text(args->valuestring, strlen(args->valuestring), out);
    return hv_tree(args, out);
}

/* A call: its name's value hash and its arguments' hash. */
static uint64_t hv_call(uint64_t name, uint64_t args)
{
    uint64_t h = H0;
    h_bytes(&h, "c", 1);
    h_bytes(&h, &name, sizeof name);
    h_bytes(&h, &args, sizeof args);
    return h_mix(h);
}

/* A name given as bytes: surrounding whitespace does not count. */
static uint64_t hv_name(const char *s, size_t n)
{
    while (n && is_space(s[n - 1]))
        n--;
    while (n && is_space(*s))
        s++, n--;
    return hv_string(s, n);
}

/* ---- the call sequence --------------------------------------------- */

/*
 * The sequence is the calls as fix leaves them: a copy dropped from a loop
 * is not in it, so the calls on either side of a removed loop are compared
 * as the output will show them. That makes the repair idempotent: every
 * call is checked against the kept calls before it, so the output holds no
 * loop for a second pass to find. Runs are recounted from the window at
 * each call (at most 2p - 1 + p entries back, within TC_WIN).
 */
typedef struct {
    uint64_t win[TC_WIN];  /* hashes of the last kept calls */
    uint64_t tag[TC_WIN];  /* the caller's tag of each (which call it was) */
    uint64_t n;            /* kept calls since the last reset */
    uint64_t appends;      /* calls ever kept since the last reset (n minus cuts) */
    uint32_t loop_p;       /* period of the confirmed loop, 0 if none */
    uint64_t loop_s;       /* index of its first call */
    uint64_t keep_end;     /* index after its kept cycles */
    uint64_t loop_len;     /* calls of the loop so far, dropped ones included */
} tc_seq;

typedef struct {
    bool broke;         /* the loop that was active ended before this call */
    bool cont;          /* this call continues the active loop ... */
    bool kept;          /* ... among its kept cycles (else it is dropped) */
    bool confirm;       /* this call confirms a loop: calls [keep_end, old_n) go */
    uint64_t old_n;     /* confirm: kept calls before the cut, this one included */
} tc_step;

static void seq_reset(tc_seq *s) { memset(s, 0, sizeof *s); }

#define SEQ_AT(s, k) ((s)->win[(k) % TC_WIN])

/* Consecutive kept calls, ending with the last, equal to the call p before
 * them; counted up to cap. */
static uint32_t seq_run(const tc_seq *s, uint32_t p, uint32_t cap)
{
    uint32_t r = 0;
    for (uint64_t k = s->n; r < cap && k > p && s->n - k + p < TC_WIN; k--, r++)
        if (SEQ_AT(s, k - 1) != SEQ_AT(s, k - 1 - p))
            break;
    return r;
}

/* The last p calls are not a repetition of a shorter cycle. */
static bool primitive(const tc_seq *s, uint32_t p)
{
    uint64_t n = s->n;
#define W(k) SEQ_AT(s, n - (k))
    if (p == 2)
        return W(1) != W(2);
    if (p == 3)
        return !(W(1) == W(2) && W(2) == W(3));
    if (p == 4)
        return !(W(1) == W(3) && W(2) == W(4));
#undef W
    return true;
}

/* Feeds call hash h, tagged `tag`, keeping `keep` cycles of a loop; calls
 * below index `frontier` are final and cannot be cut. */
static tc_step seq_push(tc_seq *s, uint64_t h, uint64_t tag, int keep, uint64_t frontier)
{
    tc_step r = {false, false, false, false, 0};
    if (s->loop_p) {
        /* the loop's next call is the next one of its first cycle */
        if (SEQ_AT(s, s->loop_s + s->loop_len % s->loop_p) == h) {
            s->loop_len++;
            r.cont = true;
            r.kept = s->n < s->keep_end;
            if (r.kept) {
                s->win[s->n % TC_WIN] = h;
                s->tag[s->n % TC_WIN] = tag;
                s->n++;
                s->appends++;
            }
            return r;
        }
        r.broke = true;
        s->loop_p = 0;
    }
    s->win[s->n % TC_WIN] = h;
    s->tag[s->n % TC_WIN] = tag;
    s->n++;
    s->appends++;
    for (uint32_t p = 1; p <= TC_PMAX; p++) {
        uint32_t need = p == 1 ? 3 : 2 * p; /* 4 calls, or 3 cycles */
        uint32_t run = seq_run(s, p, need);
        if (run >= need && primitive(s, p)) {
            s->loop_p = p;
            s->loop_s = s->n - (run + p);
            s->keep_end = s->loop_s + (uint64_t)keep * p;
            if (s->keep_end < frontier) /* released calls stay: keep more copies */
                s->keep_end = frontier;
            s->loop_len = s->n - s->loop_s;
            r.confirm = true;
            r.old_n = s->n;
            if (s->n > s->keep_end)
                s->n = s->keep_end;
            return r;
        }
    }
    return r;
}

/* ---- state ------------------------------------------------------------ */

enum { TC_PENDING = 0, TC_KEEP = 1, TC_DROP = 2 };
enum { END_TAG, END_BALANCED, END_FENCE, END_MATCH };

typedef struct {
    pcre2_code *re;
    int name_grp, args_grp; /* group numbers, -1 if absent */
} tc_regex;

/* A text syntax: a marker a line starts with, an end rule, its patterns. */
typedef struct {
    char marker[32];
    size_t marker_len;
    int end;
    const char *open_tag, *close_tag; /* END_TAG */
    tc_regex re[2];
    size_t n_re;
} tc_syntax;

typedef struct {
    size_t off;         /* in q */
    uint32_t len, eol;
    uint64_t in_off, line;
} tc_line;

typedef struct {
    size_t gap_first, gap_n; /* blank lines before the block */
    size_t first, n;         /* the block's lines */
    size_t call0, ncalls;
    uint32_t syn;
    uint64_t ord0;           /* ord of its first call */
    /* a block dropped whole, with its gap, keeps only this (no bytes, no
     * calls); consecutive ones of one loop merge */
    bool collapsed;
    uint32_t loop;
    uint64_t in_start, in_end, line, ndrop;
    uint64_t nl; /* line ends of a collapsed unit (input line numbers) */
} tc_unit;

typedef struct {
    uint32_t m_start, m_end, a_end; /* in the block: match, end of its arguments */
    uint64_t hash;
    uint64_t ord;                   /* calls before it in the group: the order */
    uint64_t idx;                   /* index among the kept calls (tc_seq) */
    uint64_t serial;                /* tc_seq.appends when it was kept */
    uint32_t loop;                  /* id of its loop, 0 if none */
    uint8_t st;
} tc_call;

typedef struct {
    uint32_t id, p;
    uint64_t calls, last_ord;
    uint64_t in_start, in_end, line; /* first and last call of the loop */
    bool ended, reported;
} tc_loop;

/* JSON: one call or boundary of a record. */
typedef struct {
    uint64_t hash;
    bool boundary;
    char path[96];
} tc_event;

struct toolcall_state {
    /* patterns: built-ins compiled lazily, user ones at add time; kept across resets */
    tc_syntax *syn;
    size_t n_syn, n_builtin;
    bool compiled;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    uint8_t first[32]; /* bytes a marker can start with */

    tc_seq seq;
    bool replaying;

    /* text: held lines (q bytes), units, calls, loops */
    rbuf q;
    tc_line *lines;
    size_t n_lines, cap_lines;
    tc_unit *units;
    size_t u0, n_units, cap_units;
    tc_call *calls;
    size_t c0, n_calls, cap_calls;
    tc_loop *loops;
    size_t n_loops, cap_loops;
    uint32_t next_loop;
    uint64_t next_ord;
    uint64_t in_seen;           /* input offset after the last line taken */
    bool group;                 /* a group of blocks is open */
    size_t gap_first, gap_n;    /* blank lines after the last block */
    bool open;                  /* a block is being collected */
    size_t blk_first, blk_n;
    uint32_t blk_syn;
    int64_t depth;              /* END_TAG: opens - closes; END_BALANCED: bracket depth */
    bool blk_seen, blk_str, blk_esc; /* END_BALANCED: an opener seen, in a string */
    uint32_t fence_len;

    /* JSON */
    tc_event *ev;
    size_t n_ev, cap_ev;
    size_t prev_n;
    uint64_t prev_cum;
    bool seen_result;           /* the record holds a tool result */
    bool is_conv;
    uint32_t rec_serial;        /* records seen: tags the sequence's calls */
    bool jl_active;
    uint32_t jl_p;              /* period of the loop being reported */
    uint64_t jl_calls, jl_count;
    size_t jl_path_ev;          /* event of the first repeated call in this record */
};

#define GROW(arr, n, cap)                                                      \
    ((n) < (cap) || grow((void **)&(arr), &(cap), sizeof *(arr)))

static bool grow(void **arr, size_t *cap, size_t size)
{
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * size);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* ---- syntaxes and PCRE2 --------------------------------------------- */

/* A balanced JSON object in group G (strings may hold braces). */
#define JOBJ(G) "(?<" G ">\\{(?:[^{}\"]++|\"(?:[^\"\\\\]++|\\\\.)*+\"|(?&" G "))*+\\})"
/* A balanced parenthesized Python argument list in group G. */
#define PARGS(G)                                                               \
    "(?<" G ">\\((?:[^()\"']++|\"(?:[^\"\\\\]++|\\\\.)*+\"|'(?:[^'\\\\]++|\\\\.)*+'|(?&" G "))*+\\))"
#define PNAME "(?<name>[A-Za-z_][A-Za-z0-9_.]*)"

typedef struct {
    const char *marker;
    int end;
    const char *open_tag, *close_tag;
    const char *re[2];
} builtin_syntax;

static const builtin_syntax builtins[] = {
    {"<tool_call>", END_TAG, "<tool_call>", "</tool_call>",
     {"(?s)<tool_call>\\s*(?<args>.*?)\\s*</tool_call>", NULL}},
    {"<function=", END_TAG, "<function=", "</function>",
     {"(?s)<function=(?<name>[^>\\s]+)>\\s*(?<args>.*?)\\s*</function>", NULL}},
    {"<|python_tag|>", END_BALANCED, NULL, NULL,
     {"(?:<\\|python_tag\\|>|\\G\\s*;)\\s*\\K" JOBJ("args"),
      "<\\|python_tag\\|>\\s*\\K" PNAME "\\s*" PARGS("args")}},
    {"[TOOL_CALLS]", END_BALANCED, NULL, NULL,
     {"(?:\\[TOOL_CALLS\\]\\s*\\[|\\G\\s*,)\\s*\\K" JOBJ("args"),
      "\\[TOOL_CALLS\\]\\K(?<name>[^\\[\\]\\s{}]+)\\[ARGS\\]" JOBJ("args")}},
    {"```tool_code", END_FENCE, NULL, NULL,
     {"print\\(\\s*(?:default_api\\.)?" PNAME "\\s*" PARGS("args") "\\s*\\)",
      "(?<![\\w.])default_api\\." PNAME "\\s*" PARGS("args")}},
};
#define N_BUILTIN (sizeof builtins / sizeof *builtins)

/* Compiles one pattern; on error writes PCRE2's message to err. */
static bool re_compile(tc_regex *r, const char *pat, uint32_t options, char *err,
                       size_t err_size)
{
    int code;
    PCRE2_SIZE off;
    r->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, options, &code, &off, NULL);
    if (!r->re) {
        if (err && err_size) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(err, err_size, "toolcall pattern at offset %zu: %s", (size_t)off,
                     (const char *)msg);
        }
        return false;
    }
    pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    r->name_grp = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR) "name");
    r->args_grp = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR) "args");
    return true;
}

static void mark_first(toolcall_state *t, unsigned char c) { t->first[c >> 3] |= (uint8_t)(1u << (c & 7)); }

/* Match data and limits: needed by built-in and user patterns alike. */
static bool match_setup(toolcall_state *t)
{
    if (!t->md)
        t->md = pcre2_match_data_create(16, NULL);
    if (!t->mc) {
        t->mc = pcre2_match_context_create(NULL);
        if (t->mc) {
            pcre2_set_match_limit(t->mc, TC_MATCH_LIMIT);
            pcre2_set_depth_limit(t->mc, TC_MATCH_LIMIT / 10);
            pcre2_set_heap_limit(t->mc, TC_HEAP_LIMIT);
        }
    }
    return t->md && t->mc;
}

/* Built-in syntaxes go first in t->syn; their markers are known without
 * compiling, so only the patterns wait for the first candidate block. */
static bool builtins_compile(repfix_ctx *ctx, toolcall_state *t)
{
    if (t->compiled)
        return true;
    if (!match_setup(t)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    for (size_t i = 0; i < N_BUILTIN; i++) {
        tc_syntax *s = &t->syn[i];
        for (size_t k = 0; k < 2 && builtins[i].re[k]; k++) {
            if (s->re[k].re)
                continue;
            if (!re_compile(&s->re[k], builtins[i].re[k], 0, NULL, 0)) {
                ctx_fail(ctx, REPFIX_E_NOMEM); /* our patterns are valid: only memory fails */
                return false;
            }
            s->n_re = k + 1;
        }
    }
    t->compiled = true;
    return true;
}

static bool syntaxes_init(toolcall_state *t)
{
    t->syn = calloc(N_BUILTIN, sizeof *t->syn);
    if (!t->syn)
        return false;
    for (size_t i = 0; i < N_BUILTIN; i++) {
        tc_syntax *s = &t->syn[i];
        s->marker_len = strlen(builtins[i].marker);
        memcpy(s->marker, builtins[i].marker, s->marker_len);
        s->end = builtins[i].end;
        s->open_tag = builtins[i].open_tag;
        s->close_tag = builtins[i].close_tag;
        mark_first(t, (unsigned char)s->marker[0]);
    }
    t->n_syn = t->n_builtin = N_BUILTIN;
    return true;
}

/* The literal a pattern starts with (escaped punctuation included), into
 * out; its length. */
static size_t literal_prefix(const char *pat, char *out, size_t cap)
{
    size_t k = 0;
    while (pat[0] == '(' && pat[1] == '?') { /* leading option settings: (?s) */
        size_t i = 2;
        while ((pat[i] | 0x20) >= 'a' && (pat[i] | 0x20) <= 'z')
            i++;
        if (pat[i] != ')')
            break;
        pat += i + 1;
    }
    for (size_t i = 0; pat[i] && k < cap; i++) {
        char c = pat[i];
        if (c == '\\') {
            char d = pat[i + 1];
            if (d && !((d | 0x20) >= 'a' && (d | 0x20) <= 'z') && !(d >= '0' && d <= '9')) {
                out[k++] = d;
                i++;
                continue;
            }
            break;
        }
        if (strchr("^$.[|()?*+{", c))
            break;
        out[k++] = c;
    }
    /* a quantifier after the last literal applies to it alone */
    if (k > 0) {
        size_t i = 0, seen = 0;
        for (; pat[i] && seen < k; i++, seen++)
            if (pat[i] == '\\')
                i++;
        if (pat[i] == '?' || pat[i] == '*' || pat[i] == '{')
            k--;
    }
    /* a top-level alternative would make the prefix optional */
    int depth = 0;
    bool cls = false;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == '\\' && pat[i + 1])
            i++;
        else if (cls)
            cls = pat[i] != ']';
        else if (pat[i] == '[')
            cls = true;
        else if (pat[i] == '(')
            depth++;
        else if (pat[i] == ')')
            depth--;
        else if (pat[i] == '|' && depth == 0)
            return 0;
    }
    return k;
}

repfix_status repfix_add_toolcall_pattern(repfix_ctx *ctx, const char *pattern, char *errbuf,
                                          size_t errbuf_size)
{
    if (errbuf && errbuf_size)
        errbuf[0] = '\0';
    if (!ctx || !pattern)
        return REPFIX_E_PARAM;
    if (ctx->started)
        return REPFIX_E_STATE;
    toolcall_state *t = ctx->toolcall;
    tc_syntax s;
    memset(&s, 0, sizeof s);
    s.marker_len = literal_prefix(pattern, s.marker, sizeof s.marker - 1);
    if (s.marker_len < 2) {
        if (errbuf && errbuf_size)
            snprintf(errbuf, errbuf_size,
                     "toolcall pattern must start with a literal of 2 or more bytes");
        return REPFIX_E_PARAM;
    }
    if (!match_setup(t))
        return REPFIX_E_NOMEM;
    /* calls span lines: '.' matches a newline */
    if (!re_compile(&s.re[0], pattern, PCRE2_DOTALL, errbuf, errbuf_size))
        return REPFIX_E_PARAM;
    if (s.re[0].args_grp < 0) {
        pcre2_code_free(s.re[0].re);
        if (errbuf && errbuf_size)
            snprintf(errbuf, errbuf_size, "toolcall pattern needs a named group (?<args>...)");
        return REPFIX_E_PARAM;
    }
    s.n_re = 1;
    s.end = END_MATCH;
    tc_syntax *g = realloc(t->syn, (t->n_syn + 1) * sizeof *g);
    if (!g) {
        pcre2_code_free(s.re[0].re);
        return REPFIX_E_NOMEM;
    }
    t->syn = g;
    t->syn[t->n_syn++] = s;
    mark_first(t, (unsigned char)s.marker[0]);
    return REPFIX_OK;
}

/* ---- lifecycle ------------------------------------------------------ */

toolcall_state *toolcall_new(void)
{
    toolcall_state *t = calloc(1, sizeof *t);
    if (t && !syntaxes_init(t)) {
        free(t);
        return NULL;
    }
    return t;
}

void toolcall_free(toolcall_state *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_syn; i++)
        for (size_t k = 0; k < 2; k++)
            pcre2_code_free(t->syn[i].re[k].re);
    free(t->syn);
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mc);
    rbuf_free(&t->q);
    free(t->lines);
    free(t->units);
    free(t->calls);
    free(t->loops);
    free(t->ev);
    free(t);
}

/* Empties the text queue (the held bytes were emitted or replayed). */
static void queue_clear(toolcall_state *t)
{
    t->q.len = 0;
    t->n_lines = t->u0 = t->n_units = t->c0 = t->n_calls = 0;
    t->gap_first = t->gap_n = 0;
    t->open = false;
    t->blk_n = 0;
}

void toolcall_reset(toolcall_state *t)
{
    seq_reset(&t->seq);
    t->replaying = false;
    queue_clear(t);
    t->n_loops = 0;
    t->next_loop = 0;
    t->group = false;
    t->n_ev = t->prev_n = 0;
    t->prev_cum = 0;
    t->jl_active = false;
}

/* ---- JSON records --------------------------------------------------- */

typedef struct {
    repfix_ctx *ctx;
    toolcall_state *t;
    char path[96];
    size_t plen;
    bool ok;
} walker;

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static bool str_is(const char *s, const char *a) { return s && !strcmp(s, a); }

static bool nonblank(const char *s)
{
    for (; s && *s; s++)
        if (!is_space(*s))
            return true;
    return false;
}

static bool add_event(walker *w, uint64_t hash, bool boundary)
{
    toolcall_state *t = w->t;
    if (!GROW(t->ev, t->n_ev, t->cap_ev)) {
        w->ok = false;
        return false;
    }
    tc_event *e = &t->ev[t->n_ev++];
    e->hash = boundary ? TC_BOUNDARY : hash;
    e->boundary = boundary;
    memcpy(e->path, w->path, w->plen);
    e->path[w->plen] = '\0';
    return true;
}

/* Recognizes o as one call: name and arguments out. */
static bool as_call(const cJSON *o, const char **name, const cJSON **args)
{
    const cJSON *fc = member(o, "functionCall");
    if (!cJSON_IsObject(fc))
        fc = member(o, "function_call");
    if (cJSON_IsObject(fc) && (*name = str_member(fc, "name"))) { /* Gemini part, legacy OpenAI */
        *args = member(fc, "args");
        if (!*args)
            *args = member(fc, "arguments");
        return true;
    }
    const char *type = str_member(o, "type");
    if ((str_is(type, "tool_use") || str_is(type, "server_tool_use")) && (*name = str_member(o, "name"))) {
        *args = member(o, "input");
        return true;
    }
    if (str_is(type, "function_call") && (*name = str_member(o, "name"))) { /* Responses API */
        *args = member(o, "arguments");
        return true;
    }
    const cJSON *f = member(o, "function"); /* OpenAI tool_calls[] element */
    if (cJSON_IsObject(f) && (*name = str_member(f, "name")) && member(f, "arguments")) {
        *args = member(f, "arguments");
        return true;
    }
    return false;
}

/* The text of a message: a string, or text parts (OpenAI/Anthropic
 * content[], Gemini parts[]). */
static bool has_text(const cJSON *msg)
{
    const cJSON *c = member(msg, "content");
    if (cJSON_IsString(c))
        return nonblank(c->valuestring);
    const cJSON *arr = cJSON_IsArray(c) ? c : member(msg, "parts");
    if (!cJSON_IsArray(arr))
        return false;
    for (const cJSON *p = arr->child; p; p = p->next) {
        if (cJSON_IsString(p) && nonblank(p->valuestring))
            return true;
        if (cJSON_IsObject(p) && nonblank(str_member(p, "text")))
            return true;
    }
    return false;
}

/* A tool result anywhere in a message. */
static bool has_result(const cJSON *msg)
{
    const char *role = str_member(msg, "role");
    if (str_is(role, "tool") || str_is(role, "function") || str_member(msg, "tool_call_id"))
        return true;
    const cJSON *arr = member(msg, "content");
    if (!cJSON_IsArray(arr))
        arr = member(msg, "parts");
    if (!cJSON_IsArray(arr))
        return false;
    for (const cJSON *p = arr->child; p; p = p->next)
        if (cJSON_IsObject(p) && (str_is(str_member(p, "type"), "tool_result") ||
                                  member(p, "functionResponse") || member(p, "function_response")))
            return true;
    return false;
}

static size_t path_push(walker *w, const char *key, size_t index, bool is_index)
{
    size_t saved = w->plen;
    char seg[80];
    int k = is_index ? snprintf(seg, sizeof seg, "[%zu]", index)
                     : snprintf(seg, sizeof seg, "%s%s", w->plen ? "." : "", key);
    if (k > 0 && w->plen + (size_t)k < sizeof w->path && (size_t)k < sizeof seg) {
        memcpy(w->path + w->plen, seg, (size_t)k);
        w->plen += (size_t)k;
    }
    w->path[w->plen] = '\0';
    return saved;
}

static void walk(walker *w, const cJSON *v, const char *key, int depth);

static void walk_members(walker *w, const cJSON *o, int depth)
{
    for (const cJSON *c = o->child; c && w->ok; c = c->next) {
        const char *k = c->string ? c->string : "";
        /* declarations, not calls; stream chunks carry partial calls */
        if (!strcmp(k, "tools") || !strcmp(k, "functionDeclarations") ||
            !strcmp(k, "function_declarations") || !strcmp(k, "delta") ||
            !strcmp(k, "tool_choice") || !strcmp(k, "toolConfig") || !strcmp(k, "tool_config"))
            continue;
        if ((!strcmp(k, "messages") || !strcmp(k, "contents")) && cJSON_IsArray(c))
            w->t->is_conv = true;
        size_t saved = path_push(w, k, 0, false);
        walk(w, c, k, depth + 1);
        w->plen = saved;
        w->path[saved] = '\0';
    }
}

static void walk(walker *w, const cJSON *v, const char *key, int depth)
{
    if (!w->ok || depth > CJSON_NESTING_LIMIT)
        return;
    if (cJSON_IsArray(v)) {
        bool alternatives = key && (!strcmp(key, "choices") || !strcmp(key, "candidates"));
        size_t i = 0;
        for (const cJSON *c = v->child; c && w->ok; c = c->next, i++) {
            size_t saved = path_push(w, NULL, i, true);
            if (alternatives && i > 0)
                add_event(w, 0, true);
            walk(w, c, NULL, depth + 1);
            w->plen = saved;
            w->path[saved] = '\0';
        }
        return;
    }
    if (!cJSON_IsObject(v))
        return;
    const char *name;
    const cJSON *args;
    if (as_call(v, &name, &args)) {
        uint64_t a;
        if (!canon_args_value(args, &a)) {
            w->ok = false;
            return;
        }
        add_event(w, hv_call(hv_name(name, strlen(name)), a), false);
        return;
    }
    if (has_result(v))
        w->t->seen_result = true;
    const char *role = str_member(v, "role");
    bool user = str_is(role, "user") || str_is(role, "human");
    bool asst = str_is(role, "assistant") || str_is(role, "model");
    if (user && !has_result(v) && has_text(v))
        add_event(w, 0, true); /* a new request from the user */
    size_t before = w->t->n_ev;
    walk_members(w, v, depth);
    if (asst && has_text(v)) {
        bool calls = false;
        for (size_t i = before; i < w->t->n_ev; i++)
            calls |= !w->t->ev[i].boundary;
        if (!calls)
            add_event(w, 0, true); /* the assistant answered: the turn is over */
    }
}

/* A flagged finding for the JSON loop in the current record. */
static void jl_report(repfix_ctx *ctx, toolcall_state *t)
{
    if (!t->jl_active || t->jl_count == 0)
        return;
    repfix_finding f;
    memset(&f, 0, sizeof f);
    f.kind = REPFIX_K_TOOLCALL_REPEAT;
    f.action = REPFIX_ACTION_FLAGGED;
    f.line = ctx->record >= 0 ? (uint64_t)ctx->record + 1 : 0;
    f.period = t->jl_p;
    f.copies = t->jl_calls;
    f.count = t->jl_count;
    f.record = ctx->record;
    /* everything before the record went through stage A: its input offset */
    f.start = f.end = amap_in(ctx, ctx->a_off) + ctx->off_base;
    snprintf(f.path, sizeof f.path, "%s", t->ev[t->jl_path_ev].path);
    finding_add_copy(ctx, &f, ctx->a_off, ctx->a_off);
    t->jl_count = 0;
}

/* The loop ended (a call broke it, a boundary, a new conversation). */
static void jl_end(repfix_ctx *ctx, toolcall_state *t)
{
    jl_report(ctx, t);
    t->jl_active = false;
}

static void jl_feed(repfix_ctx *ctx, toolcall_state *t, size_t e)
{
    tc_event *ev = &t->ev[e];
    if (ev->boundary) {
        jl_end(ctx, t);
        seq_reset(&t->seq);
        return;
    }
    tc_step r = seq_push(&t->seq, ev->hash, ((uint64_t)t->rec_serial << 32) | e, ctx->keep, 0);
    if (r.broke)
        jl_end(ctx, t);
    if (r.cont) {
        t->jl_calls++;
        if (t->jl_count++ == 0)
            t->jl_path_ev = e;
    } else if (r.confirm) {
        const tc_seq *q = &t->seq;
        t->jl_active = true;
        t->jl_p = q->loop_p;
        t->jl_calls = r.old_n - q->loop_s;
        t->jl_count = 0;
        /* the repeated calls (after the first cycle) that are in this record */
        for (uint64_t k = q->loop_s + q->loop_p; k < r.old_n; k++) {
            uint64_t tag = q->tag[k % TC_WIN];
            if (tag >> 32 != t->rec_serial)
                continue;
            if (t->jl_count++ == 0)
                t->jl_path_ev = (size_t)(tag & 0xffffffffu);
        }
    }
}

void toolcall_record(repfix_ctx *ctx, const struct cJSON *record)
{
    toolcall_state *t = ctx->toolcall;
    if (!kind_on(ctx, REPFIX_K_TOOLCALL_REPEAT) || ctx->error || !record)
        return;
    t->n_ev = 0;
    t->is_conv = t->seen_result = false;
    walker w;
    w.ctx = ctx;
    w.t = t;
    w.plen = 0;
    w.path[0] = '\0';
    w.ok = true;
    walk(&w, record, NULL, 0);
    if (!w.ok) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    size_t calls = 0;
    for (size_t i = 0; i < t->n_ev; i++)
        calls += !t->ev[i].boundary;
    if (calls == 0 && !t->seen_result && !t->is_conv) {
        /* no call and no tool result: a user turn, a final answer, metadata */
        jl_end(ctx, t);
        seq_reset(&t->seq);
        t->prev_n = 0;
        return;
    }
    /* does this conversation continue the previous record? */
    uint64_t cum = 0, prev_cum = 0;
    for (size_t i = 0; i < t->n_ev; i++) {
        cum = h_mix(cum ^ t->ev[i].hash);
        if (i + 1 == t->prev_n)
            prev_cum = cum;
    }
    size_t start = 0;
    if (t->is_conv) {
        if (t->prev_n > 0 && t->n_ev >= t->prev_n && prev_cum == t->prev_cum) {
            start = t->prev_n;
        } else {
            jl_end(ctx, t);
            seq_reset(&t->seq);
        }
    }
    t->rec_serial++;
    for (size_t e = start; e < t->n_ev && !ctx->error; e++)
        jl_feed(ctx, t, e);
    jl_report(ctx, t);
    t->prev_n = t->n_ev;
    t->prev_cum = cum;
}

/* ---- text: blocks ---------------------------------------------------- */

static const char *q_at(const toolcall_state *t, size_t line) { return t->q.p + t->lines[line].off; }

static size_t line_total(const tc_line *l) { return (size_t)l->len + l->eol; }

/* Bytes of lines [first, first+n) (contiguous in q). */
static size_t span_len(const toolcall_state *t, size_t first, size_t n)
{
    if (n == 0)
        return 0;
    const tc_line *a = &t->lines[first], *b = &t->lines[first + n - 1];
    return b->off + line_total(b) - a->off;
}

static bool hold_line(repfix_ctx *ctx, toolcall_state *t, const line_view *lv)
{
    if (!GROW(t->lines, t->n_lines, t->cap_lines) ||
        !rbuf_append(&t->q, lv->p, lv->len + lv->eol)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return false;
    }
    t->lines[t->n_lines++] = (tc_line){t->q.len - lv->len - lv->eol, (uint32_t)lv->len,
                                       (uint32_t)lv->eol, lv->in_off, lv->line};
    t->in_seen = lv->in_off + lv->len + lv->eol;
    return true;
}

static size_t count_of(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle), c = 0;
    for (size_t i = 0; i + k <= n; i++)
        if (p[i] == needle[0] && !memcmp(p + i, needle, k)) {
            c++;
            i += k - 1;
        }
    return c;
}

/* Bracket depth across the line (strings skipped), from byte `from`. */
static void balance(toolcall_state *t, const char *p, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        char c = p[i];
        if (t->blk_str) {
            if (t->blk_esc)
                t->blk_esc = false;
            else if (c == '\\')
                t->blk_esc = true;
            else if (c == '"')
                t->blk_str = false;
            continue;
        }
        if (c == '"')
            t->blk_str = true;
        else if (c == '{' || c == '[' || c == '(') {
            t->depth++;
            t->blk_seen = true;
        } else if (c == '}' || c == ']' || c == ')')
            t->depth--;
    }
}

/* The syntax whose marker the line starts with, or -1. */
static int marker_at(const toolcall_state *t, const char *p, size_t len, size_t *at)
{
    size_t i = 0;
    while (i < 3 && i < len && p[i] == ' ')
        i++;
    if (i >= len || !(t->first[(unsigned char)p[i] >> 3] & (1u << ((unsigned char)p[i] & 7))))
        return -1;
    for (size_t s = 0; s < t->n_syn; s++) {
        const tc_syntax *y = &t->syn[s];
        if (y->end == END_FENCE) {
            size_t k = i;
            while (k < len && p[k] == '`')
                k++;
            if (k - i >= 3 && len - k >= 9 && !memcmp(p + k, "tool_code", 9) &&
                (len - k == 9 || is_space(p[k + 9])) && !memchr(p + k, '`', len - k)) {
                *at = k - i;
                return (int)s;
            }
            continue;
        }
        if (len - i >= y->marker_len && p[i] == y->marker[0] &&
            !memcmp(p + i, y->marker, y->marker_len)) {
            *at = i;
            return (int)s;
        }
    }
    return -1;
}

/* Runs syntax s's patterns over the block; appends its calls. */
static bool regex_first(toolcall_state *t, const tc_syntax *y, const char *p, size_t n,
                        size_t pos, size_t *which)
{
    bool found = false;
    PCRE2_SIZE best = 0;
    for (size_t k = 0; k < y->n_re; k++) {
        int rc = pcre2_match(y->re[k].re, (PCRE2_SPTR)p, n, pos, 0, t->md, t->mc);
        if (rc < 0)
            continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        if (!found || ov[0] < best) {
            found = true;
            best = ov[0];
            *which = k;
        }
    }
    if (found && *which != y->n_re - 1) /* rerun the winner: the match data is shared */
        pcre2_match(y->re[*which].re, (PCRE2_SPTR)p, n, pos, 0, t->md, t->mc);
    return found;
}

/* Hashes one call from its name and args groups (name may be unset:
 * then args is a {"name": ..., "arguments" | "parameters": ...} object).
 * False: out of memory. */
static bool call_hash(const char *name, size_t name_len, const char *args, size_t args_len,
                      bool has_name, uint64_t *out)
{
    uint64_t a;
    if (has_name) {
        if (!canon_args_text(args, args_len, &a))
            return false;
        *out = hv_call(hv_name(name, name_len), a);
        return true;
    }
    jtext j = {args, args_len, 0, 0, false};
    jcall c = {false, false, 0, 0};
    uint64_t whole;
    jt_ws(&j);
    if (j.i < j.n && args[j.i] == '{') {
        j.depth = 1;
        bool ok = jt_object(&j, &whole, &c);
        jt_ws(&j);
        if (ok && j.i == j.n) {
            /* no name: the whole object is the call */
            *out = c.has_name ? hv_call(c.name, c.has_args ? c.args : hv_object(NULL, 0))
                              : hv_call(hv_name("", 0), whole);
            return true;
        }
        if (j.nomem)
            return false;
    }
    if (!canon_text(args, args_len, &a))
        return false;
    *out = hv_call(hv_name("", 0), a);
    return true;
}

/* Finds the calls of the block in lines [first, first+n); false on no memory. */
static bool parse_calls(repfix_ctx *ctx, toolcall_state *t, uint32_t syn, size_t first,
                        size_t n, size_t *found)
{
    const tc_syntax *y = &t->syn[syn];
    const char *p = q_at(t, first);
    size_t len = span_len(t, first, n), pos = 0, which = 0;
    *found = 0;
    while (pos <= len && regex_first(t, y, p, len, pos, &which)) {
        const tc_regex *r = &y->re[which];
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me) /* \K past the end cannot happen with our patterns; be safe */
            ms = me;
        size_t ns = 0, ne = 0, as = ms, ae = me;
        bool has_name = false;
        if (r->name_grp > 0 && ov[2 * r->name_grp] != PCRE2_UNSET) {
            ns = ov[2 * r->name_grp];
            ne = ov[2 * r->name_grp + 1];
            has_name = ne > ns;
        }
        if (r->args_grp > 0 && ov[2 * r->args_grp] != PCRE2_UNSET) {
            as = ov[2 * r->args_grp];
            ae = ov[2 * r->args_grp + 1];
        }
        uint64_t h;
        if (!call_hash(p + ns, ne - ns, p + as, ae - as, has_name, &h) ||
            !GROW(t->calls, t->n_calls, t->cap_calls)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        t->calls[t->n_calls++] = (tc_call){(uint32_t)ms, (uint32_t)me, (uint32_t)ae, h,
                                           t->next_ord++, 0, 0, 0, TC_PENDING};
        (*found)++;
        pos = me > pos ? me : pos + 1;
    }
    return true;
}

/* ---- text: emission ------------------------------------------------ */

static void replay(repfix_ctx *ctx, toolcall_state *t, size_t first, size_t n)
{
    t->replaying = true;
    for (size_t i = first; i < first + n && !ctx->error; i++) {
        const tc_line *l = &t->lines[i];
        line_view lv = {q_at(t, i), l->len, l->eol, l->in_off, l->line, false};
        scan_line(ctx, &lv);
    }
    t->replaying = false;
}

static tc_loop *loop_by_id(toolcall_state *t, uint32_t id)
{
    for (size_t i = 0; i < t->n_loops; i++)
        if (t->loops[i].id == id)
            return &t->loops[i];
    return NULL;
}

/* Bytes [in_start, in_end) of loop `id` are dropped at the current
 * position: the first drop opens its finding, later ones extend it. */
static void loop_drop(repfix_ctx *ctx, toolcall_state *t, uint32_t id, uint64_t in_start,
                      uint64_t in_end, uint64_t line, uint64_t ndropped)
{
    tc_loop *lp = loop_by_id(t, id);
    if (!lp)
        return;
    uint64_t copies = ndropped;
    if (!lp->reported)
        copies += (uint64_t)ctx->keep * lp->p;
    finding_add(ctx, REPFIX_K_TOOLCALL_REPEAT, in_start, in_end, ctx->a_off, ctx->a_off, line,
                lp->p, copies, ndropped, lp->id);
    lp->reported = true;
}

/* Bytes outside the block's calls are only framing: whitespace, brackets
 * and separators, markers, <|special|> tokens, the fence lines. */
static bool framing_only(const toolcall_state *t, const tc_unit *u)
{
    const tc_syntax *y = &t->syn[u->syn];
    const char *p = q_at(t, u->first);
    size_t len = span_len(t, u->first, u->n);
    size_t body0 = 0, body1 = len;
    if (y->end == END_FENCE) {
        body0 = line_total(&t->lines[u->first]);
        if (u->n > 1)
            body1 = t->lines[u->first + u->n - 1].off - t->lines[u->first].off;
    }
    size_t c = u->call0, pos = body0;
    while (pos < body1) {
        if (c < u->call0 + u->ncalls && pos >= t->calls[c].m_start) {
            if (t->calls[c].m_end > pos)
                pos = t->calls[c].m_end;
            c++;
            continue;
        }
        size_t stop = c < u->call0 + u->ncalls && t->calls[c].m_start < body1 ? t->calls[c].m_start : body1;
        while (pos < stop) {
            char ch = p[pos];
            if (stop - pos >= y->marker_len && y->marker_len &&
                !memcmp(p + pos, y->marker, y->marker_len)) {
                pos += y->marker_len;
            } else if (is_space(ch) || ch == '[' || ch == ']' || ch == ',' || ch == ';') {
                pos++;
            } else if (ch == '<' && stop - pos >= 4 && p[pos + 1] == '|') {
                size_t e = pos + 2;
                while (e + 1 < stop && e < pos + 40 && !(p[e] == '|' && p[e + 1] == '>') && !is_space(p[e]))
                    e++;
                if (e + 1 < stop && p[e] == '|' && p[e + 1] == '>')
                    pos = e + 2;
                else
                    return false;
            } else {
                return false;
            }
        }
    }
    return true;
}

/* Line ends in lines [first, first + n): dropped ones still count for the
 * input line numbers of later findings (ctx->nl_dropped). */
static uint64_t line_ends(const toolcall_state *t, size_t first, size_t n)
{
    uint64_t k = 0;
    for (size_t i = first; i < first + n; i++)
        k += t->lines[i].eol > 0;
    return k;
}

/* Line ends in p[lo, hi). */
static uint64_t nl_in(const char *p, size_t lo, size_t hi)
{
    uint64_t k = 0;
    for (const char *q = p + lo, *e = p + hi; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
        k++;
    return k;
}

/* Line number of byte off of the unit's block. */
static uint64_t line_of(const toolcall_state *t, const tc_unit *u, size_t off)
{
    size_t base = t->lines[u->first].off;
    for (size_t i = u->first; i < u->first + u->n; i++)
        if (t->lines[i].off - base + line_total(&t->lines[i]) > off)
            return t->lines[i].line;
    return t->lines[u->first + u->n - 1].line;
}

/* Scan's block state after a tool-call block: it reads as a paragraph
 * line (a fence after a tool_code block). */
static void scan_after(repfix_ctx *ctx, bool fenced)
{
    ctx->scan.prev_blank = false;
    ctx->scan.prev_indented = false;
    ctx->scan.prev_para = !fenced;
}

/* Emits a unit whose calls are all final. */
static void emit_unit(repfix_ctx *ctx, toolcall_state *t, const tc_unit *u)
{
    if (u->collapsed) {
        loop_drop(ctx, t, u->loop, u->in_start, u->in_end, u->line, u->ndrop);
        ctx->nl_dropped += u->nl;
        stage_a_emit(ctx, NULL, 0, u->in_start, u->in_end - u->in_start, BLOCK_CODE);
        return;
    }
    const tc_call *c = &t->calls[u->call0];
    size_t nc = u->ncalls;
    const tc_line *fl = &t->lines[u->first];
    uint64_t in0 = fl->in_off;
    size_t blen = span_len(t, u->first, u->n);
    const char *p = q_at(t, u->first);
    size_t ndrop = 0;
    for (size_t i = 0; i < nc; i++)
        ndrop += c[i].st == TC_DROP;
    if (ndrop == nc && framing_only(t, u)) { /* the whole block goes, with its gap */
        uint64_t start = u->gap_n ? t->lines[u->gap_first].in_off : in0;
        uint64_t line = u->gap_n ? t->lines[u->gap_first].line : fl->line;
        loop_drop(ctx, t, c[0].loop, start, in0 + blen, line, nc);
        ctx->nl_dropped += line_ends(t, u->gap_n ? u->gap_first : u->first,
                                     u->first + u->n - (u->gap_n ? u->gap_first : u->first));
        stage_a_emit(ctx, NULL, 0, start, in0 + blen - start, BLOCK_CODE);
        return;
    }
    if (u->gap_n)
        replay(ctx, t, u->gap_first, u->gap_n);
    table_flush(ctx);
    newline_flush(ctx, false, false);
    size_t pos = 0;
    for (size_t i = 0; i < nc && !ctx->error;) {
        if (c[i].st != TC_DROP) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < nc && c[j + 1].st == TC_DROP && c[j + 1].loop == c[i].loop)
            j++;
        size_t rs, re;
        if (j + 1 < nc) {
            rs = c[i].m_start; /* a call follows: up to its start */
            re = c[j + 1].m_start;
        } else if (i > 0) {
            rs = c[i - 1].a_end; /* the block's tail: from the kept call's arguments */
            re = c[j].a_end;
        } else {
            rs = c[i].m_start;
            re = c[j].m_end;
        }
        if (rs < pos)
            rs = pos;
        if (re > rs) {
            stage_a_emit(ctx, p + pos, rs - pos, in0 + pos, rs - pos, BLOCK_CODE);
            loop_drop(ctx, t, c[i].loop, in0 + rs, in0 + re, line_of(t, u, rs), j - i + 1);
            ctx->nl_dropped += nl_in(p, rs, re);
            stage_a_emit(ctx, NULL, 0, in0 + rs, re - rs, BLOCK_CODE);
            pos = re;
        }
        i = j + 1;
    }
    stage_a_emit(ctx, p + pos, blen - pos, in0 + pos, blen - pos, BLOCK_CODE);
    scan_after(ctx, t->syn[u->syn].end == END_FENCE);
}

/* Closes the findings of loops that ended and whose calls all went out. */
static void loops_close(repfix_ctx *ctx, toolcall_state *t, bool all)
{
    uint64_t out_below = UINT64_MAX; /* calls below this ord are emitted */
    if (!all && t->u0 < t->n_units)
        out_below = t->units[t->u0].ord0;
    size_t k = 0;
    for (size_t i = 0; i < t->n_loops; i++) {
        tc_loop *lp = &t->loops[i];
        if ((lp->ended || all) && lp->last_ord < out_below) {
            if (!lp->reported) /* nothing was dropped (--keep): report the calls */
                finding_add(ctx, REPFIX_K_TOOLCALL_REPEAT, lp->in_start, lp->in_end, ctx->a_off,
                            ctx->a_off, lp->line, lp->p, lp->calls, 0, lp->id);
            finding_close_group(ctx, lp->id);
            continue;
        }
        t->loops[k++] = *lp;
    }
    t->n_loops = k;
}

/* Moves the live part of the queue to its front. */
static void compact(toolcall_state *t)
{
    size_t l0 = t->n_lines, c0 = t->n_calls;
    for (size_t u = t->u0; u < t->n_units; u++)
        if (!t->units[u].collapsed) {
            l0 = t->units[u].gap_n ? t->units[u].gap_first : t->units[u].first;
            c0 = t->units[u].call0;
            break;
        }
    if (l0 == t->n_lines && t->gap_n)
        l0 = t->gap_first;
    if (l0 == t->n_lines && t->open)
        l0 = t->blk_first;
    size_t b0 = l0 < t->n_lines ? t->lines[l0].off : t->q.len;
    memmove(t->q.p, t->q.p + b0, t->q.len - b0);
    t->q.len -= b0;
    memmove(t->lines, t->lines + l0, (t->n_lines - l0) * sizeof *t->lines);
    t->n_lines -= l0;
    for (size_t i = 0; i < t->n_lines; i++)
        t->lines[i].off -= b0;
    memmove(t->units, t->units + t->u0, (t->n_units - t->u0) * sizeof *t->units);
    t->n_units -= t->u0;
    t->u0 = 0;
    for (size_t i = 0; i < t->n_units; i++) {
        if (t->units[i].collapsed)
            continue;
        t->units[i].gap_first -= t->units[i].gap_n ? l0 : 0;
        t->units[i].first -= l0;
        t->units[i].call0 -= c0;
    }
    memmove(t->calls, t->calls + c0, (t->n_calls - c0) * sizeof *t->calls);
    t->n_calls -= c0;
    if (t->gap_n)
        t->gap_first -= l0;
    if (t->open)
        t->blk_first -= l0;
}

/* Emits the units at the front whose calls are all final. */
static void emit_ready(repfix_ctx *ctx, toolcall_state *t)
{
    bool any = false;
    while (t->u0 < t->n_units && !ctx->error) {
        const tc_unit *u = &t->units[t->u0];
        bool final = true;
        for (size_t i = 0; !u->collapsed && i < u->ncalls && final; i++)
            final = t->calls[u->call0 + i].st != TC_PENDING;
        if (!final)
            break;
        emit_unit(ctx, t, u);
        t->u0++;
        any = true;
    }
    if (any) {
        loops_close(ctx, t, false);
        compact(t);
    }
}

/* Ends the group: pending calls are kept, every unit goes out, the blank
 * lines after the last block and an unfinished block are replayed. */
static void release_all(repfix_ctx *ctx, toolcall_state *t)
{
    for (size_t i = 0; i < t->n_calls; i++)
        if (t->calls[i].st == TC_PENDING)
            t->calls[i].st = TC_KEEP;
    for (size_t i = 0; i < t->n_loops; i++)
        t->loops[i].ended = true;
    emit_ready(ctx, t);
    loops_close(ctx, t, true);
    if (t->gap_n)
        replay(ctx, t, t->gap_first, t->gap_n);
    if (t->open)
        replay(ctx, t, t->blk_first, t->blk_n);
    queue_clear(t);
    seq_reset(&t->seq);
    t->group = false;
}

static void loop_extend(tc_loop *lp, const toolcall_state *t, const tc_unit *u, const tc_call *c)
{
    uint64_t in0 = t->lines[u->first].in_off;
    if (!lp->in_end) {
        lp->in_start = in0 + c->m_start;
        lp->line = line_of(t, u, c->m_start);
    }
    lp->in_end = in0 + c->m_end;
    lp->last_ord = c->ord;
}

/* Index among the kept calls of the oldest pending call (calls before it
 * are final), or the number of kept calls. */
static uint64_t frontier(const toolcall_state *t)
{
    for (size_t m = 0; m < t->n_calls; m++)
        if (t->calls[m].st == TC_PENDING)
            return t->calls[m].idx;
    return t->seq.n;
}

/* Feeds the calls of the newest unit to the sequence and decides them. A
 * kept call stays pending (a later loop may still reach back to it, after
 * a cut shortened the sequence) until TC_HOLD calls were kept after it. */
static void feed_unit(repfix_ctx *ctx, toolcall_state *t)
{
    const tc_unit *u = &t->units[t->n_units - 1];
    for (size_t k = u->call0; k < u->call0 + u->ncalls && !ctx->error; k++) {
        tc_call *c = &t->calls[k];
        uint32_t active = t->seq.loop_p ? t->next_loop : 0;
        tc_step r = seq_push(&t->seq, c->hash, c->ord, ctx->keep, frontier(t));
        if (r.broke) {
            tc_loop *lp = loop_by_id(t, active);
            if (lp)
                lp->ended = true;
        }
        if (r.cont) {
            tc_loop *lp = loop_by_id(t, active);
            c->loop = active;
            c->st = r.kept ? TC_PENDING : TC_DROP;
            c->idx = t->seq.n - 1;
            c->serial = t->seq.appends - 1;
            if (lp) {
                lp->calls++;
                loop_extend(lp, t, u, c);
            }
            continue;
        }
        c->idx = (r.confirm ? r.old_n : t->seq.n) - 1;
        c->serial = t->seq.appends - 1;
        if (!r.confirm)
            continue;
        if (!GROW(t->loops, t->n_loops, t->cap_loops)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return;
        }
        tc_loop *lp = &t->loops[t->n_loops++];
        memset(lp, 0, sizeof *lp);
        lp->id = ++t->next_loop ? t->next_loop : ++t->next_loop;
        lp->p = t->seq.loop_p;
        lp->calls = r.old_n - t->seq.loop_s;
        /* the pending calls of the loop: its copies past the kept cycles go */
        for (size_t w = t->u0; w < t->n_units; w++) {
            const tc_unit *v = &t->units[w];
            for (size_t m = v->call0; !v->collapsed && m < v->call0 + v->ncalls && m <= k; m++) {
                tc_call *d = &t->calls[m];
                if (d->st != TC_PENDING || d->idx < t->seq.loop_s)
                    continue;
                d->loop = lp->id;
                if (d->idx >= t->seq.keep_end)
                    d->st = TC_DROP;
                loop_extend(lp, t, v, d);
            }
        }
        if (ctx->stop_on_loop)
            ctx->stopped = true;
    }
}

/* Input held from the front unit on. */
static uint64_t held_span(const toolcall_state *t)
{
    if (t->u0 >= t->n_units)
        return 0;
    const tc_unit *u = &t->units[t->u0];
    uint64_t start = u->collapsed ? u->in_start
                                  : t->lines[u->gap_n ? u->gap_first : u->first].in_off;
    return t->in_seen - start;
}

/* Releases pending calls that are final by now (TC_HOLD kept calls or
 * TC_HOLD_CALLS calls after them, or too much input held), turns a wholly
 * dropped newest unit into a record without bytes, and emits what is
 * ready. Past these bounds a later loop can no longer reach back to a call:
 * its copies then stay (fix is idempotent within the bounds). */
static void settle(repfix_ctx *ctx, toolcall_state *t)
{
    for (size_t m = 0; m < t->n_calls; m++)
        if (t->calls[m].st == TC_PENDING && (t->calls[m].serial + TC_HOLD <= t->seq.appends ||
                                              t->calls[m].ord + TC_HOLD_CALLS <= t->next_ord))
            t->calls[m].st = TC_KEEP;
    tc_unit *u = &t->units[t->n_units - 1];
    bool all_drop = u->ncalls > 0;
    for (size_t i = 0; i < u->ncalls && all_drop; i++)
        all_drop = t->calls[u->call0 + i].st == TC_DROP;
    if (all_drop && framing_only(t, u)) {
        const tc_line *fl = &t->lines[u->first], *ll = &t->lines[u->first + u->n - 1];
        uint64_t start = u->gap_n ? t->lines[u->gap_first].in_off : fl->in_off;
        uint64_t line = u->gap_n ? t->lines[u->gap_first].line : fl->line;
        uint64_t end = ll->in_off + line_total(ll), nd = u->ncalls, ord = t->calls[u->call0].ord;
        uint32_t loop = t->calls[u->call0].loop;
        size_t l0 = u->gap_n ? u->gap_first : u->first;
        uint64_t nl = line_ends(t, l0, u->first + u->n - l0);
        t->q.len = t->lines[l0].off; /* its bytes are the newest in the queue */
        t->n_lines = l0;
        t->n_calls = u->call0;
        tc_unit *prev = t->n_units - 1 > t->u0 ? u - 1 : NULL;
        if (prev && prev->collapsed && prev->loop == loop && prev->in_end == start) {
            prev->in_end = end;
            prev->ndrop += nd;
            prev->nl += nl;
            t->n_units--;
        } else {
            *u = (tc_unit){0, 0, 0, 0, t->n_calls, 0, 0, ord, true, loop, start, end, line, nd, nl};
        }
    }
    emit_ready(ctx, t);
    while (held_span(t) > TC_HOLD_BYTES && !ctx->error) {
        size_t m = 0;
        while (m < t->n_calls && t->calls[m].st != TC_PENDING)
            m++;
        if (m == t->n_calls)
            break;
        t->calls[m].st = TC_KEEP;
        emit_ready(ctx, t);
    }
}

/* The open block is complete: parse it; a block without calls is replayed. */
static void finish_block(repfix_ctx *ctx, toolcall_state *t)
{
    if (!builtins_compile(ctx, t))
        return;
    size_t call0 = t->n_calls, found = 0;
    if (!parse_calls(ctx, t, t->blk_syn, t->blk_first, t->blk_n, &found))
        return;
    if (found == 0) {
        release_all(ctx, t);
        return;
    }
    if (!GROW(t->units, t->n_units, t->cap_units)) {
        ctx_fail(ctx, REPFIX_E_NOMEM);
        return;
    }
    t->units[t->n_units++] = (tc_unit){t->gap_first, t->gap_n, t->blk_first, t->blk_n,
                                       call0, found, t->blk_syn, t->calls[call0].ord,
                                       false, 0, 0, 0, 0, 0, 0};
    t->open = false;
    t->gap_n = 0;
    t->group = true;
    feed_unit(ctx, t);
    settle(ctx, t);
}

/* The block's end rule after its latest line. */
static bool block_ends(repfix_ctx *ctx, toolcall_state *t, const line_view *lv, bool first_line,
                       size_t at)
{
    const tc_syntax *y = &t->syn[t->blk_syn];
    switch (y->end) {
    case END_TAG:
        t->depth += (int64_t)count_of(lv->p, lv->len, y->open_tag);
        t->depth -= (int64_t)count_of(lv->p, lv->len, y->close_tag);
        return t->depth <= 0;
    case END_BALANCED: {
        size_t from = first_line ? at + y->marker_len : 0;
        balance(t, lv->p, lv->len, from);
        /* a marker alone on its line: the call follows on the next ones */
        bool rest = from < lv->len && !line_is_blank(lv->p + from, lv->len - from);
        return t->depth <= 0 && !t->blk_str && (t->blk_seen || (first_line && rest));
    }
    case END_FENCE: {
        if (first_line)
            return false;
        size_t i = 0, n = 0;
        while (i < 3 && i < lv->len && lv->p[i] == ' ')
            i++;
        while (i + n < lv->len && lv->p[i + n] == '`')
            n++;
        return n >= t->fence_len && line_is_blank(lv->p + i + n, lv->len - i - n);
    }
    default: { /* END_MATCH: the user pattern matches the block so far */
        if (!match_setup(t)) {
            ctx_fail(ctx, REPFIX_E_NOMEM);
            return false;
        }
        const char *p = q_at(t, t->blk_first);
        size_t len = span_len(t, t->blk_first, t->blk_n);
        return pcre2_match(y->re[0].re, (PCRE2_SPTR)p, len, 0, 0, t->md, t->mc) >= 0;
    }
    }
}

/* The first byte after at most 3 spaces can start a marker (marker_at's
 * first test, inlined: most lines fail it). */
static bool may_open(const toolcall_state *t, const char *p, size_t len)
{
    size_t i = 0;
    while (i < 3 && i < len && p[i] == ' ')
        i++;
    if (i >= len)
        return false;
    unsigned char c = (unsigned char)p[i];
    return (t->first[c >> 3] >> (c & 7)) & 1;
}

/* toolcall_line for a line that may belong to a block: one is open, a
 * group continues, or the line may start with a marker. Out of line, so
 * the test of most lines needs no stack frame. */
#ifdef __GNUC__
__attribute__((noinline))
#endif
static bool block_line(repfix_ctx *ctx, toolcall_state *t, const line_view *lv)
{
    if (t->open) {
        if (!hold_line(ctx, t, lv))
            return true;
        t->blk_n++;
        if (span_len(t, t->blk_first, t->blk_n) > TC_BLOCK_MAX || t->blk_n > TC_BLOCK_LINES)
            release_all(ctx, t); /* not a call we can hold: give up, replay */
        else if (block_ends(ctx, t, lv, false, 0))
            finish_block(ctx, t);
        return true;
    }
    size_t at = 0;
    int s = -1;
    if (!t->group) {
        s = marker_at(t, lv->p, lv->len, &at);
        if (s < 0)
            return false;
    } else {
        if (line_is_blank(lv->p, lv->len)) {
            if (t->gap_n >= TC_GAP_MAX) {
                release_all(ctx, t);
                return false;
            }
            if (!t->gap_n)
                t->gap_first = t->n_lines;
            if (hold_line(ctx, t, lv))
                t->gap_n++;
            return true;
        }
        s = marker_at(t, lv->p, lv->len, &at);
        if (s < 0) {
            release_all(ctx, t);
            return false;
        }
    }
    t->open = true;
    t->blk_first = t->n_lines;
    t->blk_n = 0;
    t->blk_syn = (uint32_t)s;
    t->depth = 0;
    t->blk_seen = t->blk_str = t->blk_esc = false;
    t->fence_len = (uint32_t)at; /* END_FENCE: marker_at returned the run length */
    if (!hold_line(ctx, t, lv))
        return true;
    t->blk_n = 1;
    if (block_ends(ctx, t, lv, true, at))
        finish_block(ctx, t);
    return true;
}

bool toolcall_idle(const repfix_ctx *ctx, const char *p, size_t len)
{
    const toolcall_state *t = ctx->toolcall;
    size_t at;
    return !t->open && !t->group && marker_at(t, p, len, &at) < 0;
}

bool toolcall_line(repfix_ctx *ctx, const line_view *lv)
{
    toolcall_state *t = ctx->toolcall;
    if (t->replaying || ctx->error)
        return false;
    /* the hot path: one table lookup for most lines */
    if (!t->open && !t->group &&
        (lv->len == 0 || ctx->scan.fence_char || ctx->scan.html_end ||
         !may_open(t, lv->p, lv->len)))
        return false;
    return block_line(ctx, t, lv);
}

void toolcall_flush(repfix_ctx *ctx)
{
    toolcall_state *t = ctx->toolcall;
    if (t->open || t->group || t->n_lines || t->n_loops)
        release_all(ctx, t);
}
