/*
 * loops.c - evaluation of the loop detector (`repeat`) on clean documents.
 *
 * For every clean document (the files of corpora/clean, or the files and directories
 * given after the repfix path) it checks:
 *  - false positives: the document through repfix with every kind equals
 *    the document through repfix without `repeat`, and no repeat finding;
 *  - detection: loops injected at line, paragraph, sentence and word scale
 *    in the middle, and at line, paragraph and sentence scale at the end of
 *    input (the model hit its limit, a partial copy may follow), plus
 *    near-duplicate runs with a counter ("Step N: <line>", 32..40 copies
 *    mid text, 4..12 and a cut-off copy at the end): the output of the
 *    injected document must equal the output of the document without the
 *    loop (for counters: with its first copy);
 *  - chunking invariance (random feeds) and idempotence on the injected
 *    documents.
 * Injection sizes follow the documented thresholds: lines in code, HTML
 * blocks and tables get >= 16 copies; short periods >= 16 copies over
 * >= 64 bytes. The pass line needs detection >= 95% (exact loops and
 * near-duplicates separately) and 0 false positives.
 * Usage: loops REPFIX [-v|-vv] [FILE|DIR...] (-vv dumps misses to /tmp)
 */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>

static int verbose;

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static size_t rndr(size_t lo, size_t hi) { return lo + (size_t)(rnd() % (hi - lo + 1)); }

/* ---- documents as lines with a rough block context ------------------- */

typedef struct {
    size_t start, len; /* with the line end */
    int strict;        /* code, HTML, table or indented */
    int blank;
} line_info;

static size_t split_lines(const char *d, size_t n, line_info **out)
{
    size_t cap = 64, k = 0;
    line_info *L = malloc(cap * sizeof *L);
    int fence = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(d + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - d) + 1 : n;
        if (k == cap)
            L = realloc(L, (cap *= 2) * sizeof *L);
        const char *s = d + i;
        size_t len = e - i;
        int blank = 1;
        for (size_t j = 0; j < len; j++)
            if (s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r')
                blank = 0;
        size_t ws = 0;
        while (ws < len && (s[ws] == ' ' || s[ws] == '\t'))
            ws++;
        int is_fence = len - ws >= 3 && (!strncmp(s + ws, "```", 3) || !strncmp(s + ws, "~~~", 3));
        int strict = fence || is_fence || ws >= 4 || (ws < len && (s[ws] == '|' || s[ws] == '<')) ||
                     memchr(s, '|', len) != NULL; /* tables without outer pipes */
        if (is_fence)
            fence = !fence;
        L[k++] = (line_info){i, len, strict, blank};
        i = e;
    }
    *out = L;
    return k;
}

static int is_letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* Copies a short line needs mid text (documented): 5 for list items and
 * dated lines, 8 for indented lines, else 3. */
static size_t line_min(const line_info *l, const char *s)
{
    unsigned char u = (unsigned char)s[0];
    if (l->len >= 80)
        return 3;
    if (u == ' ' || u == '\t')
        return 8;
    return u == '-' || u == '*' || u == '+' || (u >= '0' && u <= '9') ? 5 : 3;
}

/* ---- running repfix --------------------------------------------------- */

static t_params params_all(void) { return t_defaults(); }
static t_params params_norep(void)
{
    t_params p = t_defaults();
    p.kinds &= ~(int)REPFIX_KIND_BIT(REPFIX_K_REPEAT);
    return p;
}

static int has_repeat(const t_result *r)
{
    for (size_t i = 0; i < r->nf; i++)
        if (r->f[i].kind == REPFIX_K_REPEAT)
            return 1;
    return 0;
}

/* ---- the evaluation --------------------------------------------------- */

enum { SC_LINE, SC_PARA, SC_SENT, SC_WORD, SC_END_LINE, SC_END_PARA, SC_END_SENT, SC_COUNTER,
       SC_END_COUNTER, SC_N };
static const char *const sc_name[SC_N] = {"line",     "paragraph", "sentence",     "word",
                                          "end-line", "end-para",  "end-sentence", "counter",
                                          "end-counter"};
static int tried[SC_N], found[SC_N], fp_docs, docs, chunk_fail, idem_fail;

/* Builds (injected, original) for scale sc; returns 0 when the document has
 * no place for it. */
