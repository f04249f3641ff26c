/*
 * unit.c - the public API's contract: parameters, errors, lifecycle, the
 * one-shot call, bytes repfix must never touch, and bounded holding.
 */
#include "harness.h"

static void test_names(void)
{
    for (int k = 0; k < REPFIX_K_COUNT; k++) {
        const char *n = repfix_kind_name((repfix_kind)k);
        CHECK(repfix_kind_from_name(n, strlen(n)) == k, "kind %d round trip", k);
    }
    CHECK(repfix_kind_from_name("nope", 4) == -1, "unknown kind");
    CHECK(!strcmp(repfix_status_name(REPFIX_E_NOMEM), "out of memory"), "status name");
    CHECK(!strcmp(repfix_version(), REPFIX_VERSION_STRING), "version");
}

static void test_params(void)
{
    repfix_ctx *ctx = repfix_ctx_new();
    CHECK(ctx != NULL, "ctx_new");
    CHECK(repfix_set_param(ctx, REPFIX_P_KEEP, 0) == REPFIX_E_PARAM, "keep 0 rejected");
    CHECK(repfix_set_param(ctx, REPFIX_P_KEEP, 3) == REPFIX_OK, "keep 3");
    CHECK(repfix_set_param(ctx, REPFIX_P_FORMAT, 9) == REPFIX_E_PARAM, "bad format");
    CHECK(repfix_set_param(ctx, (repfix_param)99, 1) == REPFIX_E_PARAM, "bad param");
    CHECK(repfix_set_param(ctx, REPFIX_P_KINDS, 1 << 30) == REPFIX_E_PARAM, "bad kinds");
    char out[64];
    repfix_in in = {"a\n", 2, 0};
    repfix_out o = {out, sizeof out, 0};
    CHECK(repfix_process(ctx, &o, &in, REPFIX_END) == REPFIX_OK, "process");
    CHECK(o.pos == 2 && !memcmp(out, "a\n", 2), "passthrough");
    CHECK(repfix_held(ctx) == 0, "nothing held after end");
    CHECK(repfix_set_param(ctx, REPFIX_P_KEEP, 2) == REPFIX_E_STATE, "param after start");
    repfix_in more = {"b", 1, 0};
    CHECK(repfix_process(ctx, &o, &more, REPFIX_END) == REPFIX_E_STATE, "input after end");
    CHECK(repfix_ctx_reset(ctx) == REPFIX_OK, "reset");
    CHECK(repfix_set_param(ctx, REPFIX_P_KEEP, 2) == REPFIX_OK, "param after reset");
    repfix_in again = {"c\n", 2, 0};
    o.pos = 0;
    CHECK(repfix_process(ctx, &o, &again, REPFIX_END) == REPFIX_OK && o.pos == 2, "after reset");
    repfix_in null_in = {NULL, 5, 0};
    CHECK(repfix_process(ctx, &o, &null_in, REPFIX_END) == REPFIX_E_PARAM, "NULL src");
    repfix_ctx_free(ctx);
    repfix_ctx_free(NULL);
}

static void test_one_shot(void)
{
    const char src[] = "one\n\n\n\n\ntwo\n";
    char *out;
    size_t len, nf;
    CHECK(repfix_fix_buffer(src, sizeof src - 1, REPFIX_FORMAT_TEXT, REPFIX_MODE_FIX, &out, &len,
                            &nf) == REPFIX_OK,
          "one-shot");
    CHECK(len == 9 && !memcmp(out, "one\n\ntwo\n", 9) && nf == 1, "one-shot result '%s'", out);
    free(out);
    CHECK(repfix_fix_buffer(src, sizeof src - 1, REPFIX_FORMAT_TEXT, REPFIX_MODE_FLAG, &out, &len,
                            &nf) == REPFIX_OK &&
              len == sizeof src - 1 && nf == 1,
          "one-shot flag");
    free(out);
    CHECK(repfix_fix_buffer("", 0, REPFIX_FORMAT_TEXT, REPFIX_MODE_FIX, &out, &len, NULL) ==
                  REPFIX_OK &&
              len == 0,
          "empty input");
    free(out);
}

/* Bytes outside defects pass through: CRLF, NUL, invalid UTF-8, a BOM. */
static void test_untouched_bytes(void)
{
    const char src[] = "\xEF\xBB\xBFtitle\r\nbad \xC3\x28 \xFF\xFE and NUL \0 here\r\n"
                       "overlong \xC0\xAF and lone CR \r in line\r\nno final newline";
    size_t n = sizeof src - 1;
    t_result r = t_run(src, n, t_defaults(), 0, 0);
    CHECK(r.len == n && !memcmp(r.out, src, n) && r.nf == 0, "untouched bytes changed");
    t_result_free(&r);
    const char crlf[] = "a\r\n\r\n\r\n\r\n\r\nb\r\n";
    r = t_run(crlf, sizeof crlf - 1, t_defaults(), 1, 1);
    CHECK(r.len == 8 && !memcmp(r.out, "a\r\n\r\nb\r\n", 8), "CRLF blank run keeps CRLF");
    t_result_free(&r);
}

