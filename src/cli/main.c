/*
 * main.c - the repfix program: options, files, output, reports, batch.
 *
 * The only code that prints. Each input (a FILE or stdin) is one stream
 * through one repfix_ctx; output is written as soon as the library makes it
 * final, so a live model answer piped through repfix appears line by line.
 * Files written with -o or --in-place go to a temporary file in the target
 * directory that is fsync'ed and renamed over the target only when
 * everything succeeded: a crash or a full disk never leaves a half-written
 * file under the real name. With -j N, files are processed by N threads,
 * one context each.
 *
 * Exit status: 0 ok, 1 defects found (--check), 2 usage or I/O error,
 * 3 stopped on a loop (--stop-on-loop).
 */
#define _GNU_SOURCE
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_BLOCK (256u * 1024)

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_lock(void) { pthread_mutex_lock(&print_lock); }
void cli_unlock(void) { pthread_mutex_unlock(&print_lock); }

void cli_error(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&print_lock);
    cli_progress_erase_locked();
    fputs("repfix: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_lock);
}

static void usage(FILE *f)
{
    fputs("usage: repfix [OPTIONS] [FILE...]\n"
          "Repairs the repetition defects of language-model output: FILEs or stdin ('-')\n"
          "to stdout.\n"
          "\n"
          "  (default)          fix: write the repaired text\n"
          "  --check            write nothing; exit 1 if any defect, 0 if none\n"
          "  --flag             write the input unchanged; report what fix would change\n"
          "  --format=FMT       auto (default) | text | json | jsonl\n"
          "  --only=KINDS       comma list of kinds (or groups: table, whitespace, loops)\n"
          "  --skip=KINDS       kinds not to touch\n"
          "  --keep=N           copies of a looped passage to keep (default 1)\n"
          "  --stop-on-loop     stop reading once a loop is confirmed: exit 3\n"
          "  --unicode-padding  also remove Unicode spaces that pad table cells\n"
          "  --report=FILE      findings as JSON Lines ('-' = stderr)\n"
          "  --field=PATH       JSONL: also clean the string at PATH (repeatable)\n"
          "  --toolcall-pattern=PCRE2  text: another tool-call syntax, with named groups\n"
          "                     'args' (JSON) and 'name' (repeatable)\n"
          "  --stats            per-kind summary on stderr at the end\n"
          "  --progress         progress line on stderr even when it is not a terminal\n"
          "  --no-progress      no progress line, even on a terminal\n"
          "  -o PATH            output file, or directory with several FILEs\n"
          "  --in-place         rewrite files atomically (temp file + rename)\n"
          "  -j N               files processed in parallel (default: cores)\n"
          "  -h, --help         this help\n"
          "  -V, --version      version\n"
          "\n"
          "kinds: table-separator table-padding table-runaway newline-run whitespace-run\n"
          "       escape-run repeat toolcall-repeat invalid-json\n"
          "exit: 0 ok, 1 defects found (--check), 2 usage or I/O error, 3 stopped on loop\n",
          f);
}

/* Parses a comma list of kinds and groups into a bit set; -1 on error. */
static long parse_kinds(const char *s)
{
    long bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 5 && strncmp(s, "table", 5) == 0)
            bits |= REPFIX_KIND_BIT(REPFIX_K_TABLE_SEPARATOR) |
                    REPFIX_KIND_BIT(REPFIX_K_TABLE_PADDING) |
                    REPFIX_KIND_BIT(REPFIX_K_TABLE_RUNAWAY);
        else if (n == 10 && strncmp(s, "whitespace", 10) == 0)
            bits |= REPFIX_KIND_BIT(REPFIX_K_NEWLINE_RUN) |
                    REPFIX_KIND_BIT(REPFIX_K_WHITESPACE_RUN) |
                    REPFIX_KIND_BIT(REPFIX_K_ESCAPE_RUN);
        else if (n == 5 && strncmp(s, "loops", 5) == 0)
            bits |= REPFIX_KIND_BIT(REPFIX_K_REPEAT) | REPFIX_KIND_BIT(REPFIX_K_TOOLCALL_REPEAT);
        else if (n == 3 && strncmp(s, "all", 3) == 0)
            bits |= REPFIX_KINDS_ALL;
        else {
            int k = repfix_kind_from_name(s, n);
            if (k < 0) {
                cli_error("unknown kind '%.*s' (see --help)", (int)n, s);
                return -1;
            }
            bits |= REPFIX_KIND_BIT(k);
        }
        s += n;
        if (*s == ',')
            s++;
    }
    return bits;
}

