/*
 * cli.h - what the parts of the repfix program share.
 */
#ifndef REPFIX_CLI_H
#define REPFIX_CLI_H

#include "repfix.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    bool check, flag, stop_on_loop, unicode_padding, in_place, stats;
    int format; /* repfix_format, or -1 for auto */
    int keep, jobs;
    uint32_t kinds;
    const char *report, *output;
    const char **files;
    size_t n_files;
    const char **fields;
    size_t n_fields;
} cli_opts;

typedef struct {
    FILE *fp;
} cli_report;

/* Per input: what happened. */
typedef struct {
    int format;
    const char *report_name, *out_name;
    cli_report *report;
    uint64_t findings;
    uint64_t by_kind[REPFIX_K_COUNT], removed[REPFIX_K_COUNT];
} cli_job;

void cli_error(const char *fmt, ...);
bool cli_write_all(int fd, const void *p, size_t n);
int cli_setup_ctx(repfix_ctx *ctx, const cli_opts *o, int format);
int cli_run_stream(repfix_ctx *ctx, int fd_in, int fd_out, const char *name, cli_job *job,
                   const cli_opts *o);

#endif
