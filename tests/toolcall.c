/*
 * toolcall.c - the toolcall-repeat detector (src/toolcall.c).
 *
 *  - canonical equality of arguments: key order, spacing, number spelling,
 *    escapes; arguments as objects (records) and as JSON text (OpenAI
 *    strings, text syntaxes) hash alike; real differences stay different;
 *  - records through toolcall_record: loops within a conversation and
 *    across consecutive records, the legitimate repeats that must not fire
 *    (one retry, same tool with other arguments, polling with a changing
 *    argument, a cycle seen twice, a new user turn, a final answer,
 *    alternative choices, stream deltas, tool declarations), request logs
 *    that resend the history (one report per record, none twice), and the
 *    finding's fields (flagged in fix mode too, record, path, period,
 *    copies, count);
 *  - text: random call sequences rendered as Hermes blocks, checked
 *    against an independent reference of the rule (which calls go) and a
 *    brute-force search (is there a loop at all), in random chunks, for
 *    idempotence;
 *  - repfix_add_toolcall_pattern: errors and a working user syntax;
 *  - hostile text: unclosed blocks, deep nesting, huge loops: bounded
 *    holding and time;
 *  - false positives: every clean corpus document is unchanged by the
 *    detector and gets no toolcall-repeat finding.
 */
#include "harness.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <time.h>

/* ---- records ---------------------------------------------------------- */

typedef struct {
    repfix_finding f[64];
    size_t n;
} fset;

static repfix_ctx *rec_ctx(repfix_mode mode)
{
    repfix_ctx *ctx = repfix_ctx_new();
    repfix_set_param(ctx, REPFIX_P_FORMAT, REPFIX_FORMAT_JSONL);
    repfix_set_param(ctx, REPFIX_P_MODE, mode);
    return ctx;
}

/* Feeds one record (JSON text) as record number `rec`; collects findings. */
static void feed_rec(repfix_ctx *ctx, int64_t rec, const char *json, fset *fs)
{
    cJSON *root = cJSON_Parse(json);
    CHECK(root != NULL, "test record does not parse: %.60s", json);
    if (!root)
        return;
    ctx->record = rec;
    toolcall_record(ctx, root);
    ctx->record = -1;
    cJSON_Delete(root);
    repfix_finding f;
    while (repfix_next_finding(ctx, &f))
        if (fs->n < 64)
            fs->f[fs->n++] = f;
}

/* Runs records through a fresh context. */
static fset run_recs(const char *const *recs, size_t n, repfix_mode mode)
{
    fset fs;
    memset(&fs, 0, sizeof fs);
    repfix_ctx *ctx = rec_ctx(mode);
    for (size_t i = 0; i < n; i++)
        feed_rec(ctx, (int64_t)i, recs[i], &fs);
    repfix_ctx_free(ctx);
    return fs;
}

/* An OpenAI message record with tool calls whose arguments strings are
 * args[0..n) (JSON-escaped by the caller), all to tool `name`. */
static char *openai_calls(const char *name, const char *const *args, size_t n)
{
    size_t cap = 4096;
    for (size_t i = 0; i < n; i++)
        cap += strlen(args[i]) * 2 + 128;
    char *s = malloc(cap);
    size_t k = (size_t)snprintf(s, cap, "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [");
    for (size_t i = 0; i < n; i++) {
        cJSON *str = cJSON_CreateString(args[i]);
        char *esc = cJSON_PrintUnformatted(str);
        k += (size_t)snprintf(s + k, cap - k,
                              "%s{\"id\": \"call_%zu\", \"type\": \"function\", \"function\": "
                              "{\"name\": \"%s\", \"arguments\": %s}}",
                              i ? ", " : "", i, name, esc);
        free(esc);
        cJSON_Delete(str);
    }
    snprintf(s + k, cap - k, "]}");
    return s;
}

/* a and b are the same arguments: four calls a b a b are a loop. */
static bool args_equal(const char *a, const char *b)
{
    const char *v[4] = {a, b, a, b};
    char *rec = openai_calls("tool", v, 4);
    const char *recs[1] = {rec};
    fset fs = run_recs(recs, 1, REPFIX_MODE_FLAG);
    free(rec);
    return fs.n == 1;
}

