/*
 * corpus.c - the contract's invariants over corpora/.
 *
 * corpora/clean: real-looking text with no defect. Each must come out
 * byte-identical with no finding, whole and in random chunks.
 * corpora/defective/NAME.in: must come out as NAME.expected, with exactly
 * the kinds of NAME.kinds (as a set; "none" for look-alikes), the same for
 * any chunking, idempotent, and, when only rendering-neutral kinds fired,
 * rendered by cmark-gfm exactly as the input.
 */
#include "harness.h"
#include "render.h"

#include <dirent.h>

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int format_of(const char *name)
{
    if (has_suffix(name, ".jsonl") || has_suffix(name, ".jsonl.in"))
        return REPFIX_FORMAT_JSONL;
    if (has_suffix(name, ".json") || has_suffix(name, ".json.in"))
        return REPFIX_FORMAT_JSON;
    return REPFIX_FORMAT_TEXT;
}

static void check_chunks(const char *name, const char *src, size_t len, t_params p,
                         const t_result *whole)
{
    for (long seed = 1; seed <= 2; seed++) {
        t_result r = t_run(src, len, p, -seed, 13);
        CHECK(t_same(whole, &r), "%s: random chunks (seed %ld) differ", name, seed);
        t_result_free(&r);
    }
    t_result r = t_run(src, len, p, 4093, 1 << 20);
    CHECK(t_same(whole, &r), "%s: 4093-byte chunks differ", name);
    t_result_free(&r);
}

static void clean_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *src = t_read_file(path, &len);
    if (!src)
        return;
    t_params p = t_defaults();
    p.format = format_of(name);
    t_result r = t_run(src, len, p, 0, 0);
    CHECK(r.st == REPFIX_OK && r.len == len && !memcmp(r.out, src, len),
          "clean %s: output differs from input", name);
    for (size_t i = 0; i < r.nf; i++)
        CHECK(0, "clean %s: false positive %s at %llu-%llu (line %llu)", name,
              repfix_kind_name(r.f[i].kind), (unsigned long long)r.f[i].start,
              (unsigned long long)r.f[i].end, (unsigned long long)r.f[i].line);
    if (r.nf == 0)
        CHECK(1, "no findings");
    check_chunks(name, src, len, p, &r);
    t_result_free(&r);
    free(src);
}

static void defective_file(const char *dir, const char *name)
{
    char path[1100], base[1024];
    size_t blen = strlen(name) - 3; /* without .in */
    snprintf(base, sizeof base, "%s/%.*s", dir, (int)blen, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0, elen = 0, klen = 0;
    char *src = t_read_file(path, &len);
    snprintf(path, sizeof path, "%s.expected", base);
    char *exp = t_read_file(path, &elen);
    snprintf(path, sizeof path, "%s.kinds", base);
    char *kinds = t_read_file(path, &klen);
    CHECK(src && exp && kinds, "%s: missing .expected or .kinds", base);
    if (!src || !exp || !kinds)
        goto out;
    t_params p = t_defaults();
    p.format = format_of(name);
    t_result r = t_run(src, len, p, 0, 0);
    CHECK(r.st == REPFIX_OK && r.len == elen && !memcmp(r.out, exp, elen),
          "%s: output differs from .expected\n--- got\n%.*s\n---", base, (int)r.len, r.out);
    /* kinds as a set */
    unsigned want = 0, got = 0;
    for (char *k = strtok(kinds, " \n"); k; k = strtok(NULL, " \n")) {
        int id = repfix_kind_from_name(k, strlen(k));
        CHECK(id >= 0 || !strcmp(k, "none"), "%s: unknown kind '%s' in .kinds", base, k);
        if (id >= 0)
            want |= 1u << id;
    }
    for (size_t i = 0; i < r.nf; i++)
        got |= 1u << r.f[i].kind;
    CHECK(want == got, "%s: kinds found 0x%x, expected 0x%x", base, got, want);
    check_chunks(name, src, len, p, &r);
    t_result again = t_run(r.out, r.len, p, 0, 0);
    CHECK(again.len == r.len && !memcmp(again.out, r.out, r.len), "%s: not idempotent", base);
    t_result_free(&again);
    unsigned neutral = (1u << REPFIX_K_TABLE_SEPARATOR) | (1u << REPFIX_K_TABLE_PADDING) |
                       (1u << REPFIX_K_NEWLINE_RUN) | (1u << REPFIX_K_WHITESPACE_RUN);
    if (p.format == REPFIX_FORMAT_TEXT && (got & ~neutral) == 0) {
        char *a = t_render(src, len), *b = t_render(r.out, r.len);
        CHECK(a && b && !strcmp(a, b), "%s: rendering changed", base);
        free(a);
        free(b);
    }
    t_result_free(&r);
out:
    free(src);
    free(exp);
    free(kinds);
}

static void each(const char *dir, const char *suffix, void (*fn)(const char *, const char *))
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s (run from the repository root)", dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (!suffix || has_suffix(e->d_name, suffix)) &&
            strcmp(e->d_name, "README.md"))
            fn(dir, e->d_name);
    closedir(d);
}

int main(void)
{
    each("corpora/clean", NULL, clean_file);
    each("corpora/defective", ".in", defective_file);
    return t_report();
}