/* A 3 MiB line with no newline: output flows before the end of input. */
static void test_long_line_bounded(void)
{
    size_t n = 3u << 20;
    char *src = malloc(n);
    unsigned long x = 88172645463325252UL; /* xorshift: text without a period */
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        src[i] = (x % 6 == 0) ? ' ' : (char)('a' + (x >> 8) % 26);
    }
    repfix_ctx *ctx = repfix_ctx_new();
    char *out = malloc(n + 16);
    repfix_in in = {src, n, 0};
    repfix_out o = {out, n + 16, 0};
    CHECK(repfix_process(ctx, &o, &in, REPFIX_CONTINUE) == REPFIX_OK, "long line");
    CHECK(in.pos == n && o.pos >= n - (2u << 20), "long line held back %zu bytes", n - o.pos);
    CHECK(repfix_process(ctx, &o, &in, REPFIX_END) == REPFIX_OK && o.pos == n &&
              !memcmp(out, src, n),
          "long line output");
    repfix_ctx_free(ctx);
    free(src);
    free(out);
}

/* Streaming: a finished line is output before the next one arrives. */
static void test_line_latency(void)
{
    repfix_ctx *ctx = repfix_ctx_new();
    char out[256];
    repfix_in in = {"First line of an answer.\nSecond", 31, 0};
    repfix_out o = {out, sizeof out, 0};
    repfix_process(ctx, &o, &in, REPFIX_CONTINUE);
    CHECK(o.pos == 25, "first line written at once (%zu bytes)", o.pos);
    repfix_ctx_free(ctx);

    /* every finished line, with or without numbers, goes out before the
     * next one arrives (lines sharing an ending like ".\n" included) */
    const char *lines[] = {"Intro text here.\n", "Step 1: open the file.\n",
                           "Step 2: edit it carefully.\n", "Then save it.\n",
                           "| a | b |\n", "|---|---|\n", "| 1 | 2 |\n", "Done.\n"};
    ctx = repfix_ctx_new();
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        size_t n = strlen(lines[i]);
        repfix_in li = {lines[i], n, 0};
        repfix_out lo = {out, sizeof out, 0};
        repfix_process(ctx, &lo, &li, REPFIX_CONTINUE);
        /* a table header waits for the line after it, nothing else waits */
        size_t want = i == 4 ? 0 : i == 5 ? strlen(lines[4]) + n : n;
        CHECK(lo.pos == want, "line %zu: %zu bytes written, expected %zu", i, lo.pos, want);
    }
    repfix_ctx_free(ctx);
}

/* A loop's finding names its input line, also after stage A removed blank
 * lines before it. */
static void test_loop_line_number(void)
{
    char src[8192];
    size_t n = 0;
    n += (size_t)snprintf(src + n, sizeof src - n, "Intro.\n\n\n\n\n\nMore text here.\n\n\n\n\n");
    for (int i = 1; i <= 40; i++) /* a near-duplicate loop: 39 lines go */
        n += (size_t)snprintf(src + n, sizeof src - n, "Step %d: verify the result again.\n", i);
    n += (size_t)snprintf(src + n, sizeof src - n, "Then:\n");
    for (int i = 0; i < 6; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "The same sentence comes back again and again.\n");
    size_t want_line = 1;
    const char *first = strstr(src, "The same");
    for (const char *p = src; p < first; p++)
        want_line += *p == '\n';
    for (long chunk = 0; chunk <= 1; chunk++) {
        t_result r = t_run(src, n, t_defaults(), chunk, 0);
        int seen = 0;
        for (size_t i = 0; i < r.nf; i++) {
            if (r.f[i].kind != REPFIX_K_REPEAT || r.f[i].period < 40)
                continue; /* the exact loop, not the near-duplicate one */
            seen++;
            CHECK(r.f[i].line == want_line, "loop line %llu, want %zu (chunk %ld)",
                  (unsigned long long)r.f[i].line, want_line, chunk);
        }
        CHECK(seen == 1, "%d loop findings (chunk %ld)", seen, chunk);
        t_result_free(&r);
    }
}

/* Block kinds of a slice are all known to the loop detector, however many
 * blocks the slice holds: 4 equal code lines stay (code needs 16 copies)
 * when 130 more code blocks follow in the same feed. */
