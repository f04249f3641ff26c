/*
 * json.c - the JSON format (src/json.c, src/jsonstr.c) on realistic
 * structured-output documents: Gemini/OpenAI-shaped responses whose string
 * values are the clean sample texts of corpora/clean, printed compact,
 * tab-indented (cJSON) and 2-space indented (Python, JavaScript).
 *
 * Checks: clean documents come out byte-identical; runaway whitespace
 * injected between tokens (complete or cut off in the run) and escaped
 * line-break runs injected at paragraph breaks inside string values are
 * repaired back to the original bytes, and the output parses (cJSON) to the
 * original value; every case is chunking-invariant, idempotent, and flag
 * mode copies the input. Then the hostile cases: 10^6 nested brackets, a
 * multi-megabyte string value that runs away until it is cut off (the
 * streamed path), random corruptions (no crash, same result for any split),
 * and the string codec (json_unescape / json_escape) on random values.
 * Run from the repository root.
 */
#include "harness.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>

static unsigned long rng = 88172645463325252UL;
static unsigned long rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static t_params json_params(void)
{
    t_params p = t_defaults();
    p.format = REPFIX_FORMAT_JSON;
    return p;
}

/* The document for one sample text, in style 0 (compact), 1 (tabs) or 2
 * (2 spaces). */
static char *make_doc(const char *name, const char *text, int style)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "responseId", name);
    cJSON_AddStringToObject(root, "modelVersion", "gemini-2.0-flash");
    cJSON *cands = cJSON_AddArrayToObject(root, "candidates");
    cJSON *cand = cJSON_CreateObject();
    cJSON_AddItemToArray(cands, cand);
    cJSON *content = cJSON_AddObjectToObject(cand, "content");
    cJSON *parts = cJSON_AddArrayToObject(content, "parts");
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "text", text);
    cJSON_AddItemToArray(parts, part);
    cJSON_AddStringToObject(content, "role", "model");
    cJSON_AddStringToObject(cand, "finishReason", "STOP");
    cJSON_AddNumberToObject(cand, "avgLogprobs", -0.0734);
    cJSON *usage = cJSON_AddObjectToObject(root, "usageMetadata");
    cJSON_AddNumberToObject(usage, "promptTokenCount", 1234);
    cJSON_AddNumberToObject(usage, "candidatesTokenCount", (double)strlen(text) / 4);
    cJSON_AddTrueToObject(usage, "cached");
    cJSON_AddNullToObject(usage, "trafficType");
    cJSON *tags = cJSON_AddArrayToObject(root, "tags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("docs"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("caf\xc3\xa9 \xe2\x9c\x93"));
    cJSON_AddItemToArray(tags, cJSON_CreateArray());
    char *s = style == 0 ? cJSON_PrintUnformatted(root) : cJSON_Print(root);
    cJSON_Delete(root);
    if (style != 2)
        return s;
    /* leading tabs -> 2 spaces each (tabs inside strings are escaped) */
    sbuf b = {0};
    for (char *q = s; *q;) {
        while (*q == '\t') {
            sb_add(&b, "  ", 2);
            q++;
        }
        char *e = strchr(q, '\n');
        size_t n = e ? (size_t)(e - q) + 1 : strlen(q);
        sb_add(&b, q, n);
        q += n;
    }
    sb_add(&b, "\n", 1);
    free(s);
    return b.p;
}