static int make_case(const char *d, size_t n, const line_info *L, size_t nl, int sc, sbuf *inj,
                     sbuf *orig)
{
    inj->n = orig->n = 0;
    for (int attempt = 0; attempt < 50; attempt++) {
        size_t li = rndr(0, nl - 1);
        const line_info *l = &L[li];
        const char *s = d + l->start;
        if (l->blank || l->len < 4)
            continue;
        int prose = !l->strict && is_letter((unsigned char)s[0]);
        switch (sc) {
        case SC_LINE: {
            /* a line already repeated in the original is ambiguous: skip */
            if (s[l->len - 1] != '\n' ||
                (li > 0 && L[li - 1].len == l->len && !memcmp(d + L[li - 1].start, s, l->len)) ||
                (li + 1 < nl && L[li + 1].len == l->len && !memcmp(d + L[li + 1].start, s, l->len)))
                continue;
            size_t c = (l->strict || l->len < 24) ? rndr(16, 24) : rndr(line_min(l, s), 10);
            if (c * l->len < 64)
                c = 64 / l->len + 1;
            sb_add(inj, d, l->start);
            for (size_t k = 0; k < c; k++)
                sb_add(inj, s, l->len);
            sb_add(inj, s + l->len, n - l->start - l->len);
            sb_add(orig, d, n);
            return 1;
        }
        case SC_PARA:
        case SC_END_PARA: {
            if (!prose || (li > 0 && !L[li - 1].blank))
                continue;
            size_t e = li;
            while (e < nl && !L[e].blank && !L[e].strict)
                e++;
            if (e >= nl || e == li)
                continue;
            size_t ps = l->start, pe = L[e].start + L[e].len; /* with one blank line */
            if (sc == SC_PARA) {
                size_t c = rndr(3, 6);
                sb_add(inj, d, ps);
                for (size_t k = 0; k < c; k++)
                    sb_add(inj, d + ps, pe - ps);
                sb_add(inj, d + pe, n - pe);
                sb_add(orig, d, n);
            } else {
                size_t c = rndr(3, 8), part = rndr(0, pe - ps - 1);
                sb_add(orig, d, pe);
                sb_add(inj, d, ps);
                for (size_t k = 0; k < c; k++)
                    sb_add(inj, d + ps, pe - ps);
                sb_add(inj, d + ps, part);
            }
            return 1;
        }
        case SC_SENT:
        case SC_END_SENT: {
            if (!prose)
                continue;
            /* sentence boundaries: after ". " (or the CJK full stop) */
            size_t b[64], nb = 0;
            b[nb++] = 0;
            for (size_t j = 0; j + 1 < l->len && nb < 64; j++) {
                if ((s[j] == '.' || s[j] == '!' || s[j] == '?') && s[j + 1] == ' ')
                    b[nb++] = j + 2;
                else if (j + 3 < l->len && !memcmp(s + j, "\xE3\x80\x82", 3))
                    b[nb++] = j + 3;
            }
            if (nb < 2)
                continue;
            size_t k = rndr(0, nb - 2);
            size_t xs = l->start + b[k], xe = l->start + b[k + 1];
            size_t len = xe - xs;
            if (len < 4)
                continue;
            if (sc == SC_SENT) {
                size_t c = len < 24 ? rndr(16, 24) : rndr(3, 10);
                if (c * len < 64)
                    c = 64 / len + 1;
                sb_add(inj, d, xs);
                for (size_t j = 0; j < c; j++)
                    sb_add(inj, d + xs, len);
                sb_add(inj, d + xe, n - xe);
                sb_add(orig, d, n);
            } else {
                size_t c = len < 24 ? rndr(16, 24) : rndr(3, 10), part = rndr(0, len - 1);
                if (c * len < 64)
                    c = 64 / len + 1;
                sb_add(orig, d, xe);
                sb_add(inj, d, xs);
                for (size_t j = 0; j < c; j++)
                    sb_add(inj, d + xs, len);
                sb_add(inj, d + xs, part);
            }
            return 1;
        }
        case SC_WORD: {
            if (!prose)
                continue;
            size_t j = rndr(0, l->len - 1);
            while (j > 0 && s[j - 1] != ' ')
                j--;
            size_t e = j;
            while (e < l->len && is_letter((unsigned char)s[e]))
                e++;
            if (e == j || e >= l->len || s[e] != ' ')
                continue;
            size_t len = e + 1 - j;
            size_t c = rndr(64 / len + 16, 64 / len + 40);
            sb_add(inj, d, l->start + j);
            for (size_t k = 0; k < c; k++)
                sb_add(inj, s + j, len);
            sb_add(inj, s + e + 1, n - l->start - e - 1);
            sb_add(orig, d, n);
            return 1;
        }
        case SC_END_LINE: {
            if (s[l->len - 1] != '\n')
                continue;
            size_t c = (l->strict || l->len < 24) ? rndr(16, 24) : rndr(3, 10);
            if (c * l->len < 64)
                c = 64 / l->len + 1;
            size_t part = rndr(0, l->len - 1);
            sb_add(orig, d, l->start + l->len);
            sb_add(inj, d, l->start);
            for (size_t k = 0; k < c; k++)
                sb_add(inj, s, l->len);
            sb_add(inj, s, part);
            return 1;
        }
        case SC_COUNTER:
        case SC_END_COUNTER: {
            if (!prose || s[l->len - 1] != '\n' || l->len > 200)
                continue;
            /* "Step N: <line>" numbered from 2 after the line: 32..40 copies
             * mid text, or 4..12 copies and a copy cut in its middle at the
             * end (the token limit); the first copy stays */
            size_t c = sc == SC_COUNTER ? rndr(32, 40) : rndr(4, 12);
            char num[32];
            sb_add(inj, d, l->start + l->len);
            sb_add(orig, d, l->start + l->len);
            sb_add(orig, "Step 2: ", 8);
            sb_add(orig, s, l->len);
            for (size_t k = 0; k < c; k++) {
                int m = snprintf(num, sizeof num, "Step %zu: ", k + 2);
                sb_add(inj, num, (size_t)m);
                sb_add(inj, s, l->len);
            }
            if (sc == SC_COUNTER) {
                sb_add(inj, d + l->start + l->len, n - l->start - l->len);
                sb_add(orig, d + l->start + l->len, n - l->start - l->len);
            } else {
                int m = snprintf(num, sizeof num, "Step %zu: ", c + 2);
                sb_add(inj, num, (size_t)m);
                sb_add(inj, s, rndr(1, (l->len - 1) / 2));
            }
            return 1;
        }
        }
    }
    return 0;
}

