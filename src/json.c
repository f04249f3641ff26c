/* json.c - placeholder until the JSON lexer lands: JSON passes through. */
#include "internal.h"
#include <stdlib.h>
struct json_state { int unused; };
json_state *json_new(void) { return calloc(1, sizeof(json_state)); }
void json_free(json_state *j) { free(j); }
void json_reset(json_state *j) { (void)j; }
void json_feed(repfix_ctx *ctx, const char *p, size_t n) { stage_a_emit(ctx, p, n, ctx->in_off, n, BLOCK_JSON); }
void json_end(repfix_ctx *ctx) { (void)ctx; }
