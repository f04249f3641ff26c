/*
 * internal.h - the context and the interfaces between repfix's stages.
 *
 * The pipeline for one stream, all in one pass:
 *
 *   input bytes --> stage A (line stage, scan.c, or JSON lexer, json.c)
 *                     splits lines, tracks block context, asks the line
 *                     detectors (table.c, whitespace.c, escape.c,
 *                     newline.c) for edits and applies them
 *               --> stage B (repeat.c): finds loops in stage A's output,
 *                     holds candidate copies, drops confirmed extra copies;
 *                     stage A appends, stage B scans once per feed slice
 *                     and before a stage-A finding is queued (repeat_flush)
 *               --> output queue (hold.c) --> caller's output buffers
 *
 * Offsets: "in" offsets count input bytes; "a" offsets count bytes stage A
 * emitted; output offsets count bytes stage B kept. Stage A records a mark
 * (a_off, in_off, in_len) per emitted piece so stage B can map a loop's span
 * back to input offsets (amap_in) and lines (amap_nl_dropped: input line
 * ends stage A dropped). Findings carry a offsets until stage B
 * has made every byte before their end final; then the output offsets are
 * known and the finding is ready to pop (findings.c).
 *
 * In flag mode the same pipeline runs (so findings are exactly those of fix
 * mode) but its output is discarded and the input is copied through.
 */
#ifndef REPFIX_INTERNAL_H
#define REPFIX_INTERNAL_H

#include "repfix.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- growable byte buffer (hold.c) ---------------------------------- */
typedef struct {
    char *p;
    size_t len, cap;
} rbuf;

bool rbuf_reserve(rbuf *b, size_t extra); /* false when out of memory */
bool rbuf_append(rbuf *b, const void *src, size_t n);
void rbuf_free(rbuf *b);

/* ---- block context of a line (scan.c) ------------------------------- */
typedef enum {
    BLOCK_PROSE = 0, /* paragraphs, headings, lists, quotes */
    BLOCK_CODE = 1,  /* fenced or indented code */
    BLOCK_HTML = 2,  /* raw HTML block */
    BLOCK_TABLE = 3, /* GFM table rows */
    BLOCK_JSON = 4   /* JSON structure (between tokens) */
} block_kind;

/* Bytes of a line, as handed to the line detectors. */
typedef struct {
    const char *p;   /* content, without the line ending */
    size_t len;      /* content bytes */
    size_t eol;      /* 0, 1 ("\n" or "\r") or 2 ("\r\n") bytes after content */
    uint64_t in_off; /* input offset of p[0] */
    uint64_t line;   /* 1-based line number */
    bool partial;    /* a fragment of an over-long line (LINE_MAX_HOLD) */
} line_view;

/* An edit of the current line: replace p[start..end) by rep. */
typedef struct {
    uint32_t start, end;       /* in the line */
    uint32_t rep_off, rep_len; /* in ctx->edit_bytes */
    repfix_kind kind;
    uint32_t group; /* nonzero: merge findings of one kind and group (one table) */
} line_edit;

/* Longest line held whole; longer lines go on as fragments (documented). */
#define LINE_MAX_HOLD (1u << 20)

/* ---- scanner state (scan.c) ----------------------------------------- */
typedef struct {
    char fence_char;     /* '`' or '~' while inside a fenced block, else 0 */
    uint32_t fence_len;  /* length of the opening fence */
    uint32_t fence_ws;   /* indent of the opening fence */
    int html_end;        /* inside a raw HTML block: its end condition 1..7, else 0 */
    bool prev_blank;     /* previous line was blank (or start of input) */
    bool prev_indented;  /* previous non-blank line was indented code */
    bool prev_para;      /* previous line continues a paragraph (lazy lines) */
    bool in_list;        /* a list item is open (4-space indent is not code) */
    bool in_fragment;    /* the last line was a fragment: the next piece continues it */
    uint8_t soft;        /* may the pending line be cut into pieces (scan.c) */
    size_t soft_pos;     /* bytes of the pending line searched for a soft cut */
    block_kind frag_block; /* block of the fragmented line */
    uint64_t crfree_lo, crfree_hi; /* input offsets [lo, hi) hold no '\r' (table.c) */
} scan_state;

/* ---- newline-run state (newline.c) ---------------------------------- */
typedef struct {
    uint32_t blanks;      /* blank lines held */
    uint64_t first_in;    /* input offset of the first held blank line */
    uint64_t first_line;  /* its line number */
    uint64_t end_in;      /* input offset after the last held blank line */
    rbuf first;           /* bytes of the first held blank line */
    rbuf rest;            /* bytes of the others, while below the threshold */
    bool code_before;     /* the run follows a code line */
} newline_state;

