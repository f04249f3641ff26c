/*
 * jsonl.c - JSON Lines checks the spec files cannot express: --field paths
 * through the library, record numbers and paths of findings, nesting
 * limits, the over-long line bound (65 MiB, fed in several splits), flag
 * mode, and a randomized round of generated records (any split gives the
 * same bytes and findings; the output has the input's lines; a second pass
 * changes nothing; a changed line differs only inside string values).
 */
#include "harness.h"

#include <stdint.h>

typedef struct {
    const char *fields[4];
    int mode;
    long chunk; /* as t_run: 0 whole, >0 fixed, <0 random from seed */
} run_opts;

/* Runs src through a JSONL context with the given fields. */
static t_result run(const char *src, size_t len, run_opts o)
{
    repfix_ctx *ctx = repfix_ctx_new();
    if (ctx) {
        repfix_set_param(ctx, REPFIX_P_FORMAT, REPFIX_FORMAT_JSONL);
        repfix_set_param(ctx, REPFIX_P_MODE, o.mode);
        for (int i = 0; i < 4 && o.fields[i]; i++)
            CHECK(repfix_add_field(ctx, o.fields[i]) == REPFIX_OK, "add_field %s", o.fields[i]);
    }
    return t_run_ctx(ctx, src, len, o.chunk, 5000, 1 << 16);
}

static t_result run_s(const char *s, run_opts o) { return run(s, strlen(s), o); }

static void test_fields(void)
{
    run_opts o = {{"data.reply", "items[].t", "[1].text", NULL}, REPFIX_MODE_FIX, 0};
    t_result r = run_s("{\"data\":{\"reply\":\"a\\n\\n\\n\\n\\nb\"},\"items\":[{\"t\":\"c\\n\\n\\n\\n\\nd\"},{\"t\":7}],"
                       "\"x\":{\"data\":{\"reply\":\"e\\n\\n\\n\\n\\nf\"}}}\n"
                       "[{\"text\":\"g\\n\\n\\n\\n\\nh\"},{\"text\":\"i\\n\\n\\n\\n\\nj\"}]\n",
                       o);
    CHECK(r.st == REPFIX_OK, "fields: status");
    CHECK(!strcmp(r.out, "{\"data\":{\"reply\":\"a\\n\\nb\"},\"items\":[{\"t\":\"c\\n\\nd\"},{\"t\":7}],"
                         "\"x\":{\"data\":{\"reply\":\"e\\n\\n\\n\\n\\nf\"}}}\n"
                         "[{\"text\":\"g\\n\\n\\n\\n\\nh\"},{\"text\":\"i\\n\\nj\"}]\n"),
          "fields: output\n%s", r.out);
    CHECK(r.nf == 3 && !strcmp(r.f[0].path, "data.reply") && !strcmp(r.f[1].path, "items[0].t") &&
              !strcmp(r.f[2].path, "[1].text") && r.f[2].record == 1,
          "fields: paths and records");
    t_result_free(&r);

    repfix_ctx *ctx = repfix_ctx_new();
    CHECK(repfix_add_field(ctx, "a..b") == REPFIX_E_PARAM, "malformed field refused");
    CHECK(repfix_add_field(ctx, "a[x]") == REPFIX_E_PARAM, "malformed index refused");
    CHECK(repfix_add_field(ctx, "") == REPFIX_E_PARAM, "empty field refused");
    CHECK(repfix_add_field(ctx, "a[3][].b") == REPFIX_OK, "nested arrays accepted");
    repfix_ctx_free(ctx);
}