/* Whole run, flag mode, random chunks, idempotence; returns the whole run. */
static t_result run_all(const char *what, const char *in, size_t len, int bytewise)
{
    t_params p = json_params();
    t_result whole = t_run(in, len, p, 0, 0);
    CHECK(whole.st == REPFIX_OK, "%s: status %s", what, repfix_status_name(whole.st));
    t_result r = t_run(in, len, p, -(long)(rnd() % 1000 + 1), 7);
    CHECK(t_same(&whole, &r), "%s: random chunks differ", what);
    t_result_free(&r);
    if (bytewise) {
        r = t_run(in, len, p, 1, 1);
        CHECK(t_same(&whole, &r), "%s: 1-byte feeds differ", what);
        t_result_free(&r);
    }
    t_params fp = p;
    fp.mode = REPFIX_MODE_FLAG;
    r = t_run(in, len, fp, 0, 0);
    int same_kinds = r.nf == whole.nf;
    for (size_t i = 0; same_kinds && i < r.nf; i++)
        same_kinds = r.f[i].kind == whole.f[i].kind && r.f[i].start == whole.f[i].start;
    CHECK(r.len == len && !memcmp(r.out, in, len) && same_kinds,
          "%s: flag mode changed the input or the findings", what);
    t_result_free(&r);
    r = t_run(whole.out, whole.len, p, 0, 0);
    CHECK(r.len == whole.len && !memcmp(r.out, whole.out, r.len) && r.nf == 0,
          "%s: not idempotent (%zu findings on the second pass)", what, r.nf);
    t_result_free(&r);
    for (size_t i = 0; i < whole.nf; i++)
        CHECK(whole.f[i].start <= whole.f[i].end && whole.f[i].end <= len &&
                  whole.f[i].out_start <= whole.f[i].out_end && whole.f[i].out_end <= whole.len,
              "%s: finding %zu out of bounds", what, i);
    return whole;
}

static int same_value(const char *a, size_t alen, const char *b, size_t blen)
{
    cJSON *x = cJSON_ParseWithLengthOpts(a, alen, NULL, 0);
    cJSON *y = cJSON_ParseWithLengthOpts(b, blen, NULL, 0);
    int ok = x && y && cJSON_Compare(x, y, 1);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return ok;
}

/* Byte offsets just after a structural byte outside strings. */
static size_t token_gaps(const char *d, size_t n, size_t *out, size_t max)
{
    size_t k = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        char c = d[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == ',' || c == ':' || c == '{' || c == '[')
            out[k++] = i + 1;
    }
    return k;
}

static int n_docs, n_identity, n_ws, n_trunc, n_str;

static void doc_cases(const char *name, const char *text)
{
    for (int style = 0; style < 3; style++) {
        char *doc = make_doc(name, text, style);
        size_t len = strlen(doc);
        char what[256];
        n_docs++;

        /* clean: byte-identical */
        snprintf(what, sizeof what, "%s style %d clean", name, style);
        t_result r = run_all(what, doc, len, 0);
        CHECK(r.len == len && !memcmp(r.out, doc, len) && r.nf == 0,
              "%s: clean document changed (%zu findings, first %s)", what, r.nf,
              r.nf ? repfix_kind_name(r.f[0].kind) : "-");
        n_identity += r.len == len && !memcmp(r.out, doc, len);
        t_result_free(&r);

        size_t gaps[4096];
        size_t ng = token_gaps(doc, len, gaps, 4096);
        for (int t = 0; t < 3 && ng; t++) {
            size_t at = gaps[rnd() % ng];
            static const char *const runs[] = {"\n", " ", "\n \t", "\t"};
            const char *unit = runs[rnd() % 4];
            size_t copies = 100 + rnd() % 3000;
            sbuf in = {0};
            sb_add(&in, doc, at);
            for (size_t c = 0; c < copies; c++)
                sb_add(&in, unit, strlen(unit));
            size_t run_end = in.len;
            sb_add(&in, doc + at, len - at);
            /* the original whitespace follows the runaway: with a line
             * break in it, the repair must give the original bytes back */
            size_t ws_end = at;
            while (ws_end < len && (doc[ws_end] == ' ' || doc[ws_end] == '\n' || doc[ws_end] == '\t'))
                ws_end++;
            int had_nl = memchr(doc + at, '\n', ws_end - at) != NULL;
            snprintf(what, sizeof what, "%s style %d runaway '%s'x%zu at %zu", name, style,
                     unit[0] == '\n' ? "\\n" : unit[0] == ' ' ? "sp" : "\\t", copies, at);
            r = run_all(what, in.p, in.len, 0);
            CHECK(r.nf == 1 && same_value(r.out, r.len, doc, len), "%s: value changed or %zu findings",
                  what, r.nf);
            if (style > 0 && had_nl)
                CHECK(r.len == len && !memcmp(r.out, doc, len),
                      "%s: the document's indentation was not restored\n%.*s", what,
                      (int)(r.len < 400 ? r.len : 400), r.out);
            n_ws++;
            t_result_free(&r);

            /* cut off inside the run: the run goes, nothing is added */
            size_t cut = at + (run_end - at) / 2;
            snprintf(what, sizeof what, "%s style %d cut off in a run at %zu", name, style, at);
            r = run_all(what, in.p, cut, 0);
            CHECK(r.nf == 1 && r.len == at && !memcmp(r.out, doc, at),
                  "%s: expected the prefix of %zu bytes, got %zu bytes, %zu findings", what, at,
                  r.len, r.nf);
            n_trunc++;
            t_result_free(&r);
            free(in.p);
        }

        /* an escaped line-break runaway at a paragraph break of the text */
        /* a paragraph break: exactly one blank line */
        const char *para = strstr(doc, "\\n\\n");
        while (para && (!strncmp(para + 4, "\\n", 2) || (para > doc + 1 && !strncmp(para - 2, "\\n", 2))))
            para = strstr(para + 2, "\\n\\n");
        if (para) {
            size_t at = (size_t)(para - doc) + 2;
            sbuf in = {0};
            sb_add(&in, doc, at);
            size_t copies = 50 + rnd() % 2000;
            for (size_t c = 0; c < copies; c++)
                sb_add(&in, "\\n", 2);
            sb_add(&in, doc + at, len - at);
            snprintf(what, sizeof what, "%s style %d escaped runaway x%zu", name, style, copies);
            r = run_all(what, in.p, in.len, 0);
            CHECK(r.len == len && !memcmp(r.out, doc, len) && r.nf == 1 &&
                      r.f[0].kind == REPFIX_K_NEWLINE_RUN && !strcmp(r.f[0].path, "candidates[0].content.parts[0].text"),
                  "%s: not restored (%zu findings, path '%s')", what, r.nf, r.nf ? r.f[0].path : "");
            CHECK(r.nf == 0 || (r.f[0].start >= at && r.f[0].end <= at + 2 * copies + 4),
                  "%s: span %llu-%llu outside the run at %zu", what,
                  (unsigned long long)r.f[0].start, (unsigned long long)r.f[0].end, at);
            n_str++;
            t_result_free(&r);
            /* and cut off in it */
            r = run_all(what, in.p, at + copies, 0);
            CHECK(r.nf == 1 && r.len <= at + 1 && !memcmp(r.out, doc, r.len),
                  "%s cut off: not a prefix of the document", what);
            t_result_free(&r);
            free(in.p);
        }
        free(doc);
    }
}