/* ---- address map: stage A offsets to input offsets ----------------- */
typedef struct {
    uint64_t a_off, in_off, a_len, in_len;
    uint64_t nl_dropped; /* input line ends stage A dropped up to this piece's end */
} amap_mark;

/* Opaque states of detectors with their own files. */
typedef struct table_state table_state;
typedef struct repeat_state repeat_state;
typedef struct json_state json_state;
typedef struct jsonl_state jsonl_state;
typedef struct toolcall_state toolcall_state;
typedef struct nearloop_state nearloop_state;
struct cJSON;

/* A finding waiting for its output offsets. */
typedef struct {
    repfix_finding f;
    uint64_t a_start, a_end; /* stage A offsets */
    uint32_t group;   /* nonzero: still open to merges until finding_close_group */
    bool start_set;   /* f.out_start resolved */
    bool end_set;     /* f.out_end resolved */
} pending_finding;

struct repfix_ctx {
    /* parameters */
    repfix_mode mode;
    repfix_format format;
    uint32_t kinds;
    int keep;
    bool stop_on_loop;
    bool unicode_padding;
    char **fields;       /* JSONL: extra string paths to clean */
    size_t n_fields;

    /* stream state */
    bool started, ended, stopped;
    repfix_status error; /* sticky */
    uint64_t in_off;     /* input bytes consumed */

    /* stage A: line assembly */
    rbuf line;           /* current incomplete line */
    uint64_t line_in;    /* input offset of line.p[0] */
    uint64_t line_no;    /* line number of line.p[0] */
    bool cr_pending;     /* line ended with '\r': a '\n' may follow */
    scan_state scan;
    newline_state nl;
    table_state *table;
    json_state *json;
    jsonl_state *jsonl;
    toolcall_state *toolcall;
    nearloop_state *nearloop;

    /* edits of the current line */
    line_edit *edits;
    size_t n_edits, cap_edits;
    rbuf edit_bytes;
    rbuf scratch;

    /* stage A -> B */
    uint64_t a_off;      /* bytes stage A emitted */
    amap_mark *marks;
    size_t n_marks, cap_marks, first_mark;
    /* input line ends stage A dropped so far: a detector that drops input
     * lines adds them before it emits the piece (stage B's findings give
     * input line numbers: its own line count plus these) */
    uint64_t nl_dropped;
    repeat_state *repeat;

    /* stage B -> output */
    uint64_t a_final;    /* stage A bytes stage B has made final (kept or dropped) */
    uint64_t dropped;    /* of those, dropped */
    rbuf outq;           /* output not yet copied to the caller */
    size_t outq_pos;
    uint64_t out_off;    /* bytes handed to the caller */

    /* findings */
    pending_finding *findings;
    size_t n_findings, cap_findings, first_finding;
    size_t first_unresolved; /* findings before it have both output offsets */
    int64_t record;      /* JSONL record being processed, or -1 */
    char path[96];       /* JSON path of the string being processed */
    uint64_t off_base;   /* added to finding offsets (nested contexts) */
    repfix_ctx *nested;  /* text context reused for JSON string values (jsonstr.c) */
};

/* ---- core services (repfix.c, hold.c, findings.c) ------------------- */

/* Records an error (the first one sticks) and returns it. */
repfix_status ctx_fail(repfix_ctx *ctx, repfix_status st);
static inline bool kind_on(const repfix_ctx *ctx, repfix_kind k)
{
    return (ctx->kinds & REPFIX_KIND_BIT(k)) != 0;
}

/* Stage A output: n bytes that replace input [in_off, in_off+in_len). */
void stage_a_emit(repfix_ctx *ctx, const char *p, size_t n, uint64_t in_off,
                  uint64_t in_len, block_kind block);
/* Input offset of stage A offset a (a within the repeat window). */
uint64_t amap_in(const repfix_ctx *ctx, uint64_t a);
uint64_t amap_nl_dropped(const repfix_ctx *ctx, uint64_t a);

/* Stage B output: the next n stage A bytes are kept / dropped. */
void out_keep(repfix_ctx *ctx, const char *p, size_t n);
void out_drop(repfix_ctx *ctx, size_t n);

/* Adds a finding; with group != 0 merges into the last finding of the same
 * kind and group (extending its span, adding to count). */
