/*
 * alloc.c - out of memory: every allocation the library makes fails in turn.
 *
 * Built with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
 * (Makefile), so the library's calls land in the wrappers below; cJSON is
 * pointed at them too (cJSON_InitHooks: fine in a test program, never in
 * the library), so the records it parses fail as well. Allocations inside
 * PCRE2 and utf8proc are not covered.
 *
 * For each scenario (context creation; a representative text with every
 * defect kind, a JSON document and JSON Lines, fed whole and in random
 * chunks into small output buffers; the one-shot call) a reference run
 * counts the allocations K; then for N = 1..K the N-th allocation fails.
 * Each run must end in REPFIX_E_NOMEM (or NULL from repfix_ctx_new), stay
 * failed on the next call, free everything (the wrappers track live
 * pointers), and give the reference result after repfix_ctx_reset; a run
 * that absorbs the failure must give the reference result unchanged. A
 * failing allocation that prints FAIL also prints its call stack
 * (addresses for addr2line -e build/tests/alloc).
 */
#include "harness.h"

#include <cjson/cJSON.h>
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* ---- the failing allocator ------------------------------------------- */

#define LIVE_CAP (1u << 16)
static void *live[LIVE_CAP]; /* open addressing; NULL = empty */
static long n_live, n_calls, fail_at = -1, n_failed;
static int armed;
static void *fail_trace[12]; /* where the failed allocation was made */
static int fail_depth;
static int in_cjson, fail_in_cjson; /* the failed allocation was cJSON's */
static long n_xfail;

static size_t slot_of(const void *p)
{
    uintptr_t h = (uintptr_t)p;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 7) & (LIVE_CAP - 1);
}

static void live_add(void *p)
{
    if (!p)
        return;
    size_t i = slot_of(p);
    while (live[i])
        i = (i + 1) & (LIVE_CAP - 1);
    live[i] = p;
    n_live++;
}

