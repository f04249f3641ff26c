/* toolcall.c - placeholder until the tool-call detector lands. */
#include "internal.h"
#include <stdlib.h>
struct toolcall_state { int unused; };
toolcall_state *toolcall_new(void) { return calloc(1, sizeof(toolcall_state)); }
void toolcall_free(toolcall_state *t) { free(t); }
void toolcall_reset(toolcall_state *t) { (void)t; }
void toolcall_record(repfix_ctx *ctx, const struct cJSON *record) { (void)ctx; (void)record; }
bool toolcall_line(repfix_ctx *ctx, const line_view *lv) { (void)ctx; (void)lv; return false; }
void toolcall_flush(repfix_ctx *ctx) { (void)ctx; }