static void test_equality(void)
{
    static const char *const same[][2] = {
        {"{\"a\": 1, \"b\": 2}", "{\"b\":2,\"a\":1}"},
        {"{\"a\": 1}", "{ \"a\" : 1.0 }"},
        {"{\"n\": 100}", "{\"n\": 1e2}"},
        {"{\"s\": \"caf\u00e9\"}", "{\"s\": \"caf\\u00e9\"}"},
        {"{\"e\": \"\\ud83d\\ude00\"}", "{\"e\": \"\xF0\x9F\x98\x80\"}"},
        {"{\"a\": [1, 2, {\"x\": 1, \"y\": [true, null]}]}",
         "{\"a\":[1,2,{\"y\":[true,null],\"x\":1}]}"},
        {"", "{}"},
        {"  ", "{ }"},
        {"{\"path\": \"a/b\"}", "{\"path\": \"a\\/b\"}"},
        {"{\"z\": -0}", "{\"z\": 0}"},
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        CHECK(args_equal(same[i][0], same[i][1]), "should be equal: %s | %s", same[i][0],
              same[i][1]);
    static const char *const differ[][2] = {
        {"{\"a\": 1}", "{\"a\": 2}"},
        {"{\"a\": [1, 2]}", "{\"a\": [2, 1]}"},
        {"{\"a\": \"1\"}", "{\"a\": 1}"},
        {"{\"a\": null}", "{}"},
        {"{\"a\": true}", "{\"a\": 1}"},
        {"{\"q\": \"Paris\"}", "{\"q\": \"paris\"}"},
        {"{\"q\": \"a b\"}", "{\"q\": \"a  b\"}"},
        {"{\"a\": {\"b\": 1}}", "{\"a\": {\"b\": 1, \"c\": 1}}"},
        {"{\"a\": 1, \"b\": 1}", "{\"a\": 1, \"c\": 1}"},
        {"{\"a\": [[]]}", "{\"a\": [{}]}"},
        {"{\"k\": 1, \"k\": 2}", "{\"k\": 2, \"k\": 3}"},
    };
    for (size_t i = 0; i < sizeof differ / sizeof *differ; i++)
        CHECK(!args_equal(differ[i][0], differ[i][1]), "should differ: %s | %s", differ[i][0],
              differ[i][1]);

    /* an object (Gemini args) and a string (OpenAI arguments) alike */
    const char *mixed[] = {
        "{\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"functionCall\": "
        "{\"name\": \"f\", \"args\": {\"city\": \"Paris\", \"days\": 3}}}]}}]}",
        "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"x\", "
        "\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": "
        "\"{\\\"days\\\": 3.0, \\\"city\\\": \\\"Paris\\\"}\"}}]}}]}",
        "{\"content\": [{\"type\": \"tool_use\", \"id\": \"t\", \"name\": \"f\", \"input\": "
        "{\"days\": 3, \"city\": \"Paris\"}}], \"role\": \"assistant\"}",
        "{\"type\": \"function_call\", \"name\": \"f\", \"arguments\": \"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":3}\"}",
    };
    fset fs = run_recs(mixed, 4, REPFIX_MODE_FLAG);
    CHECK(fs.n == 1 && fs.f[0].record == 3 && fs.f[0].copies == 4,
          "Gemini, OpenAI, Anthropic and Responses shapes of one call are equal (%zu)", fs.n);
}

/* Conversations: the loops and the look-alikes. */
#define USER(t) "{\"role\": \"user\", \"content\": \"" t "\"}"
#define CALL(id, name, args)                                                   \
    "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"" id "\", "       \
    "\"type\": \"function\", \"function\": {\"name\": \"" name "\", \"arguments\": \"" args "\"}}]}"
#define RESULT(id) "{\"role\": \"tool\", \"tool_call_id\": \"" id "\", \"content\": \"ok\"}"
#define ANSWER(t) "{\"role\": \"assistant\", \"content\": \"" t "\"}"
#define W_PARIS "{\\\"city\\\": \\\"Paris\\\"}"
#define W_PARIS2 "{\\\"city\\\":\\\"Paris\\\" }"

