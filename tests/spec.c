/*
 * spec.c - replays the spec files of examples (tests/spec/NAME.txt).
 *
 * A spec file is prose with examples in the cmark style:
 *
 *   ```````````````````````````````` example OPTIONS
 *   input
 *   .
 *   expected output
 *   .
 *   kinds: KIND KIND ...        (or: kinds: none)
 *   ````````````````````````````````
 *
 * OPTIONS are CLI options (--format=, --keep=, --only=, --skip=,
 * --unicode-padding); the token #render-changes marks a repair that may
 * change the rendering (a runaway inside code). In input and output, "→" is a tab, "␍" a CR, "␀" a
 * NUL byte, and a section whose last line ends in "⏎" has no final newline.
 *
 * Each example is checked: whole input; 1-byte feeds with 1-byte output
 * buffers; pseudo-random feeds with 7-byte buffers (same bytes and same
 * findings every time); flag mode (input unchanged, same kinds);
 * idempotence; for text, the rendering of input and output by cmark-gfm
 * when only rendering-neutral kinds fired; and the CLI on the same input.
 */
#include "harness.h"
#include "render.h"

#include <unistd.h>

typedef struct {
    char *name, *opts;
    char *in, *out;
    size_t in_len, out_len;
    char kinds[512];
    int line;
} example;

static t_params params_from(const char *opts, char *cli, size_t cli_size)
{
    t_params p = t_defaults();
    snprintf(cli, cli_size, "%s", opts);
    char *mark = strstr(cli, "#render-changes");
    if (mark)
        memset(mark, ' ', strlen("#render-changes"));
    char buf[512];
    snprintf(buf, sizeof buf, "%s", opts);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        if (!strcmp(tok, "--format=json")) p.format = REPFIX_FORMAT_JSON;
        else if (!strcmp(tok, "--format=jsonl")) p.format = REPFIX_FORMAT_JSONL;
        else if (!strcmp(tok, "--format=text")) p.format = REPFIX_FORMAT_TEXT;
        else if (!strncmp(tok, "--keep=", 7)) p.keep = atoi(tok + 7);
        else if (!strcmp(tok, "--unicode-padding")) p.unicode_padding = 1;
        else if (!strncmp(tok, "--only=", 7) || !strncmp(tok, "--skip=", 7)) {
            int bits = 0;
            char *list = tok + 7;
            for (char *k = strtok_r(list, ",", &list); k; k = strtok_r(NULL, ",", &list)) {
                int id = repfix_kind_from_name(k, strlen(k));
                if (id >= 0) bits |= (int)REPFIX_KIND_BIT(id);
                else if (!strcmp(k, "table")) bits |= 7;
            }
            p.kinds = tok[2] == 'o' ? bits : p.kinds & ~bits;
        }
    }
    return p;
}

static void kinds_of(const t_result *r, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nf && k + 32 < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", i ? " " : "", repfix_kind_name(r->f[i].kind));
    if (r->nf == 0)
        snprintf(buf, size, "none");
}

static const char *repfix_bin;

static void run_cli(const example *e, const char *cli_opts)
{
    char in_path[] = "/tmp/repfix-spec-in-XXXXXX", out_path[] = "/tmp/repfix-spec-out-XXXXXX";
    int fi = mkstemp(in_path), fo = mkstemp(out_path);
    if (fi < 0 || fo < 0)
        return;
    if (write(fi, e->in, e->in_len) != (ssize_t)e->in_len)
        CHECK(0, "cannot write temp file");
    close(fi);
    close(fo);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s", repfix_bin, cli_opts, in_path, out_path);
    int st = system(cmd);
    size_t n;
    char *got = t_read_file(out_path, &n);
    CHECK(st == 0 && got && n == e->out_len && !memcmp(got, e->out, n),
          "%s (line %d): CLI output differs (status %d)", e->name, e->line, st);
    free(got);
    unlink(in_path);
    unlink(out_path);
}

static int neutral_kinds(const t_result *r)
{
    for (size_t i = 0; i < r->nf; i++) {
        repfix_kind k = r->f[i].kind;
        if (k != REPFIX_K_TABLE_SEPARATOR && k != REPFIX_K_TABLE_PADDING &&
            k != REPFIX_K_NEWLINE_RUN && k != REPFIX_K_WHITESPACE_RUN)
            return 0;
    }
    return 1;
}

