/*
 * fuzz_replay.c - the fuzz oracles (fuzz/oracle.h) over every saved input,
 * without libFuzzer: part of `make test`, run from the repository root.
 *
 * Replays the files of fuzz/corpus/TARGET/ (what `make fuzz` kept), of
 * fuzz/regress/TARGET/ (reproducers of bugs found), the inputs of the spec
 * examples (tests/spec/NAME.txt, in the format their options name) and the
 * sample corpora (corpora/SET/, format from the file name). A reproducer of a
 * bug that is still open is listed in fuzz/regress/OPEN ("target/name
 * reason"): its failure is reported as XFAIL and not counted, and it is
 * reported as XPASS once it passes, so the list can shrink.
 *
 * `fuzz_replay --dump-seeds DIR` writes the spec inputs and the corpora to
 * DIR/TARGET/seed-NAME instead: the seed corpus of `make fuzz`.
 * `fuzz_replay --show TARGET FILE` checks one file (a crash from
 * `make fuzz`, say) and prints its findings and output.
 */
#include "harness.h"
#include "../fuzz/oracle.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const targets[] = {"text", "json", "jsonl"};
static const char *dump_dir;
static char open_list[8192];
static int n_inputs, n_xfail;
static const char *current = "(none)"; /* the input being checked */

/* A hang is a failure too: no input may take a minute. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL fuzz_replay: timed out (a hang?) on ";
    (void)!write(2, m, sizeof m - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
    _exit(1);
}

static int format_of_target(const char *t)
{
    return !strcmp(t, "json") ? REPFIX_FORMAT_JSON
           : !strcmp(t, "jsonl") ? REPFIX_FORMAT_JSONL : REPFIX_FORMAT_TEXT;
}

static const char *target_of_format(int format)
{
    return targets[format];
}

/* Listed in fuzz/regress/OPEN: "target/name" at the start of a line. */
static int is_open(const char *key)
{
    size_t k = strlen(key);
    for (const char *p = open_list; *p;) {
        if (!strncmp(p, key, k) && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || !p[k]))
            return 1;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return 0;
}

static void dump(const char *name, const char *data, size_t len, int format)
{
    if (len >= 65536)
        return;
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/%s", dump_dir, target_of_format(format));
    mkdir(dump_dir, 0777);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/seed-%s", dir, name);
    for (char *c = path + strlen(dir) + 1; *c; c++)
        if (*c == '/' || *c == ' ')
            *c = '_';
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len, "short write %s", path);
        fclose(f);
    }
}

/* One input: the oracles, or a seed file with --dump-seeds. */
static void replay(const char *name, const char *key, const char *data, size_t len, int format)
{
    if (dump_dir) {
        dump(name, data, len, format);
        return;
    }
    fz_error e;
    current = name;
    alarm(60);
    int rc = fz_check((const uint8_t *)data, len, format, &e);
    alarm(0);
    n_inputs++;
    if (key && is_open(key)) {
        if (rc) {
            n_xfail++;
            printf("XFAIL %s (open bug): %s\n", name, e.msg);
        } else
            printf("XPASS %s: remove it from fuzz/regress/OPEN\n", name);
        return;
    }
    CHECK(rc == 0, "%s (%s, %zu bytes): %s", name, target_of_format(format), len, e.msg);
}

static int format_of_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".ndjson")))
        return REPFIX_FORMAT_JSONL;
    if (dot && !strcmp(dot, ".json"))
        return REPFIX_FORMAT_JSON;
    return REPFIX_FORMAT_TEXT;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of dir (sorted; recursing into subdirectories); format -1: by name. */
static int replay_dir(const char *dir, int format, const char *target)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = fz_xrealloc(names, cap * sizeof *names);
        }
        names[n] = fz_xrealloc(NULL, strlen(de->d_name) + 1);
        strcpy(names[n++], de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[2048], key[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            count += replay_dir(path, format, target);
        } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && strcmp(names[i], "OPEN") &&
                   strcmp(names[i], "README.md")) {
            size_t len;
            char *data = t_read_file(path, &len);
            if (data) {
                snprintf(key, sizeof key, "%s/%s", target ? target : "-", names[i]);
                replay(path, target ? key : NULL, data, len, format >= 0 ? format : format_of_name(names[i]));
                count++;
            }
            free(data);
        }
        free(names[i]);
    }
    free(names);
    return count;
}