static int parse_int(const char *s, int lo, int hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        cli_error("%s must be a number from %d to %d, not '%s'", what, lo, hi, s);
        return -1;
    }
    return (int)v;
}

static const char *opt_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=')
        return arg + n + 1;
    return NULL;
}

static int parse_args(int argc, char **argv, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->keep = 1;
    o->kinds = REPFIX_KINDS_ALL;
    o->format = -1;
    o->progress = -1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->jobs = ncpu > 0 ? (int)ncpu : 1;
    o->files = calloc((size_t)argc + 1, sizeof *o->files);
    o->fields = calloc((size_t)argc + 1, sizeof *o->fields);
    o->patterns = calloc((size_t)argc + 1, sizeof *o->patterns);
    if (!o->files || !o->fields || !o->patterns) {
        cli_error("out of memory");
        return 2;
    }
    long only = -1, skip = 0;
    bool no_more_opts = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (no_more_opts || a[0] != '-' || strcmp(a, "-") == 0) {
            o->files[o->n_files++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_opts = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("repfix %s\n", repfix_version());
            exit(0);
        } else if (strcmp(a, "--check") == 0) {
            o->check = true;
        } else if (strcmp(a, "--flag") == 0) {
            o->flag = true;
        } else if (strcmp(a, "--stop-on-loop") == 0) {
            o->stop_on_loop = true;
        } else if (strcmp(a, "--unicode-padding") == 0) {
            o->unicode_padding = true;
        } else if (strcmp(a, "--in-place") == 0) {
            o->in_place = true;
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = true;
        } else if (strcmp(a, "--progress") == 0) {
            o->progress = 1;
        } else if (strcmp(a, "--no-progress") == 0) {
            o->progress = 0;
        } else if ((v = opt_value(a, "--format"))) {
            if (strcmp(v, "auto") == 0)
                o->format = -1;
            else if (strcmp(v, "text") == 0)
                o->format = REPFIX_FORMAT_TEXT;
            else if (strcmp(v, "json") == 0)
                o->format = REPFIX_FORMAT_JSON;
            else if (strcmp(v, "jsonl") == 0)
                o->format = REPFIX_FORMAT_JSONL;
            else {
                cli_error("unknown format '%s' (auto, text, json, jsonl)", v);
                return 2;
            }
        } else if ((v = opt_value(a, "--only"))) {
            if ((only = parse_kinds(v)) < 0)
                return 2;
        } else if ((v = opt_value(a, "--skip"))) {
            long s = parse_kinds(v);
            if (s < 0)
                return 2;
            skip |= s;
        } else if ((v = opt_value(a, "--keep"))) {
            if ((o->keep = parse_int(v, 1, 1000, "--keep")) < 0)
                return 2;
        } else if ((v = opt_value(a, "--report"))) {
            o->report = v;
        } else if ((v = opt_value(a, "--toolcall-pattern"))) {
            o->patterns[o->n_patterns++] = v;
        } else if ((v = opt_value(a, "--field"))) {
            repfix_ctx *c = repfix_ctx_new();
            repfix_status st = c ? repfix_add_field(c, v) : REPFIX_E_NOMEM;
            repfix_ctx_free(c);
            if (st != REPFIX_OK) {
                cli_error("--field=%s: %s", v,
                          st == REPFIX_E_PARAM ? "not a path like a.b[].c" : repfix_status_name(st));
                return 2;
            }
            o->fields[o->n_fields++] = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "-j") == 0) {
            if (i + 1 >= argc) {
                cli_error("%s needs a value", a);
                return 2;
            }
            if (a[1] == 'o')
                o->output = argv[++i];
            else if ((o->jobs = parse_int(argv[++i], 1, 1024, "-j")) < 0)
                return 2;
        } else if (strncmp(a, "-j", 2) == 0 && a[2]) {
            if ((o->jobs = parse_int(a + 2, 1, 1024, "-j")) < 0)
                return 2;
        } else if (strncmp(a, "-o", 2) == 0 && a[2]) {
            o->output = a + 2;
        } else {
            cli_error("unknown option '%s' (see --help)", a);
            return 2;
        }
    }
    if (only >= 0)
        o->kinds = (uint32_t)only;
    o->kinds &= ~(uint32_t)skip;
    if (o->check && o->flag) {
        cli_error("--check and --flag exclude each other");
        return 2;
    }
    if (o->in_place && o->output) {
        cli_error("--in-place and -o exclude each other");
        return 2;
    }
    if (o->n_files == 0)
        o->files[o->n_files++] = "-";
    if (o->in_place) {
        for (size_t i = 0; i < o->n_files; i++)
            if (strcmp(o->files[i], "-") == 0) {
                cli_error("--in-place needs FILEs, not stdin");
                return 2;
            }
    }
    return 0;
}