static void eval_doc(const char *name, const char *d, size_t n)
{
    docs++;
    t_result all = t_run(d, n, params_all(), 0, 0), norep = t_run(d, n, params_norep(), 0, 0);
    int fp = has_repeat(&all) || all.len != norep.len || memcmp(all.out, norep.out, all.len);
    if (fp) {
        fp_docs++;
        fprintf(stderr, "false positive: %s\n", name);
        for (size_t i = 0; i < all.nf; i++)
            if (all.f[i].kind == REPFIX_K_REPEAT)
                fprintf(stderr, "  at %llu..%llu period %llu copies %llu: %.*s\n",
                        (unsigned long long)all.f[i].start, (unsigned long long)all.f[i].end,
                        (unsigned long long)all.f[i].period, (unsigned long long)all.f[i].copies,
                        (int)(all.f[i].period < 80 ? all.f[i].period : 80), d + all.f[i].start);
    }
    t_result_free(&all);
    t_result_free(&norep);

    line_info *L;
    size_t nl = split_lines(d, n, &L);
    sbuf inj = {0}, orig = {0};
    for (int sc = 0; sc < SC_N && nl > 0; sc++) {
        for (int trial = 0; trial < 6; trial++) {
            if (!make_case(d, n, L, nl, sc, &inj, &orig))
                break;
            tried[sc]++;
            t_result a = t_run(inj.p, inj.n, params_all(), 0, 0);
            t_result b = t_run(orig.p, orig.n, params_all(), 0, 0);
            int ok = a.len == b.len && !memcmp(a.out, b.out, a.len) && has_repeat(&a);
            found[sc] += ok;
            if (!ok && verbose > 1) {
                static int dumped;
                char path[64];
                snprintf(path, sizeof path, "/tmp/loops-miss-%d-%s.inj", dumped, sc_name[sc]);
                FILE *fo = fopen(path, "wb");
                if (fo) { fwrite(inj.p, 1, inj.n, fo); fclose(fo); }
                snprintf(path, sizeof path, "/tmp/loops-miss-%d-%s.orig", dumped++, sc_name[sc]);
                fo = fopen(path, "wb");
                if (fo) { fwrite(orig.p, 1, orig.n, fo); fclose(fo); }
            }
            if (!ok && verbose) {
                size_t i = 0;
                while (i < a.len && i < b.len && a.out[i] == b.out[i])
                    i++;
                size_t from = i > 60 ? i - 60 : 0;
                fprintf(stderr, "MISS %s %s: out %zu vs %zu, differs at %zu\n--- got\n%.*s\n--- want\n%.*s\n---\n",
                        sc_name[sc], name, a.len, b.len, i, (int)(a.len - from < 300 ? a.len - from : 300),
                        a.out + from, (int)(b.len - from < 300 ? b.len - from : 300), b.out + from);
            }
            t_result c = t_run(inj.p, inj.n, params_all(), -(long)(trial + 1), 0);
            if (!t_same(&a, &c)) {
                chunk_fail++;
                fprintf(stderr, "chunking differs: %s scale %s trial %d\n", name, sc_name[sc], trial);
            }
            t_result again = t_run(a.out, a.len, params_all(), 0, 0);
            if (again.len != a.len || memcmp(again.out, a.out, a.len)) {
                idem_fail++;
                fprintf(stderr, "not idempotent: %s scale %s trial %d\n", name, sc_name[sc], trial);
            }
            t_result_free(&a);
            t_result_free(&b);
            t_result_free(&c);
            t_result_free(&again);
        }
    }
    free(inj.p);
    free(orig.p);
    free(L);
}

