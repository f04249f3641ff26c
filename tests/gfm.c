/*
 * gfm.c - the table detectors against the GFM spec's and cmark-gfm's own
 * table examples (tests/gfm/, a copy of the cmark-gfm 0.29.0.gfm.6 expected
 * HTML; see tests/gfm/README.md).
 *
 * For each example NAME.md with its NAME.html:
 *  1. repfix's output is the input with only the delimiter rows' hyphen
 *     runs longer than 3 shortened to `---` - except in an aligned table,
 *     whose delimiter row is exactly as wide as its header, cell by cell -
 *     so examples with nothing to repair come out unchanged; in fix mode,
 *     1-byte feeds and flag mode;
 *  2. cmark-gfm of that output equals NAME.html byte for byte (spec/: `-e
 *     table`; extensions/: `--unsafe` and all five extensions);
 *  3. a stretched variant - every padding region next to a pipe widened to
 *     30 spaces and every delimiter hyphen run to 40+ hyphens, each line
 *     only where cmark-gfm's HTML stays byte-identical (which is how the
 *     test, independently of repfix, finds table rows) - comes out as the
 *     canonical form: the original with each stretched padding region one
 *     space and each delimiter run `---`. Where the original already is
 *     canonical (one space, three hyphens), that is the original itself; a
 *     `:-:` or `|x|` cannot be recovered from 40 hyphens or 30 spaces, so
 *     the canonical form is the nearest thing to "the same output";
 *  4. the canonical form is a fixed point and renders as NAME.html;
 *  5. the same with every line ending turned into CRLF.
 */
#include "harness.h"

#include <dirent.h>
#include <unistd.h>
#include <utf8proc.h>

#define PAD 30
#define HYPHENS 40

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void b_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void b_rep(buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_add(b, &c, 1);
}

/* cmark-gfm's HTML of src with the given options; malloc'd, NUL-ended. */
static char *cmark(const char *src, size_t len, const char *opts)
{
    char path[] = "/tmp/repfix-gfm-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, src, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        return NULL;
    }
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cmark-gfm %s %s", opts, path);
    FILE *f = popen(cmd, "r");
    buf out = {0};
    b_add(&out, "", 0);
    char tmp[4096];
    size_t r;
    while (f && (r = fread(tmp, 1, sizeof tmp, f)) > 0)
        b_add(&out, tmp, r);
    if (f)
        pclose(f);
    unlink(path);
    return out.p;
}

static int same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* A pipe that splits cells: not escaped by a backslash. */
static int split_pipe(const char *p, size_t i, size_t start)
{
    return p[i] == '|' && !(i > start && p[i - 1] == '\\');
}

/* A line that looks like a delimiter row with pipes or colons (a line of
 * hyphens alone is a setext underline or a thematic break). */
static int delimiter_like(const char *p, size_t n)
{
    int hy = 0, mark = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '-')
            hy = 1;
        else if (p[i] == '|' || p[i] == ':')
            mark = 1;
        else if (p[i] != ' ' && p[i] != '\t')
            return 0;
    }
    return hy && mark;
}

/*
 * Writes the stretched (wide != 0) or canonical form of one line:
 * pad != 0 rewrites the padding regions next to pipes (PAD spaces, or
 * one), hy != 0 the hyphen runs of a delimiter-like line (40+ hyphens,
 * or 3).
 */
static void shape_line(buf *o, const char *p, size_t n, int pad, int hy, int wide)
{
    size_t start = 0;
    while (start < n && (p[start] == ' ' || p[start] == '\t' || p[start] == '>'))
        start++;
    b_add(o, p, start); /* indentation and quote markers stay */
    int first_pipe = 1;
    for (size_t i = start; i < n;) {
        if (pad && split_pipe(p, i, start)) {
            /* the region before this pipe (unless it is the leading one) */
            if (!(first_pipe && i == start)) {
                size_t k = o->len;
                while (k > 0 && (o->p[k - 1] == ' ' || o->p[k - 1] == '\t'))
                    k--;
                /* keep what the region follows: only whitespace is replaced */
                if (k >= start) {
                    o->len = k;
                    b_rep(o, ' ', wide ? PAD : 1);
                }
            }
            first_pipe = 0;
            b_add(o, "|", 1);
            size_t j = i + 1;
            while (j < n && (p[j] == ' ' || p[j] == '\t'))
                j++;
            if (!(j < n && split_pipe(p, j, start)))
                b_rep(o, ' ', wide ? PAD : 1);
            i = j;
            continue;
        }
        if (hy && p[i] == '-') {
            size_t j = i;
            while (j < n && p[j] == '-')
                j++;
            b_rep(o, '-', wide ? HYPHENS + (j - i) : 3);
            i = j;
            continue;
        }
        b_add(o, p + i, 1);
        i++;
    }
}