/* Writes all n bytes; false (errno set) on failure. */
bool cli_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Output that will be fsync'ed is handed to the disk every WRITEBACK bytes
 * (asynchronously), so the fsync at the end waits for the last piece only
 * and, with -j N, disk writes overlap the work instead of following it. */
#define WRITEBACK (8u << 20)

static void start_writeback(int fd, uint64_t from, uint64_t to)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    (void)from;
    (void)to;
#endif
}

/* Format from a file name, or -1 to look at the content. */
static int format_from_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return -1;
    if (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0)
        return REPFIX_FORMAT_JSONL;
    if (strcmp(dot, ".json") == 0)
        return REPFIX_FORMAT_JSON;
    if (strcmp(dot, ".md") == 0 || strcmp(dot, ".txt") == 0 || strcmp(dot, ".markdown") == 0)
        return REPFIX_FORMAT_TEXT;
    return -1;
}

/* Format from the first bytes: JSON when the first non-space byte opens an
 * object or array; JSON Lines when the first line alone is a complete JSON
 * object and another line follows. */
#define FORMAT_SNIFF 4096 /* bytes enough to tell the format without a line end */

static int format_from_content(const char *p, size_t n)
{
    size_t i = 0;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i >= n || (p[i] != '{' && p[i] != '['))
        return REPFIX_FORMAT_TEXT;
    /* "[link](url)", "[TOOL_CALLS]", "{{template}}" are text: what follows
     * the bracket must be able to continue a JSON value */
    size_t k = i + 1;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
        k++;
    if (k < n && !(p[i] == '{' ? (p[k] == '"' || p[k] == '}')
                               : (strchr("{[\"-0123456789tfn]", p[k]) != NULL)))
        return REPFIX_FORMAT_TEXT;
    const char *nl = memchr(p + i, '\n', n - i);
    if (nl && p[i] == '{') {
        cJSON *j = cJSON_ParseWithLengthOpts(p + i, (size_t)(nl - (p + i)), NULL, 0);
        bool whole = j != NULL;
        cJSON_Delete(j);
        if (whole)
            return REPFIX_FORMAT_JSONL;
    }
    return REPFIX_FORMAT_JSON;
}