static void test_conversations(void)
{
    const char *loop5 = "{\"messages\": [" USER("Weather?") ", " CALL("1", "get_weather", W_PARIS)
        ", " RESULT("1") ", " CALL("2", "get_weather", W_PARIS2) ", " RESULT("2") ", "
        CALL("3", "get_weather", W_PARIS) ", " RESULT("3") ", " CALL("4", "get_weather", W_PARIS)
        ", " RESULT("4") ", " CALL("5", "get_weather", W_PARIS) ", " RESULT("5") ", "
        ANSWER("Sunny.") "]}";
    fset fs = run_recs(&loop5, 1, REPFIX_MODE_FIX);
    CHECK(fs.n == 1, "loop of 5 in a conversation: %zu findings", fs.n);
    if (fs.n == 1) {
        const repfix_finding *f = &fs.f[0];
        CHECK(f->kind == REPFIX_K_TOOLCALL_REPEAT && f->action == REPFIX_ACTION_FLAGGED,
              "flagged in fix mode");
        CHECK(f->record == 0 && f->period == 1 && f->copies == 5 && f->count == 4,
              "record %lld period %llu copies %llu count %llu", (long long)f->record,
              (unsigned long long)f->period, (unsigned long long)f->copies,
              (unsigned long long)f->count);
        CHECK(!strcmp(f->path, "messages[3].tool_calls[0]"), "path %s", f->path);
    }

    /* an A-B cycle three times */
    const char *cycle = "{\"messages\": [" USER("Fix it") ", " CALL("1", "read", "{}") ", "
        RESULT("1") ", " CALL("2", "edit", "{\\\"p\\\": 1}") ", " RESULT("2") ", "
        CALL("3", "read", "{}") ", " RESULT("3") ", " CALL("4", "edit", "{\\\"p\\\": 1}") ", "
        RESULT("4") ", " CALL("5", "read", "{}") ", " RESULT("5") ", "
        CALL("6", "edit", "{\\\"p\\\": 1}") "]}";
    fs = run_recs(&cycle, 1, REPFIX_MODE_FLAG);
    CHECK(fs.n == 1 && fs.f[0].period == 2 && fs.f[0].copies == 6 && fs.f[0].count == 4,
          "A-B cycle: %zu findings", fs.n);

    const char *legit[] = {
        /* one retry */
        "{\"messages\": [" USER("Weather?") ", " CALL("1", "get_weather", W_PARIS) ", "
        RESULT("1") ", " CALL("2", "get_weather", W_PARIS) ", " RESULT("2") ", "
        ANSWER("Sunny.") "]}",
        /* the same tool, other arguments */
        "{\"messages\": [" CALL("1", "w", "{\\\"c\\\": 1}") ", " CALL("2", "w", "{\\\"c\\\": 2}")
        ", " CALL("3", "w", "{\\\"c\\\": 3}") ", " CALL("4", "w", "{\\\"c\\\": 4}") ", "
        CALL("5", "w", "{\\\"c\\\": 5}") "]}",
        /* polling with a changing attempt counter */
        "{\"messages\": [" CALL("1", "status", "{\\\"job\\\": 7, \\\"attempt\\\": 1}") ", "
        RESULT("1") ", " CALL("2", "status", "{\\\"job\\\": 7, \\\"attempt\\\": 2}") ", "
        RESULT("2") ", " CALL("3", "status", "{\\\"job\\\": 7, \\\"attempt\\\": 3}") ", "
        RESULT("3") ", " CALL("4", "status", "{\\\"job\\\": 7, \\\"attempt\\\": 4}") "]}",
        /* a cycle seen twice */
        "{\"messages\": [" CALL("1", "a", "{}") ", " CALL("2", "b", "{}") ", "
        CALL("3", "a", "{}") ", " CALL("4", "b", "{}") "]}",
        /* three identical */
        "{\"messages\": [" CALL("1", "a", "{}") ", " CALL("2", "a", "{}") ", "
        CALL("3", "a", "{}") "]}",
        /* two per user turn, over two turns */
        "{\"messages\": [" USER("Weather?") ", " CALL("1", "w", W_PARIS) ", " RESULT("1") ", "
        CALL("2", "w", W_PARIS) ", " RESULT("2") ", " ANSWER("Sunny.") ", " USER("And now?")
        ", " CALL("3", "w", W_PARIS) ", " RESULT("3") ", " CALL("4", "w", W_PARIS) ", "
        RESULT("4") ", " ANSWER("Still sunny.") "]}",
        /* tool declarations are not calls */
        "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": {}}},"
        "{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": {}}},"
        "{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": {}}},"
        "{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": {}}}],"
        "\"messages\": [" USER("hi") "]}",
    };
    for (size_t i = 0; i < sizeof legit / sizeof *legit; i++) {
        fs = run_recs(&legit[i], 1, REPFIX_MODE_FLAG);
        CHECK(fs.n == 0, "legitimate conversation %zu flagged", i);
    }

    /* conversations in separate records do not add up */
    const char *two[] = {legit[4], legit[4]};
    fs = run_recs(two, 2, REPFIX_MODE_FLAG);
    CHECK(fs.n == 0, "separate conversations joined (%zu)", fs.n);

    /* alternatives (n > 1) and stream chunks are not sequences */
    const char *alt = "{\"choices\": ["
        "{\"index\": 0, \"message\": " CALL("1", "go", "{}") "},"
        "{\"index\": 1, \"message\": " CALL("2", "go", "{}") "},"
        "{\"index\": 2, \"message\": " CALL("3", "go", "{}") "},"
        "{\"index\": 3, \"message\": " CALL("4", "go", "{}") "}]}";
    fs = run_recs(&alt, 1, REPFIX_MODE_FLAG);
    CHECK(fs.n == 0, "choices are alternatives (%zu)", fs.n);
    const char *delta = "{\"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 0, "
        "\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"\"}}]}}]}";
    const char *deltas[] = {delta, delta, delta, delta, delta};
    fs = run_recs(deltas, 5, REPFIX_MODE_FLAG);
    CHECK(fs.n == 0, "stream deltas are partial calls (%zu)", fs.n);

    /* the kind can be switched off */
    repfix_ctx *ctx = rec_ctx(REPFIX_MODE_FLAG);
    repfix_set_param(ctx, REPFIX_P_KINDS,
                     (int)(REPFIX_KINDS_ALL & ~REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT)));
    fset off;
    memset(&off, 0, sizeof off);
    feed_rec(ctx, 0, loop5, &off);
    CHECK(off.n == 0, "kind off");
    repfix_ctx_free(ctx);
}

