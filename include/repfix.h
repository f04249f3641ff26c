/*
 * repfix.h - find and repair the repetition defects of language-model output.
 *
 * repfix reads text (Markdown or plain), one JSON document, or JSON Lines,
 * and either repairs (REPFIX_MODE_FIX) or reports (REPFIX_MODE_FLAG) the
 * defects models put in their own output: over-long table separators, padded
 * table cells, runaway blank lines and whitespace, runs of escaped newlines,
 * loops of repeated text and repeated tool calls.
 *
 * The API, in the order of this header:
 *   1. one-shot:   repfix_fix_buffer() repairs a whole buffer;
 *   2. lifecycle:  repfix_ctx_new() / repfix_ctx_free() / repfix_ctx_reset();
 *   3. parameters: repfix_set_param(ctx, REPFIX_P_..., value);
 *   4. streaming:  repfix_process(ctx, &out, &in, directive) in the zstd shape;
 *   5. findings:   repfix_next_finding(ctx, &finding);
 *   6. errors:     every call returns a repfix_status; repfix_status_name();
 *   7. version.
 *
 * Threads: a repfix_ctx is one stream for one thread at a time. There is no
 * global state: any number of contexts may run in parallel threads. The
 * library never prints, exits, or reads the environment. Running out of
 * memory is reported as REPFIX_E_NOMEM, never an abort.
 */
#ifndef REPFIX_H
#define REPFIX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REPFIX_VERSION_MAJOR 0
#define REPFIX_VERSION_MINOR 1
#define REPFIX_VERSION_PATCH 0
#define REPFIX_VERSION_STRING "0.1.0"

/* Status codes: generated with the X-macro so names and values stay in step. */
#define REPFIX_STATUS_LIST(X)                                                  \
    X(REPFIX_OK, 0, "ok")                                                      \
    X(REPFIX_E_NOMEM, 1, "out of memory")                                      \
    X(REPFIX_E_PARAM, 2, "invalid parameter or value")                        \
    X(REPFIX_E_STATE, 3, "call not allowed in this state (stream ended?)")     \
    X(REPFIX_E_STOPPED, 4, "stopped: a loop was confirmed (REPFIX_P_STOP_ON_LOOP)")

typedef enum {
#define REPFIX_X_ENUM(name, value, text) name = value,
    REPFIX_STATUS_LIST(REPFIX_X_ENUM)
#undef REPFIX_X_ENUM
} repfix_status;

/* The defect kinds; their stable ids are the strings of repfix_kind_name(). */
#define REPFIX_KIND_LIST(X)                                                    \
    X(REPFIX_K_TABLE_SEPARATOR, 0, "table-separator")                         \
    X(REPFIX_K_TABLE_PADDING, 1, "table-padding")                             \
    X(REPFIX_K_TABLE_RUNAWAY, 2, "table-runaway")                             \
    X(REPFIX_K_NEWLINE_RUN, 3, "newline-run")                                 \
    X(REPFIX_K_WHITESPACE_RUN, 4, "whitespace-run")                           \
    X(REPFIX_K_ESCAPE_RUN, 5, "escape-run")                                   \
    X(REPFIX_K_REPEAT, 6, "repeat")                                           \
    X(REPFIX_K_TOOLCALL_REPEAT, 7, "toolcall-repeat")                         \
    X(REPFIX_K_INVALID_JSON, 8, "invalid-json")

typedef enum {
#define REPFIX_X_ENUM(name, value, text) name = value,
    REPFIX_KIND_LIST(REPFIX_X_ENUM)
#undef REPFIX_X_ENUM
    REPFIX_K_COUNT
} repfix_kind;

#define REPFIX_KIND_BIT(k) (1u << (k))
#define REPFIX_KINDS_ALL ((1u << REPFIX_K_COUNT) - 1u)

typedef enum { REPFIX_MODE_FIX = 0, REPFIX_MODE_FLAG = 1 } repfix_mode;
typedef enum {
    REPFIX_FORMAT_TEXT = 0, /* Markdown or plain text */
    REPFIX_FORMAT_JSON = 1, /* one JSON document, possibly truncated */
    REPFIX_FORMAT_JSONL = 2 /* JSON Lines: one record a line */
} repfix_format;

/* ---- 1. One-shot ------------------------------------------------------ */

/*
 * Repairs (or, with mode REPFIX_MODE_FLAG, copies) src[0..len) in format
 * `format` with default parameters. On success *out is a malloc'd buffer of
 * *out_len bytes (plus a terminating NUL not counted) that the caller frees
 * with free(); *n_findings (if not NULL) receives the number of defects.
 */
repfix_status repfix_fix_buffer(const void *src, size_t len, repfix_format format,
                                repfix_mode mode, char **out, size_t *out_len,
                                size_t *n_findings);

/* ---- 2. Context lifecycle -------------------------------------------- */

typedef struct repfix_ctx repfix_ctx;

/* Returns NULL when memory runs out. */
repfix_ctx *repfix_ctx_new(void);
/* Accepts NULL. */
void repfix_ctx_free(repfix_ctx *ctx);
/* Starts a new stream; parameters are kept. */
repfix_status repfix_ctx_reset(repfix_ctx *ctx);

/* ---- 3. Parameters ---------------------------------------------------- */