static void corpus_docs(void)
{
    DIR *d = opendir("corpora/clean");
    CHECK(d != NULL, "cannot open corpora/clean (run from the repository root)");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "corpora/clean/%s", de->d_name);
        size_t n;
        char *text = t_read_file(path, &n);
        if (!text || memchr(text, '\0', n) || n > 200000) {
            free(text);
            continue;
        }
        /* cJSON needs valid UTF-8 for a faithful round trip: skip others */
        doc_cases(de->d_name, text);
        free(text);
    }
    closedir(d);
}

static void deep_nesting(void)
{
    size_t depth = 1000000;
    char *s = malloc(2 * depth + 16);
    memset(s, '[', depth);
    memcpy(s + depth, "\"x\\n\\n\\n\\n\\n\"", 14);
    memset(s + depth + 14, ']', depth);
    size_t len = 2 * depth + 14;
    /* the lexer alone: whether stage B may cut runs of brackets is its own
     * rule (tests/cli/hostile.sh checks the whole pipeline) */
    t_params p = json_params();
    p.kinds &= ~(int)REPFIX_KIND_BIT(REPFIX_K_REPEAT);
    t_result r = t_run(s, len, p, 0, 0);
    CHECK(r.st == REPFIX_OK && r.len == len && !memcmp(r.out, s, len),
          "10^6 nested brackets: not passed through");
    t_result_free(&r);
    r = t_run(s, len, p, -7, 4096);
    CHECK(r.st == REPFIX_OK && r.len == len && !memcmp(r.out, s, len),
          "10^6 nested brackets in chunks: not passed through");
    t_result_free(&r);
    /* unbalanced: only openings, then the end */
    r = t_run(s, depth, p, 0, 0);
    CHECK(r.st == REPFIX_OK && r.len == depth, "10^6 open brackets: not passed through");
    t_result_free(&r);
    /* back from deep nesting the lexer works again */
    sbuf b = {0};
    for (int i = 0; i < 300; i++)
        sb_add(&b, "[", 1);
    for (int i = 0; i < 300; i++)
        sb_add(&b, "]", 1);
    sb_add(&b, "\n\n\n\n\n\n", 6);
    r = t_run(b.p, b.len, p, 0, 0);
    CHECK(r.len == 601 && r.nf == 1, "runaway after deep nesting: %zu bytes, %zu findings", r.len,
          r.nf);
    t_result_free(&r);
    free(b.p);
    free(s);
}