/* Logs: responses chained across records, and request logs. */
static void test_logs(void)
{
#define RESP(id, name, args) "{\"choices\": [{\"index\": 0, \"message\": " CALL(id, name, args) "}]}"
#define RESP_TEXT(t) "{\"choices\": [{\"index\": 0, \"message\": " ANSWER(t) "}]}"
    const char *chain[] = {
        RESP("1", "price", "{\\\"sku\\\": \\\"A\\\"}"), RESP("2", "price", "{\\\"sku\\\": \\\"A\\\"}"),
        RESP("3", "price", "{\\\"sku\\\":\\\"A\\\"}"),  RESP("4", "price", "{\\\"sku\\\": \\\"A\\\"}"),
        RESP("5", "price", "{\\\"sku\\\": \\\"A\\\"}"), RESP_TEXT("10 EUR."),
        RESP("6", "price", "{\\\"sku\\\": \\\"A\\\"}"), RESP("7", "price", "{\\\"sku\\\": \\\"A\\\"}"),
        /* a record without tool vocabulary, as jsonl.c shows it: a boundary */
        "{}",
        RESP("8", "price", "{\\\"sku\\\": \\\"A\\\"}"), RESP("9", "price", "{\\\"sku\\\": \\\"A\\\"}"),
    };
    fset fs = run_recs(chain, sizeof chain / sizeof *chain, REPFIX_MODE_FLAG);
    CHECK(fs.n == 2 && fs.f[0].record == 3 && fs.f[0].copies == 4 && fs.f[1].record == 4 &&
              fs.f[1].copies == 5,
          "a loop across response records is reported in each record it touches (%zu)", fs.n);
    for (size_t i = 0; i < fs.n; i++)
        CHECK(!strcmp(fs.f[i].path, "choices[0].message.tool_calls[0]") && fs.f[i].count == 1,
              "chained path %s", fs.f[i].path);

    /* tool results between calls (one message a line) keep the chain */
    const char *msgs[] = {
        USER("go"),     CALL("1", "ls", "{}"), RESULT("1"), CALL("2", "ls", "{}"), RESULT("2"),
        CALL("3", "ls", "{}"), RESULT("3"),    CALL("4", "ls", "{}"), RESULT("4"),
    };
    fs = run_recs(msgs, sizeof msgs / sizeof *msgs, REPFIX_MODE_FLAG);
    CHECK(fs.n == 1 && fs.f[0].record == 7, "message-per-line loop (%zu)", fs.n);

    /* a request log resends the history: each record reported once, the
     * old calls never again */
#define H1 USER("status?") ", " CALL("1", "status", "{}") ", " RESULT("1")
#define H2 H1 ", " CALL("2", "status", "{}") ", " RESULT("2")
#define H3 H2 ", " CALL("3", "status", "{}") ", " RESULT("3")
#define H4 H3 ", " CALL("4", "status", "{}") ", " RESULT("4")
    const char *req[] = {
        "{\"messages\": [" H1 "]}", "{\"messages\": [" H2 "]}", "{\"messages\": [" H3 "]}",
        "{\"messages\": [" H4 "]}", "{\"messages\": [" H4 "]}",
        "{\"messages\": [" H4 ", " ANSWER("done") "]}",
    };
    fs = run_recs(req, sizeof req / sizeof *req, REPFIX_MODE_FLAG);
    CHECK(fs.n == 1 && fs.f[0].record == 3 && fs.f[0].copies == 4 && fs.f[0].count == 1 &&
              !strcmp(fs.f[0].path, "messages[7].tool_calls[0]"),
          "request log: one report (%zu)", fs.n);
    /* ... and a record that does not continue the last one starts afresh */
    const char *req2[] = {"{\"messages\": [" H3 "]}", "{\"messages\": [" USER("x") ", " H1 "]}"};
    fs = run_recs(req2, 2, REPFIX_MODE_FLAG);
    CHECK(fs.n == 0, "unrelated conversations (%zu)", fs.n);
}