typedef enum {
    REPFIX_P_MODE = 1,         /* repfix_mode; default REPFIX_MODE_FIX */
    REPFIX_P_FORMAT = 2,       /* repfix_format; default REPFIX_FORMAT_TEXT */
    REPFIX_P_KINDS = 3,        /* bit set of REPFIX_KIND_BIT(kind); default all */
    REPFIX_P_KEEP = 4,         /* copies of a loop to keep, 1..1000; default 1 */
    REPFIX_P_STOP_ON_LOOP = 5, /* 1: stop with REPFIX_E_STOPPED once a loop is confirmed */
    REPFIX_P_UNICODE_PADDING = 6 /* 1: also remove Unicode spaces padding table cells (changes the HTML) */
} repfix_param;

/* Only before the first repfix_process() of a stream (or after a reset). */
repfix_status repfix_set_param(repfix_ctx *ctx, repfix_param param, int value);

/*
 * JSONL: also clean the string value at `path` in every record, written
 * like the report's paths: "data.reply", "items[].text" ([] = every
 * element). Known shapes (Gemini, OpenAI, Anthropic) need no field. Kept
 * across resets; cleared by repfix_ctx_free.
 */
repfix_status repfix_add_field(repfix_ctx *ctx, const char *path);

/*
 * Text: also recognize tool calls written as `pattern`, a PCRE2 pattern
 * with a named group `args` (the arguments: JSON, or Python-style keyword
 * arguments) and optionally `name` (the tool; without it, `args` must be a
 * JSON object with "name" and "arguments" or "parameters"). The pattern
 * must start with a literal of 2 or more bytes (`<invoke` in
 * "<invoke name=\"(?<name>[^\"]+)\">(?<args>.*?)</invoke>"): a line that
 * starts with it (after up to 3 spaces) opens a candidate block, which
 * grows line by line until the pattern matches it (64 KiB at most); each
 * match is one call. Compiled with PCRE2_DOTALL: '.' matches newlines. On an invalid pattern returns REPFIX_E_PARAM and, if
 * errbuf is not NULL, PCRE2's message and offset in errbuf. Only before
 * the first repfix_process() of a stream; kept across resets; not applied
 * to JSON string values (their nested text context has the built-ins).
 */
repfix_status repfix_add_toolcall_pattern(repfix_ctx *ctx, const char *pattern, char *errbuf,
                                          size_t errbuf_size);

/* ---- 4. Streaming ----------------------------------------------------- */

typedef struct {
    const void *src; /* start of input */
    size_t size;     /* bytes at src */
    size_t pos;      /* bytes consumed; updated by repfix_process */
} repfix_in;

typedef struct {
    void *dst;   /* start of output buffer */
    size_t size; /* capacity */
    size_t pos;  /* bytes written; updated by repfix_process */
} repfix_out;

typedef enum {
    REPFIX_CONTINUE = 0, /* more input will follow */
    REPFIX_END = 1       /* this is the last input: flush everything */
} repfix_directive;

/*
 * Consumes input from `in` and writes final output to `out`, advancing both
 * `pos` fields. Output is written as soon as it can no longer change; what
 * the context holds back (a pending line, a candidate table header, copies
 * of a candidate loop) is bounded (see README) and reported by
 * repfix_held(). With REPFIX_END, call again (with more output space) until
 * repfix_held() returns 0 and in->pos == in->size: the stream is then done
 * and further calls need repfix_ctx_reset().
 *
 * The output bytes and the findings are the same however the input is split
 * across calls and whatever the output buffer sizes.
 */
repfix_status repfix_process(repfix_ctx *ctx, repfix_out *out, repfix_in *in,
                             repfix_directive directive);

/* Bytes consumed but not yet written to an output buffer. */
size_t repfix_held(const repfix_ctx *ctx);

/* ---- 5. Findings ------------------------------------------------------ */

typedef enum { REPFIX_ACTION_FIXED = 0, REPFIX_ACTION_FLAGGED = 1 } repfix_action;

typedef struct {
    repfix_kind kind;
    repfix_action action;
    uint64_t start, end;         /* input byte offsets of the defective span */
    uint64_t out_start, out_end; /* where the span's replacement lies in the output */
    uint64_t line;               /* 1-based input line of `start` */
    uint64_t period;             /* repeat: bytes per copy; otherwise 0 */
    uint64_t copies;             /* repeat: copies found; toolcall-repeat: calls */
    uint64_t count;              /* cells, runs or lines involved; 0 when not meaningful */
    int64_t record;              /* JSONL: 0-based record (line); -1 otherwise */
    char path[96];               /* JSON/JSONL: path of the string value ("choices[0].message.content"); "" otherwise */
} repfix_finding;

/*
 * Pops the next finding whose output position is final into *f and returns
 * 1, or returns 0 when none is ready. Findings come in the order they are
 * confirmed (a table's findings when the table ends), the same order for
 * any split of the input. Pop them after each repfix_process call: they
 * are kept until popped.
 */
int repfix_next_finding(repfix_ctx *ctx, repfix_finding *f);

const char *repfix_kind_name(repfix_kind kind);
/* Returns the kind for a stable id, or -1. */
int repfix_kind_from_name(const char *name, size_t len);
const char *repfix_action_name(repfix_action action);

/* ---- 6. Errors -------------------------------------------------------- */

const char *repfix_status_name(repfix_status status);

/* ---- 7. Version ------------------------------------------------------- */

const char *repfix_version(void);

#ifdef __cplusplus
}
#endif
#endif /* REPFIX_H */