/* A string value far over the held size that runs away until it is cut. */
static void huge_string(void)
{
    sbuf b = {0};
    sb_add(&b, "{\"answer\": \"", 12);
    size_t head = b.len;
    /* varied sentences: no loop for stage B or the nested text to find */
    static const char *const words[] = {"queue", "drains", "in", "order", "each", "worker",
                                        "takes", "the", "next", "job", "and", "reports",
                                        "its", "result", "to", "scheduler", "which", "retries",
                                        "failed", "tasks", "after", "a", "short", "delay"};
    while (b.len < 3u << 20) {
        int n = 6 + (int)(rnd() % 14);
        for (int w = 0; w < n; w++) {
            const char *wd = words[rnd() % (sizeof words / sizeof *words)];
            sb_add(&b, wd, strlen(wd));
            sb_add(&b, w + 1 < n ? " " : ".", 1);
        }
        if (rnd() % 4)
            sb_add(&b, " ", 1);
        else
            sb_add(&b, "\\n\\n", 4);
    }
    size_t text_end = b.len;
    for (int i = 0; i < 400000; i++)
        sb_add(&b, "\\n", 2);
    t_params p = json_params();
    t_result whole = t_run(b.p, b.len, p, 0, 0);
    CHECK(whole.st == REPFIX_OK && whole.nf == 1 && whole.len <= text_end + 2 &&
              whole.len >= text_end - 4 && !memcmp(whole.out, b.p, whole.len),
          "huge runaway string: %zu findings, %zu bytes of %zu", whole.nf, whole.len, text_end);
    (void)head;
    t_result r = t_run(b.p, b.len, p, -3, 65536);
    CHECK(t_same(&whole, &r), "huge runaway string: chunks differ");
    t_result_free(&r);
    t_result_free(&whole);
    /* closed, unchanged, with escapes: the value is kept */
    b.len = text_end;
    sb_add(&b, "caf\\u00e9\"}", 11);
    whole = t_run(b.p, b.len, p, 0, 0);
    CHECK(whole.nf == 0 && same_value(whole.out, whole.len, b.p, b.len),
          "huge clean string: value changed");
    t_result_free(&whole);
    free(b.p);
}

/* Random corruptions: no crash, any split gives the same, flag copies. */
static void corruptions(void)
{
    const char *base =
        "{\n  \"id\": \"r-1\",\n  \"choices\": [\n    {\n      \"message\": {\n        \"content\": "
        "\"Steps:\\n\\n1. Install\\n2. Run \\\"make\\\"\\n\\n\\n\\n\\n\\nDone \\u00e9\\ud83d\\ude00\",\n"
        "        \"n\": [1, -2.5e3, 0.000, true, false, null, {}, []]\n      }\n    }\n  ]\n}\n";
    size_t blen = strlen(base);
    char buf[512];
    t_params p = json_params();
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, base, blen);
        size_t len = blen;
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = rnd() % len;
            static const char alpha[] = "{}[]\",:\\ \n\t0-.eEu1tfnx\x01\xff\xed";
            buf[at] = alpha[rnd() % (sizeof alpha - 1)];
        }
        if (rnd() % 3 == 0)
            len = rnd() % len;
        t_result whole = t_run(buf, len, p, 0, 0);
        t_result r = t_run(buf, len, p, -(long)(it + 1), 5);
        CHECK(whole.st == REPFIX_OK && t_same(&whole, &r), "corruption %d: split differs", it);
        t_result_free(&r);
        t_params fp = p;
        fp.mode = REPFIX_MODE_FLAG;
        r = t_run(buf, len, fp, 0, 0);
        CHECK(r.len == len && !memcmp(r.out, buf, len), "corruption %d: flag changed it", it);
        t_result_free(&r);
        cJSON *j = cJSON_ParseWithLengthOpts(buf, len, NULL, 0);
        if (j) { /* valid input: valid output */
            cJSON *k = cJSON_ParseWithLengthOpts(whole.out, whole.len, NULL, 0);
            CHECK(k != NULL, "corruption %d: valid input, invalid output", it);
            cJSON_Delete(k);
        }
        cJSON_Delete(j);
        r = t_run(whole.out, whole.len, p, 0, 0);
        CHECK(r.len == whole.len && !memcmp(r.out, whole.out, r.len), "corruption %d: not idempotent", it);
        t_result_free(&r);
        t_result_free(&whole);
    }
}