/* ---- text: random sequences against a reference ---------------------- */

static unsigned long rng = 12345;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)((rng >> 33) % n);
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* One call c (0..5: tool c/2, argument c%2) as a Hermes block, spelled
 * one of several equivalent ways. */
static void hermes(sbuf *b, int c)
{
    static const char *const tools[] = {"search_web", "read_url", "run_query"};
    char args[96], blk[256];
    if (rnd(2))
        snprintf(args, sizeof args, "{\"q\": \"item %d\", \"limit\": %s}", c % 2, rnd(2) ? "10" : "10.0");
    else
        snprintf(args, sizeof args, "{\"limit\":10,\"q\":\"item %d\"}", c % 2);
    switch (rnd(3)) {
    case 0:
        snprintf(blk, sizeof blk, "<tool_call>\n{\"name\": \"%s\", \"arguments\": %s}\n</tool_call>\n",
                 tools[c / 2], args);
        break;
    case 1:
        snprintf(blk, sizeof blk, "<tool_call>{\"arguments\": %s, \"name\": \"%s\"}</tool_call>\n",
                 args, tools[c / 2]);
        break;
    default:
        snprintf(blk, sizeof blk, "<tool_call>\n{\"name\": \"%s\",\n \"arguments\": %s}</tool_call>\n",
                 tools[c / 2], args);
        break;
    }
    sb_str(b, blk);
}

/* The rule, written plainly: which calls of seq go (keep 1). The calls
 * are compared as the output keeps them (k[] holds input indices). */
static void reference(const int *seq, int n, bool *drop)
{
    int k[32], nk = 0, loop_p = 0, loop_s = 0, loop_len = 0;
    for (int t = 0; t < n; t++) {
        drop[t] = false;
        if (loop_p) {
            if (seq[k[loop_s + loop_len % loop_p]] == seq[t]) {
                loop_len++;
                drop[t] = true;
                continue;
            }
            loop_p = 0;
        }
        k[nk++] = t;
        for (int p = 1; p <= 4; p++) {
            int need = p == 1 ? 3 : 2 * p, run = 0;
            while (run < need && nk - 1 - run - p >= 0 &&
                   seq[k[nk - 1 - run]] == seq[k[nk - 1 - run - p]])
                run++;
            bool prim = true;
            if (p >= 2 && nk >= p) {
                const int *q = k + nk - p;
                if (p == 2)
                    prim = seq[q[0]] != seq[q[1]];
                if (p == 3)
                    prim = !(seq[q[0]] == seq[q[1]] && seq[q[1]] == seq[q[2]]);
                if (p == 4)
                    prim = !(seq[q[0]] == seq[q[2]] && seq[q[1]] == seq[q[3]]);
            }
            if (run >= need && prim) {
                loop_p = p;
                loop_s = nk - (run + p);
                loop_len = run + p;
                for (int j = loop_s + p; j < nk; j++)
                    drop[k[j]] = true;
                nk = loop_s + p;
                break;
            }
        }
    }
}

/* Brute force: some stretch is 4 identical calls or 3 copies of a 2-4 cycle. */
static bool has_loop(const int *seq, int n)
{
    for (int p = 1; p <= 4; p++) {
        int need = p == 1 ? 4 : 3 * p;
        for (int s = 0; s + need <= n; s++) {
            bool per = true, all_same = true;
            for (int k = s + p; k < s + need && per; k++)
                per = seq[k] == seq[k - p];
            for (int k = s + 1; k < s + p; k++)
                all_same = all_same && seq[k] == seq[s];
            if (per && (p == 1 || !all_same))
                return true;
        }
    }
    return false;
}