/* The input section of every example of one spec file. */
static int replay_spec(const char *path)
{
    size_t len;
    char *s = t_read_file(path, &len);
    if (!s)
        return 0;
    const char *fence = "```````````````````````````````` example";
    size_t fl = strlen(fence);
    int count = 0, line = 1;
    for (char *p = s; *p;) {
        char *eol = strchr(p, '\n');
        if (!eol)
            break;
        if (strncmp(p, fence, fl)) {
            p = eol + 1;
            line++;
            continue;
        }
        int format = REPFIX_FORMAT_TEXT;
        *eol = '\0';
        if (strstr(p, "--format=jsonl"))
            format = REPFIX_FORMAT_JSONL;
        else if (strstr(p, "--format=json"))
            format = REPFIX_FORMAT_JSON;
        int ex_line = line;
        char *in = eol + 1, *q = in;
        line++;
        while (*q && !(q[0] == '.' && q[1] == '\n')) {
            char *qe = strchr(q, '\n');
            if (!qe)
                break;
            q = qe + 1;
            line++;
        }
        if (!*q)
            break;
        size_t n;
        char *data = t_decode_markers(in, (size_t)(q - in), &n);
        char name[1200];
        const char *base = strrchr(path, '/');
        snprintf(name, sizeof name, "%s:%d", base ? base + 1 : path, ex_line);
        replay(name, NULL, data, n, format);
        free(data);
        count++;
        p = q;
    }
    free(s);
    return count;
}

/* One file, with what the whole run gives. */
static int show(const char *target, const char *path)
{
    size_t len;
    char *data = t_read_file(path, &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    int format = format_of_target(target);
    t_params p = t_defaults();
    p.format = format;
    t_result r = t_run(data, len, p, 0, 0);
    printf("%s: %zu bytes in, %zu out, status %s\n", path, len, r.len, repfix_status_name(r.st));
    for (size_t i = 0; i < r.nf; i++) {
        const repfix_finding *f = &r.f[i];
        printf("  %s %s in %llu-%llu out %llu-%llu line %llu period %llu copies %llu count "
               "%llu record %lld path '%s'\n", repfix_kind_name(f->kind),
               repfix_action_name(f->action), (unsigned long long)f->start,
               (unsigned long long)f->end, (unsigned long long)f->out_start,
               (unsigned long long)f->out_end, (unsigned long long)f->line,
               (unsigned long long)f->period, (unsigned long long)f->copies,
               (unsigned long long)f->count, (long long)f->record, f->path);
    }
    printf("--- output\n");
    fwrite(r.out, 1, r.len, stdout);
    printf("\n---\n");
    fz_error e;
    int rc = fz_check((const uint8_t *)data, len, format, &e);
    printf("oracles: %s\n", rc ? e.msg : "all hold");
    t_result_free(&r);
    free(data);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dump-seeds") && i + 1 < argc)
            dump_dir = argv[++i];
        else if (!strcmp(argv[i], "--show") && i + 2 < argc)
            return show(argv[i + 1], argv[i + 2]);
    }
    size_t ol;
    char *open_text = t_read_file("fuzz/regress/OPEN", &ol);
    if (open_text) {
        snprintf(open_list, sizeof open_list, "%s", open_text);
        free(open_text);
    }

    int n_spec = 0, n_corpus = 0, n_saved = 0;
    DIR *d = opendir("tests/spec");
    CHECK(d != NULL, "tests/spec not found: run from the repository root (%s)", strerror(errno));
    if (d) {
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".txt"))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                names = fz_xrealloc(names, cap * sizeof *names);
            }
            names[n] = fz_xrealloc(NULL, l + 1);
            strcpy(names[n++], de->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++) {
            char path[1024];
            snprintf(path, sizeof path, "tests/spec/%s", names[i]);
            n_spec += replay_spec(path);
            free(names[i]);
        }
        free(names);
    }
    n_corpus += replay_dir("corpora", -1, NULL);
    if (!dump_dir) {
        for (int t = 0; t < 3; t++) {
            char dir[256];
            snprintf(dir, sizeof dir, "fuzz/corpus/%s", targets[t]);
            n_saved += replay_dir(dir, format_of_target(targets[t]), targets[t]);
            snprintf(dir, sizeof dir, "fuzz/regress/%s", targets[t]);
            n_saved += replay_dir(dir, format_of_target(targets[t]), targets[t]);
        }
    }
    CHECK(n_spec > 0, "no spec examples found");
    if (!dump_dir)
        printf("replayed %d inputs: %d spec examples, %d corpora files, %d fuzz corpus and "
               "regression files; %d known open bugs\n",
               n_inputs, n_spec, n_corpus, n_saved, n_xfail);
    return t_report();
}
