/* jsonl.c - placeholder until JSON Lines land: records pass through. */
#include "internal.h"
#include <stdlib.h>
struct jsonl_state { int unused; };
jsonl_state *jsonl_new(void) { return calloc(1, sizeof(jsonl_state)); }
void jsonl_free(jsonl_state *j) { free(j); }
void jsonl_reset(jsonl_state *j) { (void)j; }
void jsonl_feed(repfix_ctx *ctx, const char *p, size_t n) { stage_a_emit(ctx, p, n, ctx->in_off, n, BLOCK_JSON); }
void jsonl_end(repfix_ctx *ctx) { (void)ctx; }