static void test_many_blocks_in_one_feed(void)
{
    static char src[16384];
    size_t n = 0;
    n += (size_t)snprintf(src + n, sizeof src - n, "Intro.\n\n```\n");
    for (int i = 0; i < 4; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "result = compute_value(alpha, beta);\n");
    n += (size_t)snprintf(src + n, sizeof src - n, "```\n\n");
    for (int i = 0; i < 130; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "Block %d:\n\n```\nx = %d\n```\n\n", i, i);
    for (long chunk = 0; chunk <= 1; chunk++) {
        t_result r = t_run(src, n, t_defaults(), chunk, 0);
        CHECK(r.len == n && !memcmp(r.out, src, n) && r.nf == 0,
              "code lines removed with %zu blocks in one feed (chunk %ld): %zu findings",
              (size_t)130, chunk, r.nf);
        t_result_free(&r);
    }
}

/* Rows of box-drawing tables are data, wherever the loop detector's period
 * window starts inside a character: nothing removed, no broken UTF-8. */
static void test_box_drawing_rows(void)
{
    static char src[4096];
    size_t n = 0;
    const char *rows[] = {"\xE2\x94\x8C", "\xE2\x94\xAC", "\xE2\x94\x90",  /* top */
                          "\xE2\x94\x9C", "\xE2\x94\xBC", "\xE2\x94\xA4",  /* middle */
                          "\xE2\x94\x94", "\xE2\x94\xB4", "\xE2\x94\x98"}; /* bottom */
    for (int row = 0; row < 3; row++) {
        n += (size_t)snprintf(src + n, sizeof src - n, "%s", rows[3 * row]);
        for (int cell = 0; cell < 7; cell++) {
            for (int k = 0; k < 7; k++)
                n += (size_t)snprintf(src + n, sizeof src - n, "\xE2\x94\x80");
            n += (size_t)snprintf(src + n, sizeof src - n, "%s", rows[3 * row + (cell < 6 ? 1 : 2)]);
        }
        n += (size_t)snprintf(src + n, sizeof src - n, "\n");
    }
    t_result r = t_run(src, n, t_defaults(), 0, 0);
    CHECK(r.len == n && !memcmp(r.out, src, n) && r.nf == 0, "box-drawing rows changed (%zu findings)",
          r.nf);
    t_result_free(&r);
}

static int has_bytes(const t_result *r, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= r->len; i++)
        if (memcmp(r->out + i, s, n) == 0)
            return 1;
    return 0;
}

/* A short loop that goes on past the region a failed long candidate was
 * rescanned over: one finding, whole copies dropped. The drop once began
 * where the rescan had released to, mid-copy ("own o t useful"), and the
 * run gave two findings keeping "own own". */
static void test_loop_across_rescan_end(void)
{
    size_t n;
    char *src = t_read_file("fuzz/regress/text/repeat-idempotence-phase-1", &n);
    CHECK(src != NULL, "reproducer readable");
    if (!src)
        return;
    for (long chunk = 0; chunk <= 1; chunk++) {
        t_result r = t_run(src, n, t_defaults(), chunk, 0);
        CHECK(has_bytes(&r, "ownership\nof your own t useful"), "one whole copy kept (chunk %ld)",
              chunk);
        size_t runs = 0;
        for (size_t i = 0; i < r.nf; i++)
            runs += r.f[i].kind == REPFIX_K_REPEAT && r.f[i].start >= 600 && r.f[i].start < 830;
        CHECK(runs == 1, "one finding for the run, not %zu (chunk %ld)", runs, chunk);
        t_result_free(&r);
    }
    free(src);
}


/* A paragraph that loops without a line break reaches the loop detector
 * after about SOFT_FRAGMENT bytes, not at its end: fed as a model streams
 * it, it is written out and --stop-on-loop stops it within 2 KiB. A long
 * line that does not loop goes out in pieces too, and comes out whole. */