int cli_setup_ctx(repfix_ctx *ctx, const cli_opts *o, int format)
{
    repfix_status st = repfix_set_param(ctx, REPFIX_P_FORMAT, format);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_MODE, o->flag || o->check ? REPFIX_MODE_FLAG : REPFIX_MODE_FIX);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_KINDS, (int)o->kinds);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_KEEP, o->keep);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_STOP_ON_LOOP, o->stop_on_loop);
    if (!st)
        st = repfix_set_param(ctx, REPFIX_P_UNICODE_PADDING, o->unicode_padding);
    for (size_t i = 0; !st && i < o->n_fields; i++)
        st = repfix_add_field(ctx, o->fields[i]);
    for (size_t i = 0; !st && i < o->n_patterns; i++) {
        char err[256];
        st = repfix_add_toolcall_pattern(ctx, o->patterns[i], err, sizeof err);
        if (st)
            cli_error("--toolcall-pattern '%s': %s", o->patterns[i], err);
    }
    return st;
}

/* Appends a finding as one JSON line to buf. */
static void report_line(cli_report *r, const repfix_finding *f, const char *file)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return;
    cJSON_AddStringToObject(j, "kind", repfix_kind_name(f->kind));
    cJSON_AddNumberToObject(j, "start", (double)f->start);
    cJSON_AddNumberToObject(j, "end", (double)f->end);
    cJSON_AddNumberToObject(j, "line", (double)f->line);
    cJSON_AddStringToObject(j, "action", repfix_action_name(f->action));
    if (f->period)
        cJSON_AddNumberToObject(j, "period", (double)f->period);
    if (f->copies)
        cJSON_AddNumberToObject(j, "copies", (double)f->copies);
    if (f->count)
        cJSON_AddNumberToObject(j, "count", (double)f->count);
    cJSON_AddNumberToObject(j, "out_start", (double)f->out_start);
    cJSON_AddNumberToObject(j, "out_end", (double)f->out_end);
    if (file)
        cJSON_AddStringToObject(j, "file", file);
    if (f->record >= 0)
        cJSON_AddNumberToObject(j, "record", (double)f->record);
    if (f->path[0])
        cJSON_AddStringToObject(j, "path", f->path);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return;
    pthread_mutex_lock(&print_lock);
    if (r->fp == stderr)
        cli_progress_erase_locked();
    if (r->fp) {
        fputs(s, r->fp);
        fputc('\n', r->fp);
        fflush(r->fp);
    }
    pthread_mutex_unlock(&print_lock);
    free(s);
}

static void take_findings(repfix_ctx *ctx, cli_job *job, const cli_opts *o)
{
    repfix_finding f;
    while (repfix_next_finding(ctx, &f)) {
        cli_progress_defect(o->meter);
        job->findings++;
        job->by_kind[f.kind]++;
        uint64_t span = f.end - f.start, out = f.out_end - f.out_start;
        if (span > out && f.action == REPFIX_ACTION_FIXED)
            job->removed[f.kind] += span - out;
        if (job->report)
            report_line(job->report, &f, job->report_name);
    }
}

/*
 * Runs one stream from fd_in to fd_out (-1: discard). Returns 0, or 2 on an
 * I/O or library error (already printed), or 3 when stopped on a loop.
 */
