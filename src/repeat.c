/* repeat.c - placeholder until the loop detector lands: everything is kept. */
#include "internal.h"
#include <stdlib.h>
struct repeat_state { int unused; };
repeat_state *repeat_new(void) { return calloc(1, sizeof(repeat_state)); }
void repeat_free(repeat_state *r) { free(r); }
void repeat_reset(repeat_state *r) { (void)r; }
void repeat_feed(repfix_ctx *ctx, const char *p, size_t n, block_kind block) { (void)block; out_keep(ctx, p, n); }
void repeat_end(repfix_ctx *ctx) { (void)ctx; }
size_t repeat_held(const repfix_ctx *ctx) { (void)ctx; return 0; }