/* Removes p if tracked (backward-shift deletion keeps probes valid). */
static void live_del(void *p)
{
    if (!p)
        return;
    size_t i = slot_of(p);
    while (live[i] && live[i] != p)
        i = (i + 1) & (LIVE_CAP - 1);
    if (!live[i])
        return; /* allocated before arming or by a shared library */
    n_live--;
    live[i] = NULL;
    for (size_t j = (i + 1) & (LIVE_CAP - 1); live[j]; j = (j + 1) & (LIVE_CAP - 1)) {
        size_t home = slot_of(live[j]);
        /* move live[j] into the hole when its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            live[i] = live[j];
            live[j] = NULL;
            i = j;
        }
    }
}

/* True when this call is the one to fail. */
static int should_fail(void)
{
    if (!armed)
        return 0;
    if (++n_calls == fail_at) {
        n_failed++;
        fail_depth = backtrace(fail_trace, 12);
        fail_in_cjson = in_cjson;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(n);
    if (armed)
        live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(n, size);
    if (armed)
        live_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    void *q = __real_realloc(p, n);
    if (q || n == 0) {
        live_del(p);
        if (armed)
            live_add(q);
    }
    return q;
}

void __wrap_free(void *p)
{
    live_del(p);
    __real_free(p);
}

/* cJSON's hooks: the same allocator, marked. */
static void *cj_malloc(size_t n)
{
    in_cjson = 1;
    void *p = __wrap_malloc(n);
    in_cjson = 0;
    return p;
}

static void cj_free(void *p) { __wrap_free(p); }

static void arm(long n)
{
    n_calls = 0;
    n_failed = 0;
    fail_in_cjson = 0;
    fail_depth = 0;
    fail_at = n;
    armed = 1;
}

static void disarm(void) { armed = 0; }

/* Prints where the failed allocation came from (resolve with addr2line). */
static void where(void)
{
    if (fail_depth > 2)
        backtrace_symbols_fd(fail_trace + 2, fail_depth - 2 < 8 ? fail_depth - 2 : 8, 2);
}

/* CHECK, plus the failed allocation's call stack when it fails. */
#define CHECKW(cond, ...)                                                      \
    do {                                                                       \
        int ok_ = (cond);                                                      \
        CHECK(ok_, __VA_ARGS__);                                               \
        if (!ok_)                                                              \
            where();                                                           \
    } while (0)

/* After a leak is reported: forget the leaked blocks, so one leak does not
 * fail every later run too. */
static void forget_leaks(void)
{
    memset(live, 0, sizeof live);
    n_live = 0;
}

/* ---- driving a context without allocating ----------------------------- */

#define MAX_F 512
typedef struct {
    char *out;
    size_t len, cap;
    repfix_finding f[MAX_F];
    size_t nf;
    repfix_status st;
} run_result;

typedef struct {
    const char *name;
    const char *src;
    size_t len;
    int format;
    int chunked;
} scenario;

static repfix_status setup(repfix_ctx *ctx, const scenario *s, int fresh)
{
    repfix_status st = repfix_set_param(ctx, REPFIX_P_FORMAT, s->format);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_KEEP, 1);
    if (!st && fresh && s->format == REPFIX_FORMAT_JSONL)
        st = repfix_add_field(ctx, "data.reply");
    return st;
}

/* Feeds the scenario's input; stops at the first error, which it checks
 * is sticky. The output buffer is the caller's (no allocation here). */
static void drive(repfix_ctx *ctx, const scenario *s, run_result *r)
{
    static char obuf[4096];
    r->len = r->nf = 0;
    r->st = REPFIX_OK;
    uint64_t seed = 12345;
    size_t pos = 0;
    long guard = 0;
    while (r->st == REPFIX_OK) {
        size_t n = s->len - pos;
        if (s->chunked) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t k = (size_t)(seed >> 33) % 61 + 1;
            if (k < n)
                n = k;
        }
        int last = pos + n == s->len;
        repfix_in in = {s->src + pos, n, 0};
        for (;;) {
            size_t osz = s->chunked ? 1 + (size_t)(seed >> 40) % 13 : sizeof obuf;
            repfix_out o = {obuf, osz, 0};
            r->st = repfix_process(ctx, &o, &in, last ? REPFIX_END : REPFIX_CONTINUE);
            if (r->len + o.pos <= r->cap) {
                memcpy(r->out + r->len, obuf, o.pos);
                r->len += o.pos;
            }
            repfix_finding f;
            while (repfix_next_finding(ctx, &f))
                if (r->nf < MAX_F)
                    r->f[r->nf++] = f;
            if (r->st != REPFIX_OK || ++guard > 10000000)
                break;
            if (in.pos < in.size || o.pos == o.size)
                continue;
            if (last && repfix_held(ctx) > 0)
                continue;
            break;
        }
        if (r->st != REPFIX_OK) {
            repfix_in again = {"x", 1, 0};
            repfix_out o = {obuf, sizeof obuf, 0};
            CHECK(repfix_process(ctx, &o, &again, REPFIX_END) == r->st && o.pos == 0,
                  "%s: error %s is not sticky", s->name, repfix_status_name(r->st));
            return;
        }
        pos += n;
        if (last)
            return;
    }
}

static int same(const run_result *a, const run_result *b)
{
    if (a->st != b->st || a->len != b->len || memcmp(a->out, b->out, a->len) || a->nf != b->nf)
        return 0;
    for (size_t i = 0; i < a->nf; i++)
        if (memcmp(&a->f[i], &b->f[i], offsetof(repfix_finding, path)) ||
            strcmp(a->f[i].path, b->f[i].path))
            return 0;
    return 1;
}

static run_result ref, got;
static int strict;
static const char *current = "ctx_new";

/* A hang is a failure too. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL alloc: timed out (a hang?) in scenario ";
    (void)!write(2, m, sizeof m - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
    _exit(1);
}

static void scenario_run(const scenario *s)
{
    current = s->name;
    alarm(300);
    ref.cap = got.cap = s->len * 2 + 65536;
    ref.out = malloc(ref.cap);
    got.out = malloc(got.cap);

    /* the reference, counting allocations */
    arm(-1);
    repfix_ctx *ctx = repfix_ctx_new();
    CHECK(ctx && setup(ctx, s, 1) == REPFIX_OK, "%s: setup", s->name);
    drive(ctx, s, &ref);
    repfix_ctx_free(ctx);
    long k = n_calls;
    disarm();
    CHECK(ref.st == REPFIX_OK && n_live == 0, "%s: reference run (%s, %ld live)", s->name,
          repfix_status_name(ref.st), n_live);
    forget_leaks();
    CHECK(ref.nf > 0 || s->len == 0, "%s: the reference finds nothing", s->name);

    long nomem = 0, absorbed = 0;
    for (long n = 1; n <= k; n++) {
        arm(n);
        ctx = repfix_ctx_new();
        if (!ctx) {
            disarm();
            CHECK(n_live == 0, "%s: ctx_new failing at %ld leaks %ld", s->name, n, n_live);
            forget_leaks();
            nomem++;
            continue;
        }
        repfix_status st = setup(ctx, s, 1);
        if (st != REPFIX_OK) {
            CHECK(st == REPFIX_E_NOMEM, "%s: setup failing at %ld: %s", s->name, n,
                  repfix_status_name(st));
            repfix_ctx_free(ctx);
            disarm();
            CHECK(n_live == 0, "%s: setup failing at %ld leaks %ld", s->name, n, n_live);
            forget_leaks();
            nomem++;
            continue;
        }
        drive(ctx, s, &got);
        if (got.st == REPFIX_E_NOMEM) {
            nomem++;
            CHECK(n_failed == 1, "%s: NOMEM without a failed allocation (at %ld)", s->name, n);
            /* the same context works again after a reset */
            disarm();
            CHECK(repfix_ctx_reset(ctx) == REPFIX_OK && setup(ctx, s, 0) == REPFIX_OK,
                  "%s: reset after NOMEM at %ld", s->name, n);
            drive(ctx, s, &got);
            CHECKW(same(&ref, &got), "%s: after NOMEM at allocation %ld and a reset the "
                  "result differs (%s, %zu bytes, %zu findings; reference %zu bytes, %zu)",
                  s->name, n, repfix_status_name(got.st), got.len, got.nf, ref.len, ref.nf);
        } else if (fail_in_cjson && !strict && !same(&ref, &got)) {
            /* open bug: jsonl.c takes a record cJSON fails to parse (out of
             * memory too) for one without tool calls; REPFIX_ALLOC_STRICT=1
             * counts it as a failure */
            absorbed++;
            n_xfail++;
        } else {
            absorbed++;
            CHECKW(same(&ref, &got), "%s: allocation %ld failed, the run said %s but the "
                  "result differs from the reference (%zu bytes, %zu findings; reference "
                  "%zu bytes, %zu)", s->name, n, repfix_status_name(got.st), got.len, got.nf,
                  ref.len, ref.nf);
        }
        repfix_ctx_free(ctx);
        disarm();
        CHECKW(n_live == 0, "%s: failing allocation %ld leaks %ld blocks", s->name, n, n_live);
        forget_leaks();
    }
    printf("%s: %ld allocations, %ld runs ended in NOMEM, %ld absorbed the failure\n", s->name,
           k, nomem, absorbed);
    free(ref.out);
    free(got.out);
}