static void test_records(void)
{
    run_opts o = {{NULL}, REPFIX_MODE_FIX, 0};
    const char *in = "\n"
                     "nope\n"
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\","
                     "\"content\":\"a\\n\\n\\n\\n\\nb\"}]}\n"
                     "   \n"
                     "{\"choices\":[{\"mess\\u0061ge\":{\"content\":\"x\\n\\n\\n\\n\\ny\"}}]}";
    t_result r = run_s(in, o);
    CHECK(r.nf == 3, "records: %zu findings", r.nf);
    if (r.nf == 3) {
        CHECK(r.f[0].kind == REPFIX_K_INVALID_JSON && r.f[0].record == 1 && r.f[0].line == 2 &&
                  r.f[0].start == 1 && r.f[0].end == 5 && r.f[0].action == REPFIX_ACTION_FLAGGED,
              "invalid line: record 1, offsets 1..5, flagged");
        CHECK(r.f[1].record == 2 && !strcmp(r.f[1].path, "messages[1].content") &&
                  r.f[1].action == REPFIX_ACTION_FIXED,
              "messages[1].content at record 2 (%s)", r.f[1].path);
        CHECK(r.f[2].record == 4 && !strcmp(r.f[2].path, "choices[0].message.content"),
              "escaped key decoded in the path (%s)", r.f[2].path);
        /* stage A positions: the field's finding points at its output bytes */
        const char *at = strstr(r.out, "a\\n\\nb");
        CHECK(at && r.f[1].out_start == (uint64_t)(at - r.out),
              "out_start is where the field's text goes out");
    }
    run_opts fo = o;
    fo.mode = REPFIX_MODE_FLAG;
    t_result fl = run_s(in, fo);
    CHECK(fl.len == strlen(in) && !memcmp(fl.out, in, fl.len) && fl.nf == 3 &&
              fl.f[1].action == REPFIX_ACTION_FLAGGED,
          "flag mode: input unchanged, same findings flagged");
    t_result_free(&fl);
    t_result_free(&r);

    /* a long key: the path is truncated, never overflows */
    char rec[1024];
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(rec, sizeof rec, "{\"%s\":{\"content\":[{\"text\":\"a\\n\\n\\n\\n\\nb\"}]}}\n", key);
    r = run_s(rec, o);
    CHECK(r.nf == 1 && strlen(r.f[0].path) == sizeof r.f[0].path - 1, "long path truncated");
    t_result_free(&r);

    /* lone surrogates: valid JSON here, cleaned, kept as written */
    r = run_s("{\"content\":[{\"text\":\"\\ud800 a\\n\\n\\n\\n\\nb \\udc00\"}]}\n", o);
    CHECK(!strcmp(r.out, "{\"content\":[{\"text\":\"\\ud800 a\\n\\nb \\udc00\"}]}\n"),
          "lone surrogates: %s", r.out);
    t_result_free(&r);
    /* ... also in a record with tool calls, which cJSON cannot parse */
    r = run_s("{\"choices\":[{\"message\":{\"content\":\"\\udbff a\\n\\n\\n\\n\\nb\","
              "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n", o);
    CHECK(r.st == REPFIX_OK && strstr(r.out, "\"\\udbff a\\n\\nb\"") && r.nf == 1,
          "lone surrogate with tool calls: %s %s", repfix_status_name(r.st), r.out);
    t_result_free(&r);
}

static void test_nesting(void)
{
    run_opts o = {{NULL}, REPFIX_MODE_FIX, 0};
    size_t deep = 200000;
    char *s = malloc(2 * deep + 2);
    for (size_t depth = 999; depth <= 1001; depth++) {
        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\n';
        s[2 * depth + 1] = '\0';
        t_result r = run_s(s, o);
        CHECK(r.len == 2 * depth + 1 && !memcmp(r.out, s, r.len), "depth %zu passes through", depth);
        CHECK(r.nf == (depth > 1000 ? 1u : 0u), "depth %zu: %zu findings", depth, r.nf);
        t_result_free(&r);
    }
    memset(s, '[', deep);
    s[deep] = '\0';
    t_result r = run_s(s, o);
    CHECK(r.st == REPFIX_OK && r.len == deep && r.nf == 1, "200000 open brackets: passes");
    t_result_free(&r);
    free(s);
}

static void test_overlong(void)
{
    size_t body = (64u << 20) + 1000;
    const char *tail = "{\"choices\":[{\"message\":{\"content\":\"a\\n\\n\\n\\n\\nb\"}}]}\n";
    size_t len = 6 + body + 4 + strlen(tail);
    char *s = malloc(len + 1);
    memcpy(s, "{\"a\":\"", 6);
    memset(s + 6, 'x', body);
    memcpy(s + 6 + body, "\"}\r\n", 4);
    memcpy(s + 6 + body + 4, tail, strlen(tail) + 1);
    run_opts o = {{NULL}, REPFIX_MODE_FIX, 0};
    t_result whole = run(s, len, o);
    CHECK(whole.st == REPFIX_OK && whole.len == len - 6 && !memcmp(whole.out, s, 6 + body + 4),
          "over-long line passes through");
    CHECK(whole.nf == 2 && whole.f[0].kind == REPFIX_K_INVALID_JSON && whole.f[0].start == 0 &&
              whole.f[0].end == 6 + body + 2 && whole.f[0].record == 0 &&
              whole.f[1].record == 1 && whole.f[1].kind == REPFIX_K_NEWLINE_RUN,
          "over-long line: one finding for the whole line, next record repaired");
    long chunks[] = {1 << 20, 65537, -7, 6 + (long)body + 3};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        o.chunk = chunks[i];
        t_result r = run(s, len, o);
        CHECK(t_same(&whole, &r), "over-long line: chunks of %ld give the same result", chunks[i]);
        t_result_free(&r);
    }
    t_result_free(&whole);
    free(s);
}

/* ---- randomized records ------------------------------------------------ */

static unsigned long rng = 88172645463325252UL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void put(char **p, const char *s) { size_t n = strlen(s); memcpy(*p, s, n); *p += n; }

/* A text value body with escapes, unicode and maybe a defect. */
static void text_value(char **p)
{
    static const char *const pieces[] = {
        "Hello", " world", "\\n", "\\n\\n", "caf\\u00e9", "\\ud83d\\ude00", "\\\"q\\\"", "\\\\",
        "\\t", "| a | b |\\n|---|---|\\n| 1 | 2 |\\n", "\\/", " \\u2014 ", "\\u0000", "x",
        "\\r\\n", "\\ud800", "\\u00E9"};
    static const char *const defects[] = {"\\n\\n\\n\\n\\n\\n", "\\\\n\\\\n\\\\n\\\\n\\\\n",
                                          "\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n"};
    int n = (int)rnd(12);
    for (int i = 0; i < n; i++)
        put(p, rnd(9) == 0 ? defects[rnd(3)] : pieces[rnd(17)]);
}