int cli_run_stream(repfix_ctx *ctx, int fd_in, int fd_out, const char *name, cli_job *job,
                   const cli_opts *o)
{
    char *ibuf = malloc(IO_BLOCK), *obuf = malloc(IO_BLOCK);
    int rc = 0;
    if (!ibuf || !obuf) {
        cli_error("%s: out of memory", name);
        free(ibuf);
        free(obuf);
        return 2;
    }
    bool first = true, eof = false;
    int format = job->format;
    uint64_t written = 0, synced = 0;
    while (!rc) {
        ssize_t r = 0;
        /* Sniffing the format needs the first line whole (a pipe may
         * deliver "[" alone first): the first block is read up to a line
         * end, FORMAT_SNIFF bytes or the end of input. */
        while (!eof && (size_t)r < IO_BLOCK) {
            ssize_t k = read(fd_in, ibuf + r, IO_BLOCK - (size_t)r);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                cli_error("%s: read error: %s", name, strerror(errno));
                rc = 2;
                break;
            }
            eof = k == 0;
            cli_progress_read(o->meter, ibuf + r, (size_t)k);
            r += k;
            if (!first || format >= 0 || r >= FORMAT_SNIFF || memchr(ibuf, '\n', (size_t)r))
                break;
        }
        if (rc)
            break;
        if (first) {
            if (format < 0)
                format = format_from_content(ibuf, (size_t)r);
            if (cli_setup_ctx(ctx, o, format)) {
                cli_error("%s: cannot set up: bad parameters", name);
                rc = 2;
                break;
            }
            first = false;
        }
        repfix_in in = {ibuf, (size_t)r, 0};
        repfix_directive d = eof ? REPFIX_END : REPFIX_CONTINUE;
        for (;;) {
            repfix_out out = {obuf, IO_BLOCK, 0};
            repfix_status st = repfix_process(ctx, &out, &in, d);
            if (out.pos && fd_out >= 0 && !cli_write_all(fd_out, obuf, out.pos)) {
                cli_error("%s: write error: %s", job->out_name ? job->out_name : "stdout",
                          strerror(errno));
                rc = 2;
                break;
            }
            written += out.pos;
            if (job->durable && written - synced >= WRITEBACK) {
                start_writeback(fd_out, synced, written);
                synced = written;
            }
            take_findings(ctx, job, o);
            if (st == REPFIX_E_STOPPED) {
                rc = 3;
                break;
            }
            if (st != REPFIX_OK) {
                cli_error("%s: %s", name, repfix_status_name(st));
                rc = 2;
                break;
            }
            if (in.pos < in.size || out.pos == out.size)
                continue;
            if (d == REPFIX_END && repfix_held(ctx) > 0)
                continue;
            break;
        }
        if (eof)
            break;
    }
    free(ibuf);
    free(obuf);
    return rc;
}