static const char *seq_str(const int *seq, int n)
{
    static char buf[64];
    for (int i = 0; i < n && i < 60; i++)
        buf[i] = (char)('A' + seq[i]);
    buf[n < 60 ? n : 60] = '\0';
    return buf;
}

static void test_text_random(void)
{
    t_params only = t_defaults();
    only.kinds = (int)REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT);
    int loops = 0, clean = 0, mismatch = 0;
    for (int iter = 0; iter < 600; iter++) {
        int n = 3 + (int)rnd(14), seq[20], alpha = 2 + (int)rnd(5);
        bool drop[20];
        /* runs and cycles are likelier than in uniform noise */
        for (int t = 0; t < n; t++) {
            int r = (int)rnd(10);
            if (t >= 1 && r < 3)
                seq[t] = seq[t - 1];
            else if (t >= 2 && r < 6)
                seq[t] = seq[t - 2];
            else if (t >= 3 && r < 7)
                seq[t] = seq[t - 3];
            else
                seq[t] = (int)rnd((unsigned)alpha);
        }
        reference(seq, n, drop);
        sbuf in = {0}, want = {0};
        sb_str(&in, "I will gather the data first.\n\n");
        sb_str(&want, in.p);
        for (int t = 0; t < n; t++) {
            sbuf blk = {0}, gap = {0};
            int blanks = t ? (int)rnd(3) : 0;
            for (int k = 0; k < blanks; k++)
                sb_str(&gap, k == 0 && rnd(4) == 0 ? "  \n" : "\n");
            hermes(&blk, seq[t]);
            sb_add(&in, gap.p ? gap.p : "", gap.n);
            sb_add(&in, blk.p, blk.n);
            if (!drop[t]) {
                sb_add(&want, gap.p ? gap.p : "", gap.n);
                sb_add(&want, blk.p, blk.n);
            }
            free(blk.p);
            free(gap.p);
        }
        sb_str(&in, "\nThat is all I need.\n");
        sb_str(&want, "\nThat is all I need.\n");
        bool loop = has_loop(seq, n);
        t_result r = t_run(in.p, in.n, only, 0, 0);
        bool ok = r.len == want.n && !memcmp(r.out, want.p, want.n);
        if (!ok)
            mismatch++;
        CHECK(ok, "random sequence %d: output differs\n--- input\n%s--- want\n%s--- got\n%.*s", iter,
              in.p, want.p, (int)r.len, r.out);
        CHECK((r.nf > 0) == loop, "random sequence %d: %zu findings, loop %d\n%s", iter, r.nf,
              loop, in.p);
        loops += loop;
        clean += !loop;
        t_result c = t_run(in.p, in.n, only, -(long)(iter + 1), 5);
        CHECK(t_same(&r, &c), "random sequence %d: chunked run differs", iter);
        t_result_free(&c);
        t_result again = t_run(r.out, r.len, only, 0, 0);
        CHECK(again.len == r.len && !memcmp(again.out, r.out, r.len) && again.nf == 0,
              "random sequence %d: not idempotent\n--- seq %s", iter, seq_str(seq, n));
        t_result_free(&again);
        /* every kind on: no crash, same toolcall findings */
        t_result all = t_run(in.p, in.n, t_defaults(), -(long)(iter + 7), 3);
        size_t tc = 0;
        for (size_t i = 0; i < all.nf; i++)
            tc += all.f[i].kind == REPFIX_K_TOOLCALL_REPEAT;
        CHECK(all.st == REPFIX_OK && tc == r.nf, "random sequence %d: all kinds", iter);
        t_result_free(&all);
        t_result_free(&r);
        free(in.p);
        free(want.p);
    }
    printf("  text: %d sequences with a loop, %d without, %d mismatches\n", loops, clean, mismatch);
}

/* ---- user patterns ------------------------------------------------- */