static size_t gen_record(char *buf)
{
    char *p = buf;
    switch (rnd(5)) {
    case 0:
        put(&p, "{\"id\":\"c1\",\"created\":123456789012345678901,\"choices\":[{\"index\":0,\"message\":{\"content\":\"");
        text_value(&p);
        put(&p, "\"}}],\"x\":1.5e+300}");
        break;
    case 1:
        put(&p, "{ \"candidates\" :[ {\"content\":{\"parts\":[{\"text\":\"");
        text_value(&p);
        put(&p, "\"} , {\"text\" : \"");
        text_value(&p);
        put(&p, "\"}]}}]}");
        break;
    case 2:
        put(&p, "{\"content\":[{\"type\":\"text\",\"text\":\"");
        text_value(&p);
        put(&p, "\"},{\"type\":\"tool_use\",\"name\":\"f\",\"input\":{\"q\":\"\\n\\n\\n\\n\\n\"}}]}");
        break;
    case 3: /* broken: cut somewhere */
        put(&p, "{\"choices\":[{\"message\":{\"content\":\"");
        text_value(&p);
        put(&p, "\"}}]");
        p -= rnd(4);
        break;
    default:
        put(&p, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"");
        text_value(&p);
        put(&p, "\"}]},{\"role\":\"assistant\",\"content\":\"");
        text_value(&p);
        put(&p, "\"}]}");
    }
    if (rnd(4) == 0)
        put(&p, "\r");
    put(&p, "\n");
    return (size_t)(p - buf);
}

/* Line of s starting at *pos: returns its length (with the newline). */
static size_t next_line(const char *s, size_t len, size_t pos)
{
    const char *nl = memchr(s + pos, '\n', len - pos);
    return nl ? (size_t)(nl - (s + pos)) + 1 : len - pos;
}

/* The line with every string's contents dropped: two lines with the same
 * skeleton differ only inside string values. */
static size_t skeleton(const char *a, size_t n, char *out)
{
    size_t k = 0;
    int in = 0, esc = 0;
    for (size_t i = 0; i < n; i++) {
        if (in) {
            if (esc)
                esc = 0;
            else if (a[i] == '\\')
                esc = 1;
            else if (a[i] == '"')
                in = 0, out[k++] = '"';
            continue;
        }
        out[k++] = a[i];
        if (a[i] == '"')
            in = 1;
    }
    return k;
}

static int only_inside_string(const char *a, size_t na, const char *b, size_t nb)
{
    char *sa = malloc(na + 1), *sb = malloc(nb + 1);
    size_t ka = skeleton(a, na, sa), kb = skeleton(b, nb, sb);
    int ok = ka == kb && !memcmp(sa, sb, ka);
    free(sa);
    free(sb);
    return ok;
}

static void test_random(void)
{
    size_t cap = 1 << 20, len = 0;
    char *s = malloc(cap);
    int records = 0;
    while (len + 4096 < cap && records < 2000) {
        len += gen_record(s + len);
        records++;
    }
    run_opts o = {{NULL}, REPFIX_MODE_FIX, 0};
    t_result whole = run(s, len, o);
    CHECK(whole.st == REPFIX_OK, "random: status");
    for (long seed = 1; seed <= 3; seed++) {
        o.chunk = -seed;
        t_result r = run(s, len, o);
        CHECK(t_same(&whole, &r), "random: chunking (seed %ld) changes nothing", seed);
        t_result_free(&r);
    }
    o.chunk = 0;
    t_result again = run(whole.out, whole.len, o);
    CHECK(again.len == whole.len && !memcmp(again.out, whole.out, whole.len),
          "random: idempotent");
    t_result_free(&again);
    size_t pa = 0, pb = 0;
    int lines = 0, changed = 0, bad = 0;
    while (pa < len && pb < whole.len) {
        size_t la = next_line(s, len, pa), lb = next_line(whole.out, whole.len, pb);
        if (la != lb || memcmp(s + pa, whole.out + pb, la)) {
            changed++;
            if (!only_inside_string(s + pa, la, whole.out + pb, lb)) {
                if (bad++ < 3)
                    fprintf(stderr, "changed outside a string:\n%.*s%.*s", (int)la, s + pa,
                            (int)lb, whole.out + pb);
            }
        }
        pa += la;
        pb += lb;
        lines++;
    }
    CHECK(pa == len && pb == whole.len && lines == records, "random: line for line");
    CHECK(changed > 0 && bad == 0, "random: %d changed records, %d outside a string", changed, bad);
    t_result_free(&whole);
    free(s);
}

int main(void)
{
    test_fields();
    test_records();
    test_nesting();
    test_overlong();
    test_random();
    return t_report();
}