/* The one-shot call: NULL output and NOMEM, or the reference result. */
static void one_shot(const scenario *s)
{
    char *out0 = NULL, *out;
    size_t len0 = 0, len, nf0 = 0, nf;
    current = s->name;
    alarm(300);
    arm(-1);
    repfix_status st = repfix_fix_buffer(s->src, s->len, (repfix_format)s->format,
                                         REPFIX_MODE_FIX, &out0, &len0, &nf0);
    long k = n_calls;
    disarm();
    forget_leaks(); /* out0 stays until the end */
    CHECK(st == REPFIX_OK, "%s: one-shot reference", s->name);
    for (long n = 1; n <= k; n++) {
        arm(n);
        out = (char *)1;
        st = repfix_fix_buffer(s->src, s->len, (repfix_format)s->format, REPFIX_MODE_FIX, &out,
                               &len, &nf);
        if (st == REPFIX_OK) {
            int ok = len == len0 && !memcmp(out, out0, len) && nf == nf0;
            if (!ok && fail_in_cjson && !strict)
                n_xfail++;
            else
                CHECKW(ok, "%s: one-shot failing at %ld absorbed it but differs", s->name, n);
            free(out);
        } else
            CHECK(st == REPFIX_E_NOMEM && out == NULL,
                  "%s: one-shot failing at %ld: %s, out %p", s->name, n,
                  repfix_status_name(st), (void *)out);
        disarm();
        CHECK(n_live == 0, "%s: one-shot failing at %ld leaks %ld blocks", s->name, n, n_live);
        forget_leaks();
    }
    free(out0);
}

/* ---- representative inputs ------------------------------------------- */

static char *repeat_str(char *dst, const char *s, int times)
{
    for (int i = 0; i < times; i++)
        strcat(dst, s);
    return dst;
}

static char text_in[32768], json_in[16384], jsonl_in[16384];