/* Opens the input; -1 after printing an error. */
static int open_input(const char *name)
{
    if (strcmp(name, "-") == 0)
        return STDIN_FILENO;
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        cli_error("%s: %s", name, strerror(errno));
    else {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            cli_error("%s: is a directory", name);
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Makes a rename in the directory of path durable (best effort: some file
 * systems cannot fsync a directory, and the rename itself already is). */
static void sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Processes one input into a named output through a temporary file that is
 * renamed over `target` only when all went well. */
static int run_to_file(repfix_ctx *ctx, const char *in_name, const char *target, cli_job *job,
                       const cli_opts *o)
{
    int fd_in = open_input(in_name);
    if (fd_in < 0)
        return 2;
    size_t tl = strlen(target);
    char *tmp = malloc(tl + 16);
    if (!tmp) {
        cli_error("out of memory");
        if (fd_in != STDIN_FILENO)
            close(fd_in);
        return 2;
    }
    memcpy(tmp, target, tl);
    memcpy(tmp + tl, ".repfix-XXXXXX", 15);
    int fd_out = mkstemp(tmp);
    if (fd_out < 0) {
        cli_error("%s: cannot create a temporary file: %s", target, strerror(errno));
        free(tmp);
        if (fd_in != STDIN_FILENO)
            close(fd_in);
        return 2;
    }
    struct stat st;
    if (fd_in != STDIN_FILENO && fstat(fd_in, &st) == 0)
        (void)fchmod(fd_out, st.st_mode & 07777);
    job->out_name = target;
    job->durable = true;
    int rc = cli_run_stream(ctx, fd_in, fd_out, in_name, job, o);
    if (fd_in != STDIN_FILENO)
        close(fd_in);
    if (rc == 0 && fsync(fd_out) != 0) {
        cli_error("%s: %s", target, strerror(errno));
        rc = 2;
    }
    if (close(fd_out) != 0 && rc == 0) {
        cli_error("%s: %s", target, strerror(errno));
        rc = 2;
    }
    if (rc == 0 && rename(tmp, target) != 0) {
        cli_error("%s: %s", target, strerror(errno));
        rc = 2;
    }
    if (rc != 0)
        unlink(tmp);
    else
        sync_dir_of(target);
    free(tmp);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Processes input i of the options; returns its exit code. */
static int run_one(const cli_opts *o, size_t i, cli_job *job, bool out_is_dir)
{
    const char *name = o->files[i];
    repfix_ctx *ctx = repfix_ctx_new();
    if (!ctx) {
        cli_error("out of memory");
        return 2;
    }
    job->format = o->format >= 0 ? o->format
                                 : (strcmp(name, "-") == 0 ? -1 : format_from_name(name));
    job->report_name = strcmp(name, "-") == 0 ? NULL : name;
    int rc;
    if (o->check) {
        int fd = open_input(name);
        rc = fd < 0 ? 2 : cli_run_stream(ctx, fd, -1, name, job, o);
        if (fd > STDIN_FILENO)
            close(fd);
    } else if (o->in_place) {
        /* through a symbolic link: replace the file, keep the link */
        char *real = realpath(name, NULL);
        rc = run_to_file(ctx, name, real ? real : name, job, o);
        free(real);
    } else if (o->output && out_is_dir) {
        const char *b = strcmp(name, "-") == 0 ? "stdin" : base_name(name);
        size_t n = strlen(o->output) + strlen(b) + 2;
        char *target = malloc(n);
        if (!target) {
            repfix_ctx_free(ctx);
            return 2;
        }
        snprintf(target, n, "%s/%s", o->output, b);
        rc = run_to_file(ctx, name, target, job, o);
        free(target);
    } else if (o->output) {
        rc = run_to_file(ctx, name, o->output, job, o);
    } else {
        int fd = open_input(name);
        rc = fd < 0 ? 2 : cli_run_stream(ctx, fd, STDOUT_FILENO, name, job, o);
        if (fd > STDIN_FILENO)
            close(fd);
    }
    repfix_ctx_free(ctx);
    return rc;
}

typedef struct {
    const cli_opts *o;
    cli_job *jobs;
    int *rcs;
    bool out_is_dir;
    size_t next;
    pthread_mutex_t lock;
} pool;

static void *worker(void *arg)
{
    pool *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->lock);
        size_t i = pl->next++;
        pthread_mutex_unlock(&pl->lock);
        if (i >= pl->o->n_files)
            return NULL;
        pl->rcs[i] = run_one(pl->o, i, &pl->jobs[i], pl->out_is_dir);
        cli_progress_file_done(pl->o->meter);
    }
}

static void print_stats(const cli_job *jobs, size_t n)
{
    uint64_t count[REPFIX_K_COUNT] = {0}, removed[REPFIX_K_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < REPFIX_K_COUNT; k++) {
            count[k] += jobs[i].by_kind[k];
            removed[k] += jobs[i].removed[k];
        }
    uint64_t total = 0, total_removed = 0;
    fprintf(stderr, "%-18s %10s %14s\n", "kind", "count", "bytes removed");
    for (int k = 0; k < REPFIX_K_COUNT; k++) {
        fprintf(stderr, "%-18s %10llu %14llu\n", repfix_kind_name((repfix_kind)k),
                (unsigned long long)count[k], (unsigned long long)removed[k]);
        total += count[k];
        total_removed += removed[k];
    }
    fprintf(stderr, "%-18s %10llu %14llu\n", "total", (unsigned long long)total,
            (unsigned long long)total_removed);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* With -o DIR, two inputs with one base name would write one output:
 * refuse before writing anything. */
static int check_names(const cli_opts *o)
{
    const char **names = malloc(o->n_files * sizeof *names);
    if (!names) {
        cli_error("out of memory");
        return 2;
    }
    for (size_t i = 0; i < o->n_files; i++)
        names[i] = strcmp(o->files[i], "-") == 0 ? "stdin" : base_name(o->files[i]);
    qsort(names, o->n_files, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 1; i < o->n_files && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            cli_error("%s: two inputs have this name; -o %s would hold one output for both",
                      names[i], o->output);
            rc = 2;
        }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    cli_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.files);
        free(o.fields);
    free(o.patterns);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed output is an error we report */

    bool out_is_dir = false;
    if (o.output) {
        struct stat st;
        out_is_dir = stat(o.output, &st) == 0 && S_ISDIR(st.st_mode);
        if (o.n_files > 1 && !out_is_dir) {
            cli_error("%s: with several FILEs, -o must name an existing directory", o.output);
            rc = 2;
        } else if (out_is_dir) {
            rc = check_names(&o);
        }
        if (rc) {
            free(o.files);
            free(o.fields);
    free(o.patterns);
            return rc;
        }
    }
    cli_report report = {0};
    if (o.report) {
        if (strcmp(o.report, "-") == 0)
            report.fp = stderr;
        else if (!(report.fp = fopen(o.report, "w"))) {
            cli_error("%s: %s", o.report, strerror(errno));
            free(o.files);
            free(o.fields);
    free(o.patterns);
            return 2;
        }
    }
    cli_job *jobs = calloc(o.n_files, sizeof *jobs);
    int *rcs = calloc(o.n_files, sizeof *rcs);
    if (!jobs || !rcs) {
        cli_error("out of memory");
        return 2;
    }
    for (size_t i = 0; i < o.n_files; i++)
        jobs[i].report = o.report ? &report : NULL;

    /* the progress line: on a terminal, unless the output or the report
     * goes to that terminal too */
    bool tty_out = !o.check && !o.in_place && !o.output && isatty(STDOUT_FILENO);
    bool report_err = o.report && strcmp(o.report, "-") == 0;
    if (o.progress == 1 || (o.progress < 0 && isatty(STDERR_FILENO) && !tty_out && !report_err))
        o.meter = cli_progress_start(o.n_files);

    bool parallel = o.jobs > 1 && o.n_files > 1 && (o.in_place || out_is_dir || o.check);
    if (parallel) {
        pool pl = {&o, jobs, rcs, out_is_dir, 0, PTHREAD_MUTEX_INITIALIZER};
        size_t nt = (size_t)o.jobs < o.n_files ? (size_t)o.jobs : o.n_files;
        pthread_t *th = calloc(nt, sizeof *th);
        size_t started = 0;
        for (; th && started < nt; started++)
            if (pthread_create(&th[started], NULL, worker, &pl) != 0)
                break;
        if (started == 0)
            worker(&pl);
        for (size_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        free(th);
    } else {
        for (size_t i = 0; i < o.n_files; i++) {
            rcs[i] = run_one(&o, i, &jobs[i], out_is_dir);
            cli_progress_file_done(o.meter);
            if (rcs[i] == 3)
                break;
        }
    }
    int worst = 0;
    uint64_t findings = 0;
    for (size_t i = 0; i < o.n_files; i++) {
        if (rcs[i] == 3 && worst != 2)
            worst = 3;
        if (rcs[i] == 2)
            worst = 2;
        findings += jobs[i].findings;
    }
    cli_progress_stop(o.meter);
    if (o.stats)
        print_stats(jobs, o.n_files);
    if (report.fp && report.fp != stderr && fclose(report.fp) != 0) {
        cli_error("%s: %s", o.report, strerror(errno));
        worst = 2;
    }
    free(jobs);
    free(rcs);
    free(o.files);
    free(o.fields);
    free(o.patterns);
    if (worst)
        return worst;
    return o.check && findings ? 1 : 0;
}