void finding_add(repfix_ctx *ctx, repfix_kind kind, uint64_t in_start, uint64_t in_end,
                 uint64_t a_start, uint64_t a_end, uint64_t line, uint64_t period,
                 uint64_t copies, uint64_t count, uint32_t group);
/* Adds a copy of f as it is (kind, action, start/end, line, period, copies,
 * count, record, path; no off_base) at stage A positions a_start..a_end:
 * findings of a nested context, or a finding whose action the caller sets. */
void finding_add_copy(repfix_ctx *ctx, const repfix_finding *f, uint64_t a_start,
                      uint64_t a_end);
/* Closes group: its findings may be popped once resolved. */
void finding_close_group(repfix_ctx *ctx, uint32_t group);
/* Before stage B keeps or drops the next n bytes: resolves output offsets. */
void findings_advance(repfix_ctx *ctx, uint64_t n, bool kept);
/* End of stream: resolves and closes everything. */
void findings_finish(repfix_ctx *ctx);

/* Adds an edit to the current line (must be in order and not overlap). */
bool edit_add(repfix_ctx *ctx, size_t start, size_t end, const char *rep, size_t rep_len,
              repfix_kind kind, uint32_t group);
/* True when [start,end) overlaps an edit already added. */
bool edit_overlaps(const repfix_ctx *ctx, size_t start, size_t end);
/* Applies the edits to the line, emits it to stage A output, makes findings. */
void line_emit(repfix_ctx *ctx, const line_view *lv, block_kind block);

/* ---- stage A (scan.c) ----------------------------------------------- */
void scan_feed(repfix_ctx *ctx, const char *p, size_t n);
void scan_end(repfix_ctx *ctx);
/* Processes one line (complete, or a fragment when partial). */
void scan_line(repfix_ctx *ctx, const line_view *lv);
/* Indentation of a line in columns (tabs to 4), bytes consumed in *bytes. */
uint32_t line_indent(const char *p, size_t len, size_t *bytes);
bool line_is_blank(const char *p, size_t len);
/* p[i] is a backtick: index after the code span it opens, or len when the
 * run has no closing run on this line (the rest is then left alone). */
size_t skip_code_span(const char *p, size_t len, size_t i);
/* The prose path: escape and whitespace edits, then emit. */
void prose_line(repfix_ctx *ctx, const line_view *lv);

/* ---- detectors ------------------------------------------------------ */
/* newline.c: blank line handling. */
void newline_blank(repfix_ctx *ctx, const line_view *lv, bool in_code);
void newline_flush(repfix_ctx *ctx, bool next_is_code, bool at_end);
void newline_free(newline_state *nl);

/* whitespace.c, escape.c: edits for a prose line. */
void whitespace_line(repfix_ctx *ctx, const line_view *lv);
void escape_line(repfix_ctx *ctx, const line_view *lv);

/* Long prose lines go on in pieces of about this many bytes (scan.c). */
#define SOFT_FRAGMENT 1024u

/* table.c: returns true when it took the line (held or emitted it). */
table_state *table_new(void);
void table_free(table_state *t);
void table_reset(table_state *t);
bool table_line(repfix_ctx *ctx, const line_view *lv);
/* The block context ended (end of input, fence, ...): emit held lines. */
void table_flush(repfix_ctx *ctx);
/* An over-long line (its first fragment lv) starts: ends the table, flags
 * it when it continues one, pauses detection until the next blank line.
 * With prose (a paragraph line scan.c cuts into pieces) only if the next
 * line could be a delimiter row, which would make this line a header. */
void table_fragment(repfix_ctx *ctx, const line_view *lv, bool prose);
/* A table is open: the next line is a row, with pipes or without. */
bool table_open(const repfix_ctx *ctx);

/* repeat.c: stage B. */
repeat_state *repeat_new(void);
void repeat_free(repeat_state *r);
void repeat_reset(repeat_state *r);
void repeat_feed(repfix_ctx *ctx, const char *p, size_t n, block_kind block);
void repeat_flush(repfix_ctx *ctx);
void repeat_end(repfix_ctx *ctx);

/* json.c: stage A for REPFIX_FORMAT_JSON. */
json_state *json_new(void);
void json_free(json_state *j);
void json_reset(json_state *j);
void json_feed(repfix_ctx *ctx, const char *p, size_t n);
void json_end(repfix_ctx *ctx);

/* ---- JSON strings (jsonstr.c) ---- */
/* Body between the quotes -> value bytes appended to out (UTF-8; a lone
 * surrogate \uD800-\uDFFF as WTF-8, ED A0 80 style, and *lone_seen set
 * unless NULL). False on an invalid escape or a raw control character (the
 * caller then leaves the string untouched), or out of memory - never when
 * out has n bytes reserved. */