/* Display widths of the cells of a row (pipe to pipe) into w; the count. */
static size_t cell_widths(const char *p, size_t n, size_t *w, size_t max)
{
    size_t i = 0, k = 0, col = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == '|')
        i++;
    while (i < n && k < max) {
        if (split_pipe(p, i, 0)) {
            w[k++] = col;
            col = 0;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)p + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        col += l > 0 ? (size_t)utf8proc_charwidth(cp) : 1;
        i += l > 0 ? (size_t)l : 1;
    }
    if (col > 0 && k < max)
        w[k++] = col;
    return k;
}

/* A delimiter row exactly as wide, cell by cell, as the line above it: an
 * aligned table, which repfix leaves as it is. */
static int aligned_under(const char *prev, size_t pn, const char *d, size_t dn)
{
    size_t a[64], b[64];
    size_t na = cell_widths(prev, pn, a, 64), nb = cell_widths(d, dn, b, 64);
    return na == nb && na > 0 && !memcmp(a, b, na * sizeof *a);
}

typedef struct {
    const char *name, *opts;
    char *md, *html;
    size_t md_len;
} example;

static t_result fix(const char *s, size_t n, long chunk, int mode)
{
    t_params p = t_defaults();
    p.mode = mode;
    return t_run(s, n, p, chunk, chunk > 0 ? 1 : 0);
}

/* Checks: out == want for whole input and 1-byte feeds; flag mode is the
 * identity; cmark-gfm renders `want` as the example's HTML. */
static void check_fix(const example *e, const char *what, const char *in, size_t in_len,
                      const char *want, size_t want_len, const char *html)
{
    t_result r = fix(in, in_len, 0, REPFIX_MODE_FIX);
    CHECK(r.st == REPFIX_OK && same(r.out, r.len, want, want_len),
          "%s %s: output differs\n--- input\n%s--- expected\n%s--- got\n%s---", e->name, what,
          in, want, r.out);
    t_result b = fix(in, in_len, 1, REPFIX_MODE_FIX);
    CHECK(t_same(&r, &b), "%s %s: 1-byte feeds differ", e->name, what);
    t_result f = fix(in, in_len, 0, REPFIX_MODE_FLAG);
    CHECK(same(f.out, f.len, in, in_len) && f.nf == r.nf, "%s %s: flag mode", e->name, what);
    char *h = cmark(r.out, r.len, e->opts);
    CHECK(h && !strcmp(h, html), "%s %s: HTML differs\n--- expected\n%s--- got\n%s---", e->name,
          what, html, h ? h : "(null)");
    free(h);
    t_result_free(&r);
    t_result_free(&b);
    t_result_free(&f);
}

static void to_crlf(const buf *in, buf *out)
{
    for (size_t i = 0; i < in->len; i++) {
        if (in->p[i] == '\n')
            b_add(out, "\r", 1);
        b_add(out, in->p + i, 1);
    }
}

