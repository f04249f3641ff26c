/*
 * cli.h - what the parts of the repfix program share.
 */
#ifndef REPFIX_CLI_H
#define REPFIX_CLI_H

#include "repfix.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_progress cli_progress;

typedef struct {
    bool check, flag, stop_on_loop, unicode_padding, in_place, stats;
    int progress; /* -1 auto (stderr is a terminal), 0 off, 1 forced */
    cli_progress *meter; /* the running progress line, or NULL */
    int format; /* repfix_format, or -1 for auto */
    int keep, jobs;
    uint32_t kinds;
    const char *report, *output;
    const char **files;
    size_t n_files;
    const char **fields;
    size_t n_fields;
    const char **patterns; /* --toolcall-pattern */
    size_t n_patterns;
} cli_opts;

typedef struct {
    FILE *fp;
} cli_report;

/* Per input: what happened. */
typedef struct {
    int format;
    const char *report_name, *out_name;
    bool durable; /* the output is a file fsync'ed at the end: write back early */
    cli_report *report;
    uint64_t findings;
    uint64_t by_kind[REPFIX_K_COUNT], removed[REPFIX_K_COUNT];
} cli_job;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void cli_error(const char *fmt, ...);
/* The lock of everything printed on stderr (messages, report, progress). */
void cli_lock(void);
void cli_unlock(void);
bool cli_write_all(int fd, const void *p, size_t n);
int cli_setup_ctx(repfix_ctx *ctx, const cli_opts *o, int format);
int cli_run_stream(repfix_ctx *ctx, int fd_in, int fd_out, const char *name, cli_job *job,
                   const cli_opts *o);

/* progress.c: the progress line on stderr (NULL-safe updates). */
cli_progress *cli_progress_start(uint64_t files_total);
void cli_progress_read(cli_progress *p, const char *buf, size_t n);
void cli_progress_defect(cli_progress *p);
void cli_progress_file_done(cli_progress *p);
/* Draws the final counts, ends the line and frees p. */
void cli_progress_stop(cli_progress *p);
/* Erases the line if drawn; call with cli_lock held, before printing. */
void cli_progress_erase_locked(void);

#endif