bool json_unescape(const char *p, size_t n, rbuf *out, bool *lone_seen);
/* Appends s as a string body: '"', '\\', controls (\n \t \r \b \f, others
 * \u00xx) escaped, WTF-8 surrogates escaped when `surrogates` (they were
 * lone surrogate escapes in the input) and else kept raw (they were raw
 * bytes: an escape would change them, and cJSON rejects a lone surrogate
 * escape), all other bytes raw. A string that held both is written with
 * all of them escaped. False: no memory. */
bool json_escape(const char *s, size_t n, bool surrogates, rbuf *out);
/* The code unit of the 4 hex digits at p, or -1. */
long json_hex4(const char *p);
/* UTF-8 (WTF-8 for a surrogate) of code point cp into o; bytes written (<= 4). */
size_t json_put_utf8(char *o, uint32_t cp);
/* Decodes the escape at p[i] (a backslash) to *o, moving *o on: UTF-8, a
 * surrogate pair joined, a lone surrogate as WTF-8 (*lone set). Returns the
 * bytes it takes (2, 6 or 12), or 0 when it is invalid or cut off. */
size_t json_decode_escape(const char *p, size_t n, size_t i, char **o, bool *lone);
/* Cleans s as text in a nested context (the parent's kinds, keep, padding;
 * always fix mode), appends the repaired text to out and copies the findings
 * to the parent (its action and record, `path`, start/end in s, stage A
 * positions at parent->a_off). False on error (ctx_fail set on parent). */
bool text_clean(repfix_ctx *parent, const char *s, size_t n, rbuf *out, const char *path);
/* The same, piecewise: begin, then feed pieces (end = last piece). For
 * chunking invariance the pieces must be cut at content-determined points. */
bool text_stream_begin(repfix_ctx *parent);
bool text_stream_feed(repfix_ctx *parent, const char *s, size_t n, bool end, rbuf *out,
                      const char *path);
/* The same, but each finding (action, record and path already set; start,
 * end, out_start, out_end in the nested text's coordinates) goes to fn
 * instead of the parent: for callers that map spans themselves. */
typedef void (*text_finding_fn)(repfix_ctx *parent, void *arg, const repfix_finding *f);
bool text_stream_feed_cb(repfix_ctx *parent, const char *s, size_t n, bool end, rbuf *out,
                         const char *path, text_finding_fn fn, void *arg);

/* jsonl.c: stage A for REPFIX_FORMAT_JSONL. */
jsonl_state *jsonl_new(void);
void jsonl_free(jsonl_state *j);
void jsonl_reset(jsonl_state *j);
void jsonl_feed(repfix_ctx *ctx, const char *p, size_t n);
void jsonl_end(repfix_ctx *ctx);
/* A --field path ("a.b[].c", "[0].text"): non-empty names, [] or [N]. */
bool jsonl_path_ok(const char *path);

/* nearloop.c: near-duplicate loops of lines (kind repeat). scan_line
 * offers every line first; true when it took the line (held, replayed or
 * dropped it). nearloop_end: end of input, before the other flushes. */
nearloop_state *nearloop_new(void);
void nearloop_free(nearloop_state *s);
void nearloop_reset(nearloop_state *s);
bool nearloop_line(repfix_ctx *ctx, const line_view *lv);
void nearloop_end(repfix_ctx *ctx);

/* toolcall.c: toolcall-repeat. */
toolcall_state *toolcall_new(void);
void toolcall_free(toolcall_state *t);
void toolcall_reset(toolcall_state *t);
/* JSON/JSONL: observes the tool calls of one parsed record or document
 * (Gemini functionCall parts, OpenAI tool_calls, Anthropic tool_use), in
 * order, reporting toolcall-repeat findings with ctx->record. Calls are
 * compared across consecutive records too. */
void toolcall_record(repfix_ctx *ctx, const struct cJSON *record);
/* Text: scan_line offers every line first; returns true when it took the
 * line (it belongs to a tool-call block that it holds or emits). */
bool toolcall_line(repfix_ctx *ctx, const line_view *lv);
/* End of input (text): emit whatever is held. */
void toolcall_flush(repfix_ctx *ctx);
/* No call block is open or continues, and the line p[0..len) does not
 * start one. */
bool toolcall_idle(const repfix_ctx *ctx, const char *p, size_t len);

#endif /* REPFIX_INTERNAL_H */