static void run_example(const example *e)
{
    /* the expected output of the original, the stretched and canonical forms */
    buf want = {0}, wide = {0}, canon = {0};
    b_add(&want, "", 0);
    b_add(&wide, "", 0);
    b_add(&canon, "", 0);
    const char *p = e->md;
    size_t n = e->md_len;
    int stretched = 0;
    const char *prev = "";
    size_t prev_len = 0;
    for (size_t ls = 0; ls < n;) {
        const char *nl = memchr(p + ls, '\n', n - ls);
        size_t le = nl ? (size_t)(nl - p) : n, next = nl ? le + 1 : n;
        const char *line = p + ls;
        size_t ll = le - ls;
        int dl = delimiter_like(line, ll);
        /* try both, padding alone, hyphens alone: keep the first that leaves
         * the HTML byte-identical */
        int tries[3][2] = {{1, 1}, {1, 0}, {0, 1}}, ok = -1;
        for (int t = 0; t < 3 && ok < 0; t++) {
            if (tries[t][1] && !dl)
                continue;
            buf trial = {0};
            b_add(&trial, wide.p, wide.len);
            shape_line(&trial, line, ll, tries[t][0], tries[t][1], 1);
            int changed = !same(trial.p + wide.len, trial.len - wide.len, line, ll);
            b_add(&trial, p + le, n - le);
            char *h = changed ? cmark(trial.p, trial.len, e->opts) : NULL;
            if (h && !strcmp(h, e->html))
                ok = t;
            free(h);
            free(trial.p);
        }
        if (ok >= 0) {
            shape_line(&wide, line, ll, tries[ok][0], tries[ok][1], 1);
            shape_line(&canon, line, ll, tries[ok][0], tries[ok][1], 0);
            stretched++;
        } else {
            b_add(&wide, line, ll);
            b_add(&canon, line, ll);
        }
        /* the expected repair of the original: long delimiter runs only,
         * unless the delimiter row is aligned with its header */
        if (ok >= 0 && tries[ok][1] && !aligned_under(prev, prev_len, line, ll)) {
            for (size_t i = 0; i < ll;) {
                size_t j = i;
                while (j < ll && line[j] == '-')
                    j++;
                if (j - i > 3) {
                    b_add(&want, "---", 3);
                    i = j;
                } else if (j > i) {
                    b_add(&want, line + i, j - i);
                    i = j;
                } else {
                    b_add(&want, line + i, 1);
                    i++;
                }
            }
        } else {
            b_add(&want, line, ll);
        }
        b_add(&want, p + le, next - le);
        b_add(&wide, p + le, next - le);
        b_add(&canon, p + le, next - le);
        prev = line;
        prev_len = ll;
        ls = next;
    }
    if (getenv("GFM_DEBUG"))
        fprintf(stderr, "%s: %d lines stretched\n%s", e->name, stretched, wide.p);
    CHECK((stretched > 0) == (strstr(e->html, "<table") != NULL),
          "%s: %d lines stretched, but the example %s a table", e->name, stretched,
          strstr(e->html, "<table") ? "has" : "has no");
    check_fix(e, "original", e->md, e->md_len, want.p, want.len, e->html);
    check_fix(e, "stretched", wide.p, wide.len, canon.p, canon.len, e->html);
    check_fix(e, "canonical", canon.p, canon.len, canon.p, canon.len, e->html);
    /* CRLF: the same repairs, every CR kept */
    buf in2 = {0}, want2 = {0}, wide2 = {0}, canon2 = {0};
    b_add(&in2, "", 0);
    b_add(&want2, "", 0);
    b_add(&wide2, "", 0);
    b_add(&canon2, "", 0);
    buf orig = {e->md, e->md_len, 0};
    to_crlf(&orig, &in2);
    to_crlf(&want, &want2);
    to_crlf(&wide, &wide2);
    to_crlf(&canon, &canon2);
    check_fix(e, "original CRLF", in2.p, in2.len, want2.p, want2.len, e->html);
    check_fix(e, "stretched CRLF", wide2.p, wide2.len, canon2.p, canon2.len, e->html);
    free(in2.p);
    free(want2.p);
    free(wide2.p);
    free(canon2.p);
    free(want.p);
    free(wide.p);
    free(canon.p);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir, const char *opts)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s (run from the repository root)", dir);
    if (!d)
        return;
    char *names[256];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 256) {
        size_t l = strlen(de->d_name);
        if (l > 3 && !strcmp(de->d_name + l - 3, ".md"))
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, by_name);
    CHECK(nn > 0, "%s: no examples", dir);
    for (size_t i = 0; i < nn; i++) {
        char md_path[512], html_path[512], name[300];
        snprintf(md_path, sizeof md_path, "%s/%s", dir, names[i]);
        snprintf(html_path, sizeof html_path, "%s/%.*s.html", dir,
                 (int)(strlen(names[i]) - 3), names[i]);
        snprintf(name, sizeof name, "%s/%s", dir, names[i]);
        size_t hl;
        example e = {name, opts, NULL, NULL, 0};
        e.md = t_read_file(md_path, &e.md_len);
        e.html = t_read_file(html_path, &hl);
        CHECK(e.md && e.html, "%s: cannot read example", name);
        if (e.md && e.html) {
            char *h = cmark(e.md, e.md_len, opts);
            CHECK(h && !strcmp(h, e.html), "%s: cmark-gfm does not give the expected HTML", name);
            free(h);
            run_example(&e);
        }
        free(e.md);
        free(e.html);
        free(names[i]);
    }
}

int main(void)
{
    run_dir("tests/gfm/spec", "-e table");
    run_dir("tests/gfm/extensions",
            "--unsafe -e table -e strikethrough -e autolink -e tagfilter -e tasklist");
    return t_report();
}