static void test_paragraph_streams(void)
{
    static const char copy[] = "Loop forever and ever, this sentence. ";
    /* a paragraph, and a list item, that loop */
    static const char *intros[] = {"Intro.\n", "Intro.\n\n- "};
    for (size_t k = 0; k < 2; k++) {
        const char *intro = intros[k];
        repfix_ctx *ctx = repfix_ctx_new();
        repfix_set_param(ctx, REPFIX_P_STOP_ON_LOOP, 1);
        char out[65536];
        size_t fed = 0, written = 0;
        repfix_status st = REPFIX_OK;
        for (int i = 0; i < 1000 && st == REPFIX_OK; i++) {
            const char *p = i ? copy : intro;
            repfix_in in = {p, strlen(p), 0};
            repfix_out o = {out, sizeof out, 0};
            st = repfix_process(ctx, &o, &in, REPFIX_CONTINUE);
            fed += in.pos;
            written += o.pos;
        }
        CHECK(st == REPFIX_E_STOPPED && fed < 2048,
              "looping %s: %s after %zu bytes (expected a stop within 2 KiB)",
              k ? "list item" : "paragraph", repfix_status_name(st), fed);
        CHECK(written == strlen(intro) + strlen(copy) - 1, "looping %s: %zu bytes written",
              k ? "list item" : "paragraph", written);
        repfix_ctx_free(ctx);
    }
    repfix_ctx *ctx;
    size_t written;

    /* words without a loop, 64 KiB in one line, fed 100 bytes at a time */
    size_t n = 65536;
    char *src = malloc(n + 1), *all = malloc(n + 64);
    unsigned long x = 88172645463325252UL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        src[i] = (x % 6 == 0 && i && src[i - 1] != ' ') ? ' ' : (char)('a' + (x >> 8) % 26);
    }
    src[n] = '\n';
    ctx = repfix_ctx_new();
    written = 0;
    size_t at_half = 0;
    for (size_t pos = 0; pos <= n; pos += 100) {
        size_t k = n + 1 - pos < 100 ? n + 1 - pos : 100;
        repfix_in in = {src + pos, k, 0};
        repfix_out o = {all + written, n + 64 - written, 0};
        repfix_process(ctx, &o, &in, pos + k == n + 1 ? REPFIX_END : REPFIX_CONTINUE);
        written += o.pos;
        if (pos < n / 2)
            at_half = written;
    }
    CHECK(at_half + 2048 >= n / 2, "long line: %zu of %zu bytes out at half",
          at_half, n / 2);
    CHECK(written == n + 1 && !memcmp(all, src, n + 1), "long line: output differs");
    repfix_ctx_free(ctx);
    free(src);
    free(all);
}

/* Pieces of a long line are cut inside words only, never in a code span
 * or an escape sequence: what the line detectors repair in a long line is
 * what they repair in a short one, for any split. */
static void test_soft_cuts_keep_runs(void)
{
    char words[2100]; /* words that do not repeat */
    size_t w = 0;
    unsigned long x = 88172645463325252UL;
    while (w < 2050) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        words[w] = (w % 7 == 6) ? ' ' : (char)('a' + (x >> 8) % 26);
        w++;
    }
    static const char *tails[] = {
        "`code                                        span` and more text here\n",
        "escaped \\n\\n\\n\\n\\n\\n and more text here\n",
        "spaced                                        out and more text here\n",
        "数据库连接池的配置数据库连接池的配置                                        建议先检查 more text\n",
    };
    /* a paragraph line, and the first line of a list item */
    static const char *marks[] = {"", "- ", "12. "};
    for (size_t mk = 0; mk < sizeof marks / sizeof *marks; mk++)
    for (size_t k = 0; k < sizeof tails / sizeof *tails; k++) {
        /* the tail starts just before the first cut point (1024), or
         * just before the second one (a cut at 1024 or a little later in
         * the words, then 1024 more) */
        for (size_t lead = 0; lead < 64; lead++) {
            char line[4096];
            size_t ml = strlen(marks[mk]);
            size_t n = (lead < 32 ? 1030 - lead : 2060 - lead) - ml;
            memcpy(line, marks[mk], ml);
            memcpy(line + ml, words, n);
            n += ml;
            memcpy(line + n, tails[k], strlen(tails[k]));
            n += strlen(tails[k]);
            /* the same tail after a short line */
            char shortl[512];
            size_t sn = (size_t)snprintf(shortl, sizeof shortl, "%slorem ipsum %s", marks[mk],
                                         tails[k]);
            size_t sh = ml + 12;
            t_params p = t_defaults();
            t_result a = t_run(line, n, p, 0, 0), b = t_run(shortl, sn, p, 0, 0);
            size_t head = n - strlen(tails[k]); /* the words, left as they are */
            CHECK(a.len >= head && b.len >= sh && a.len - head == b.len - sh &&
                      !memcmp(a.out, line, head) && !memcmp(a.out + head, b.out + sh, b.len - sh),
                  "'%s' tail %zu lead %zu: long line repaired unlike a short one", marks[mk], k,
                  lead);
            t_result c = t_run(line, n, p, 1, 1);
            CHECK(t_same(&a, &c), "'%s' tail %zu lead %zu: 1-byte feeds differ", marks[mk], k,
                  lead);
            t_result_free(&a);
            t_result_free(&b);
            t_result_free(&c);
        }
    }
}

int main(void)
{
    test_names();
    test_params();
    test_one_shot();
    test_untouched_bytes();
    test_long_line_bounded();
    test_line_latency();
    test_loop_line_number();
    test_many_blocks_in_one_feed();
    test_box_drawing_rows();
    test_loop_across_rescan_end();
    test_paragraph_streams();
    test_soft_cuts_keep_runs();
    return t_report();
}