static void codec(void)
{
    static const char *const esc[] = {"\\n", "\\t", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00",
                                      "\\ud800", "\\udfff", "\\u0001", "\\b", "\\f", "\\r", "a",
                                      "\xc3\xa9", "\xff", " ", "\\u2028", "\xed\xb0\x80"};
    for (int it = 0; it < 5000; it++) {
        sbuf s = {0};
        int n = (int)(rnd() % 12);
        for (int k = 0; k < n; k++) {
            const char *e = esc[rnd() % (sizeof esc / sizeof *esc)];
            sb_add(&s, e, strlen(e));
        }
        sb_add(&s, "", 0);
        rbuf d = {0}, e = {0}, d2 = {0};
        bool lone = false;
        int ok = json_unescape(s.p, s.len, &d, &lone) && json_escape(d.p, d.len, lone, &e) &&
                 json_unescape(e.p, e.len, &d2, NULL);
        /* surrogate escapes and raw surrogate bytes in one string are not
         * told apart (json_escape): such a string may come back changed */
        bool esc_sur = strstr(s.p, "\\ud800") || strstr(s.p, "\\udfff");
        bool raw_sur = strchr(s.p, '\xed') != NULL;
        CHECK(!ok || (esc_sur && raw_sur) ||
                  (d.len == d2.len && (d.len == 0 || !memcmp(d.p, d2.p, d.len))),
              "codec round trip: '%s'", s.p);
        /* raw surrogate bytes stay raw bytes: a string without surrogate
         * escapes gains none */
        bool gained = false;
        for (size_t k = 0; k + 3 < e.len && !gained; k++)
            gained = e.p[k] == '\\' && e.p[k + 1] == 'u' && e.p[k + 2] == 'd' &&
                     strchr("89abcdef", e.p[k + 3]);
        CHECK(ok && (esc_sur || (!lone && !gained)), "codec: surrogates in '%s' changed form", s.p);
        /* cJSON agrees on the value when it is valid UTF-8 */
        if (ok && !strstr(s.p, "\\ud800") && !strstr(s.p, "\\udfff") && !strchr(s.p, '\xff') &&
            !strchr(s.p, '\xed')) {
            sbuf q = {0};
            sb_add(&q, "\"", 1);
            sb_add(&q, e.p, e.len);
            sb_add(&q, "\"", 1);
            cJSON *j = cJSON_ParseWithLengthOpts(q.p, q.len, NULL, 0);
            CHECK(j && cJSON_IsString(j) && strlen(j->valuestring) == d.len &&
                      (d.len == 0 || !memcmp(j->valuestring, d.p, d.len)),
                  "codec: cJSON reads '%s' differently", q.p);
            cJSON_Delete(j);
            free(q.p);
        }
        rbuf_free(&d);
        rbuf_free(&e);
        rbuf_free(&d2);
        free(s.p);
    }
    static const char *const bad[] = {"\\x", "\\u12", "\\u12g4", "a\x01", "tail\\", "\n"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rbuf d = {0};
        CHECK(!json_unescape(bad[k], strlen(bad[k]), &d, NULL), "codec: '%s' accepted", bad[k]);
        rbuf_free(&d);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    codec();
    corpus_docs();
    deep_nesting();
    huge_string();
    corruptions();
    printf("documents %d (identical %d), between-token runaways %d, cut off %d, string runaways %d\n",
           n_docs, n_identity, n_ws, n_trunc, n_str);
    return t_report();
}