static void test_user_pattern(void)
{
    repfix_ctx *ctx = repfix_ctx_new();
    char err[256];
    CHECK(repfix_add_toolcall_pattern(ctx, "<invoke name=\"(?<name>[^\"]+)\">(?<args>.*?)</invoke>",
                                      err, sizeof err) == REPFIX_OK, "valid pattern: %s", err);
    CHECK(repfix_add_toolcall_pattern(ctx, "<x(?<args>", err, sizeof err) == REPFIX_E_PARAM &&
              strstr(err, "offset"), "syntax error reported: %s", err);
    CHECK(repfix_add_toolcall_pattern(ctx, "(?<args>\\{.*\\})", err, sizeof err) == REPFIX_E_PARAM,
          "no literal start");
    CHECK(repfix_add_toolcall_pattern(ctx, "<call>|<x>(?<args>.*)", err, sizeof err) ==
              REPFIX_E_PARAM, "top-level alternative");
    CHECK(repfix_add_toolcall_pattern(ctx, "<call>(?<nope>.*)", err, sizeof err) == REPFIX_E_PARAM,
          "no args group");
    CHECK(repfix_add_toolcall_pattern(NULL, "<a>", NULL, 0) == REPFIX_E_PARAM, "NULL ctx");
    CHECK(repfix_add_toolcall_pattern(ctx, "(?s)<call>(?<args>.*?)</call>", NULL, 0) == REPFIX_OK,
          "leading options");

    const char *src = "Calling the tool.\n\n"
                      "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n"
                      "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n"
                      "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n"
                      "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n"
                      "Done.\n";
    const char *want = "Calling the tool.\n\n"
                       "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n"
                       "Done.\n";
    char out[1024];
    repfix_in in = {src, strlen(src), 0};
    repfix_out o = {out, sizeof out, 0};
    CHECK(repfix_process(ctx, &o, &in, REPFIX_END) == REPFIX_OK, "process");
    CHECK(o.pos == strlen(want) && !memcmp(out, want, o.pos), "user syntax loop removed:\n%.*s",
          (int)o.pos, out);
    repfix_finding f;
    int nf = 0;
    while (repfix_next_finding(ctx, &f))
        nf += f.kind == REPFIX_K_TOOLCALL_REPEAT && f.copies == 4;
    CHECK(nf == 1, "one finding (%d)", nf);
    CHECK(repfix_add_toolcall_pattern(ctx, "<y>(?<args>.*)", NULL, 0) == REPFIX_E_STATE,
          "after start");
    /* patterns survive a reset */
    repfix_ctx_reset(ctx);
    in = (repfix_in){src, strlen(src), 0};
    o = (repfix_out){out, sizeof out, 0};
    repfix_process(ctx, &o, &in, REPFIX_END);
    CHECK(o.pos == strlen(want), "after reset");
    repfix_ctx_free(ctx);
}

/* ---- hostile text ------------------------------------------------------ */

/* Feeds src in 4 KiB pieces; returns the largest repfix_held seen. */
static size_t max_held(const char *src, size_t n, size_t *out_len, double *secs)
{
    repfix_ctx *ctx = repfix_ctx_new();
    repfix_set_param(ctx, REPFIX_P_KINDS, (int)REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT));
    size_t cap = 1 << 16, held = 0, total = 0, pos = 0;
    char *out = malloc(cap);
    clock_t t0 = clock();
    for (;;) {
        size_t k = n - pos < 4096 ? n - pos : 4096;
        repfix_in in = {src + pos, k, 0};
        bool last = pos + k == n;
        for (;;) {
            repfix_out o = {out, cap, 0};
            repfix_status st = repfix_process(ctx, &o, &in, last ? REPFIX_END : REPFIX_CONTINUE);
            total += o.pos;
            repfix_finding f;
            while (repfix_next_finding(ctx, &f))
                ;
            if (st || (in.pos == in.size && o.pos < o.size && (!last || !repfix_held(ctx))))
                break;
        }
        size_t h = repfix_held(ctx);
        if (h > held)
            held = h;
        pos += k;
        if (last)
            break;
    }
    *secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    *out_len = total;
    free(out);
    repfix_ctx_free(ctx);
    return held;
}