static void eval_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (!dir)
            return;
        struct dirent *de;
        char **names = NULL;
        size_t k = 0;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            names = realloc(names, (k + 1) * sizeof *names);
            size_t m = strlen(path) + strlen(de->d_name) + 2;
            names[k] = malloc(m);
            snprintf(names[k++], m, "%s/%s", path, de->d_name);
        }
        closedir(dir);
        for (size_t i = 0; i < k; i++) /* readdir order is not stable: sort */
            for (size_t j = i + 1; j < k; j++)
                if (strcmp(names[i], names[j]) > 0) {
                    char *t = names[i];
                    names[i] = names[j];
                    names[j] = t;
                }
        for (size_t i = 0; i < k; i++) {
            eval_path(names[i]);
            free(names[i]);
        }
        free(names);
        return;
    }
    size_t n;
    char *d = t_read_file(path, &n);
    if (!d)
        return;
    eval_doc(path, d, n);
    free(d);
}

int main(int argc, char **argv)
{
    int first = 2;
    if (argc > 2 && !strcmp(argv[2], "-v")) {
        verbose = 1;
        first = 3;
    } else if (argc > 2 && !strcmp(argv[2], "-vv")) {
        verbose = 2;
        first = 3;
    }
    if (argc > first)
        for (int i = first; i < argc; i++)
            eval_path(argv[i]);
    else
        eval_path("corpora/clean");
    int t = 0, f = 0, t_exact = 0, f_exact = 0;
    for (int sc = 0; sc < SC_N; sc++) {
        printf("  %-13s %4d/%-4d detected\n", sc_name[sc], found[sc], tried[sc]);
        t += tried[sc];
        f += found[sc];
        if (sc != SC_COUNTER && sc != SC_END_COUNTER) {
            t_exact += tried[sc];
            f_exact += found[sc];
        }
    }
    int t_near = t - t_exact, f_near = f - f_exact;
    double rate = t_exact ? 100.0 * f_exact / t_exact : 0;
    double near_rate = t_near ? 100.0 * f_near / t_near : 100.0;
    printf("loops: %d documents, exact loops detected %d/%d (%.1f%%), near-duplicate %d/%d "
           "(%.1f%%), all %d/%d, false positives %d, chunking %d, idempotence %d\n",
           docs, f_exact, t_exact, rate, f_near, t_near, near_rate, f, t, fp_docs, chunk_fail,
           idem_fail);
    CHECK(docs > 0, "no documents");
    CHECK(rate >= 95.0, "detection %.1f%% < 95%%", rate);
    CHECK(near_rate >= 95.0, "near-duplicate detection %.1f%% < 95%%", near_rate);
    CHECK(fp_docs == 0, "%d documents with false positives", fp_docs);
    CHECK(chunk_fail == 0, "chunking invariance failed %d times", chunk_fail);
    CHECK(idem_fail == 0, "idempotence failed %d times", idem_fail);
    return t_report();
}