static void check_example(const example *e)
{
    char cli[512], got_kinds[512];
    t_params p = params_from(e->opts, cli, sizeof cli);
    t_result whole = t_run(e->in, e->in_len, p, 0, 0);
    CHECK(whole.st == REPFIX_OK, "%s (line %d): status %s", e->name, e->line,
          repfix_status_name(whole.st));
    int ok = whole.len == e->out_len && !memcmp(whole.out, e->out, e->out_len);
    CHECK(ok, "%s (line %d): output differs\n--- expected\n%.*s\n--- got\n%.*s\n---", e->name,
          e->line, (int)e->out_len, e->out, (int)whole.len, whole.out);
    kinds_of(&whole, got_kinds, sizeof got_kinds);
    CHECK(!strcmp(got_kinds, e->kinds), "%s (line %d): kinds '%s', expected '%s'", e->name,
          e->line, got_kinds, e->kinds);
    for (size_t i = 0; i < whole.nf; i++)
        CHECK(whole.f[i].start <= whole.f[i].end && whole.f[i].end <= e->in_len &&
                  whole.f[i].out_start <= whole.f[i].out_end && whole.f[i].out_end <= whole.len,
              "%s: finding %zu span out of bounds", e->name, i);

    t_result bytewise = t_run(e->in, e->in_len, p, 1, 1);
    CHECK(t_same(&whole, &bytewise), "%s (line %d): 1-byte feeds differ", e->name, e->line);
    t_result_free(&bytewise);
    for (long seed = 1; seed <= 3; seed++) {
        t_result r = t_run(e->in, e->in_len, p, -seed, 7);
        CHECK(t_same(&whole, &r), "%s (line %d): random chunks (seed %ld) differ", e->name,
              e->line, seed);
        t_result_free(&r);
    }
    t_params fp = p;
    fp.mode = REPFIX_MODE_FLAG;
    t_result flag = t_run(e->in, e->in_len, fp, 0, 0);
    char flag_kinds[512];
    kinds_of(&flag, flag_kinds, sizeof flag_kinds);
    CHECK(flag.len == e->in_len && !memcmp(flag.out, e->in, e->in_len) &&
              !strcmp(flag_kinds, got_kinds),
          "%s (line %d): flag mode changed the input or the findings", e->name, e->line);
    t_result_free(&flag);

    t_result again = t_run(whole.out, whole.len, p, 0, 0);
    CHECK(again.len == whole.len && !memcmp(again.out, whole.out, whole.len),
          "%s (line %d): not idempotent\n--- second pass\n%.*s\n---", e->name, e->line,
          (int)again.len, again.out);
    t_result_free(&again);

    if (p.format == REPFIX_FORMAT_TEXT && neutral_kinds(&whole) && !strstr(e->opts, "--unicode-padding") &&
        !strstr(e->opts, "#render-changes")) {
        char *a = t_render(e->in, e->in_len), *b = t_render(whole.out, whole.len);
        CHECK(a && b && !strcmp(a, b), "%s (line %d): rendering changed\n--- in\n%s\n--- out\n%s",
              e->name, e->line, a ? a : "(null)", b ? b : "(null)");
        free(a);
        free(b);
    }
    run_cli(e, cli);
    t_result_free(&whole);
}

static void run_file(const char *path)
{
    size_t len;
    char *s = t_read_file(path, &len);
    CHECK(s != NULL, "cannot read %s", path);
    if (!s)
        return;
    const char *fence = "````````````````````````````````";
    size_t fl = strlen(fence);
    int line = 1, count = 0;
    char *p = s;
    while (*p) {
        char *eol = strchr(p, '\n');
        if (!eol)
            break;
        if (!strncmp(p, fence, fl) && !strncmp(p + fl, " example", 8)) {
            example e;
            memset(&e, 0, sizeof e);
            e.line = line;
            *eol = '\0';
            e.opts = p + fl + 8;
            while (*e.opts == ' ')
                e.opts++;
            char name[300];
            snprintf(name, sizeof name, "%s:%d", path, line);
            e.name = name;
            char *sec[3];
            size_t sec_len[3];
            char *q = eol + 1;
            line++;
            int ns = 0, bad = 0;
            sec[0] = q;
            while (*q) {
                char *qe = strchr(q, '\n');
                if (!qe) { bad = 1; break; }
                line++;
                if (qe - q == 1 && *q == '.' && ns < 2) {
                    sec_len[ns] = (size_t)(q - sec[ns]);
                    ns++;
                    sec[ns] = qe + 1;
                } else if (!strncmp(q, fence, fl) && ns == 2) {
                    sec_len[2] = (size_t)(q - sec[2]);
                    p = qe + 1;
                    break;
                }
                q = qe + 1;
            }
            if (bad || ns != 2) {
                CHECK(0, "%s: malformed example", name);
                break;
            }
            e.in = t_decode_markers(sec[0], sec_len[0], &e.in_len);
            e.out = t_decode_markers(sec[1], sec_len[1], &e.out_len);
            char *k = sec[2];
            if (!strncmp(k, "kinds:", 6))
                k += 6;
            while (*k == ' ')
                k++;
            size_t kl = strcspn(k, "\n");
            snprintf(e.kinds, sizeof e.kinds, "%.*s", (int)kl, k);
            check_example(&e);
            count++;
            free(e.in);
            free(e.out);
            continue;
        }
        p = eol + 1;
        line++;
    }
    CHECK(count > 0, "%s: no examples", path);
    free(s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: spec REPFIX_BINARY SPEC_FILE...\n");
        return 2;
    }
    repfix_bin = argv[1];
    for (int i = 2; i < argc; i++)
        run_file(argv[i]);
    return t_report();
}