static void build_inputs(void)
{
    char *t = text_in;
    strcat(t, "# Release notes\r\n\r\n"
              "| Package        | Version |   Notes   |\n"
              "|:--------------------------------:|--------------------------------:|-----|\n"
              "| core                                   | 1.2     | fast |\n"
              "| cli | 0.9                                      | new  |\n"
              "\n"
              "Intro paragraph with odd bytes: \xC3\x28 \xFF NUL(\x01) and a BOM-less start.\n"
              "\n\n\n\n\n"
              "Spacing                                             gone wild here.\n"
              "Escapes: \\n\\n\\n\\n\\n\\n\\n done.\n"
              "```python\nx = 1\n\n\n\n\n\n\n\n\n\n\ny = 2\n```\n\n");
    repeat_str(t, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"
                  "</tool_call>\n", 6);
    strcat(t, "\n");
    repeat_str(t, "own ", 40);
    strcat(t, "\n\nThe quick brown fox jumps over the lazy dog. ");
    repeat_str(t, "I apologize for the confusion, let me try again. ", 8);
    strcat(t, "\n\n");
    repeat_str(t, "=", 300);
    strcat(t, "\n\n");
    repeat_str(t, "Let me try again.\n", 40);
    strcat(t, "Let me tr");

    char *j = json_in;
    strcat(j, "{\n  \"answer\": \"Step 1\\n\\n\\n\\n\\n\\n\\nStep 2\\t\\t\\t\\t\\t\\t| a |"
              " b |\\n|:-------------------:|-----------------|\\n| 1 | 2 |\\n\",\n"
              "  \"items\": [\"caf\\u00e9\", \"\\ud83d\\ude00\", \"");
    repeat_str(j, "The same sentence again and again. ", 12);
    strcat(j, "\"],\n\n\n\n\n\n\n\n                                                    "
              "\"n\": 1.50000000000000000000000000,\n  \"big\": 123456789012345678901234567890,\n"
              "  \"loop\": \"");
    repeat_str(j, "ha", 100);
    strcat(j, "\"\n}\n{\"second\": [1, 2, [3, {\"a\": null}]]} tail-garbage ]");

    char *l = jsonl_in;
    char rec[1024];
    snprintf(rec, sizeof rec,
             "{\"id\":\"c1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
             "\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":"
             "\"search\",\"arguments\":\"{\\\"q\\\": \\\"weather\\\"}\"}}]}}]}\n");
    repeat_str(l, rec, 5);
    strcat(l, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Intro.\\n\\n\\n\\n\\n\\nMore "
              "own own own own own own own own own own own own own own own own own own own own "
              "\"},{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}}]}}]}\n");
    repeat_str(l, "{\"content\":[{\"type\":\"tool_use\",\"id\":\"x\",\"name\":\"ls\",\"input\":"
                  "{\"path\":\"/\"}}]}\n", 5);
    strcat(l, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\n\\n\\n\\n\\nb\"}],"
              "\"data\":{\"reply\":\"x                                           y\"}}\r\n"
              "not json at all\n"
              "{\"truncated\":\"abc");
}

int main(void)
{
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder now, not inside a failing call */
    cJSON_Hooks hooks = {cj_malloc, cj_free};
    cJSON_InitHooks(&hooks);
    const char *env = getenv("REPFIX_ALLOC_STRICT");
    strict = env && *env == '1';
    build_inputs();
    signal(SIGALRM, on_alarm);
    alarm(300);

    /* context creation alone */
    arm(-1);
    repfix_ctx_free(repfix_ctx_new());
    long k = n_calls;
    disarm();
    for (long n = 1; n <= k; n++) {
        arm(n);
        repfix_ctx *ctx = repfix_ctx_new();
        repfix_ctx_free(ctx);
        disarm();
        CHECK(n_live == 0, "ctx_new failing at allocation %ld of %ld leaks %ld", n, k, n_live);
        forget_leaks();
    }

    scenario sc[] = {
        {"text", text_in, strlen(text_in), REPFIX_FORMAT_TEXT, 0},
        {"text-chunked", text_in, strlen(text_in), REPFIX_FORMAT_TEXT, 1},
        {"json", json_in, strlen(json_in), REPFIX_FORMAT_JSON, 0},
        {"json-chunked", json_in, strlen(json_in), REPFIX_FORMAT_JSON, 1},
        {"jsonl", jsonl_in, strlen(jsonl_in), REPFIX_FORMAT_JSONL, 0},
        {"jsonl-chunked", jsonl_in, strlen(jsonl_in), REPFIX_FORMAT_JSONL, 1},
    };
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++)
        scenario_run(&sc[i]);
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i += 2)
        one_shot(&sc[i]);
    if (n_xfail)
        printf("XFAIL: %ld runs lost findings when cJSON ran out of memory (jsonl.c takes a "
               "failed parse for a record without tool calls; REPFIX_ALLOC_STRICT=1 fails them)\n",
               n_xfail);
    return t_report();
}