static void test_hostile(void)
{
    sbuf b = {0};
    size_t out_len;
    double secs;
    /* an opening tag that never closes, then a long document */
    sb_str(&b, "<tool_call>\n");
    for (int i = 0; i < 40000; i++)
        sb_str(&b, "Some prose that mentions nothing in particular, line after line.\n");
    size_t held = max_held(b.p, b.n, &out_len, &secs);
    CHECK(out_len == b.n && held <= (96u << 10), "unclosed tag: %zu of %zu bytes out, held %zu",
          out_len, b.n, held);
    b.n = 0;

    /* 100 000 identical calls: one stays, holding stays small */
    for (int i = 0; i < 100000; i++)
        sb_str(&b, "<tool_call>{\"name\": \"poll\", \"arguments\": {\"id\": 1}}</tool_call>\n");
    held = max_held(b.p, b.n, &out_len, &secs);
    CHECK(out_len == strlen("<tool_call>{\"name\": \"poll\", \"arguments\": {\"id\": 1}}</tool_call>\n") &&
              held <= (64u << 10) && secs < 10,
          "huge loop: %zu bytes out, held %zu, %.2fs", out_len, held, secs);
    printf("  100000-call loop (%zu bytes): %.2fs, held at most %zu bytes\n", b.n, secs, held);
    b.n = 0;

    /* deep nesting in a call and in a Mistral list */
    sb_str(&b, "<tool_call>{\"name\": \"f\", \"arguments\": ");
    for (int i = 0; i < 30000; i++)
        sb_str(&b, "[");
    sb_str(&b, "</tool_call>\n[TOOL_CALLS] [");
    for (int i = 0; i < 30000; i++)
        sb_str(&b, "{\"a\":");
    sb_str(&b, "\nend\n");
    held = max_held(b.p, b.n, &out_len, &secs);
    CHECK(out_len == b.n && secs < 5, "deep nesting: %zu of %zu, %.2fs", out_len, b.n, secs);
    b.n = 0;

    /* many blank lines between blocks: the group ends, blanks are the text's */
    sb_str(&b, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n");
    for (int i = 0; i < 100000; i++)
        sb_str(&b, "\n");
    sb_str(&b, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n");
    held = max_held(b.p, b.n, &out_len, &secs);
    CHECK(held <= (8u << 10), "long gap held %zu", held);
    free(b.p);

    /* an over-long line right after a held block */
    size_t big = (1u << 20) + 100;
    char *s = malloc(big + 256);
    size_t k = (size_t)sprintf(s, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n"
                                  "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n");
    memset(s + k, 'x', big);
    s[k + big] = '\n';
    t_params only = t_defaults();
    only.kinds = (int)REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT);
    t_result r = t_run(s, k + big + 1, only, 0, 0);
    CHECK(r.len == k + big + 1 && !memcmp(r.out, s, r.len), "over-long line after calls");
    t_result r2 = t_run(s, k + big + 1, only, -3, 0);
    CHECK(t_same(&r, &r2), "over-long line, chunked");
    t_result_free(&r);
    t_result_free(&r2);
    free(s);
}

/* ---- false positives on clean documents ----------------------------- */

static void test_clean_corpus(void)
{
    DIR *d = opendir("corpora/clean");
    if (!d) {
        printf("  corpora/clean not found: skipped\n");
        return;
    }
    struct dirent *e;
    int docs = 0, fp = 0;
    size_t bytes = 0;
    t_params only = t_defaults();
    only.kinds = (int)REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT);
    t_params without = t_defaults();
    without.kinds &= ~(int)REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "corpora/clean/%s", e->d_name);
        size_t n;
        char *s = t_read_file(path, &n);
        if (!s)
            continue;
        if (strstr(e->d_name, ".jsonl") || strstr(e->d_name, ".json")) {
            only.format = without.format = strstr(e->d_name, ".jsonl") ? REPFIX_FORMAT_JSONL : REPFIX_FORMAT_JSON;
        } else {
            only.format = without.format = REPFIX_FORMAT_TEXT;
        }
        t_result a = t_run(s, n, only, 0, 0);
        t_result all = t_run(s, n, t_defaults(), 0, 0);
        t_params def = t_defaults();
        def.format = only.format;
        all = (t_result_free(&all), t_run(s, n, def, 0, 0));
        t_result wo = t_run(s, n, without, 0, 0);
        bool same = a.len == n && !memcmp(a.out, s, n) && a.nf == 0 && wo.len == all.len &&
                    !memcmp(wo.out, all.out, all.len);
        for (size_t i = 0; i < all.nf; i++)
            same = same && all.f[i].kind != REPFIX_K_TOOLCALL_REPEAT;
        CHECK(same, "clean document %s changed or flagged by toolcall-repeat", path);
        fp += !same;
        docs++;
        bytes += n;
        t_result_free(&a);
        t_result_free(&all);
        t_result_free(&wo);
        free(s);
    }
    closedir(d);
    printf("  clean corpus: %d documents (%zu bytes), %d false positives\n", docs, bytes, fp);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_equality();
    test_conversations();
    test_logs();
    test_text_random();
    test_user_pattern();
    test_hostile();
    test_clean_corpus();
    return t_report();
}
