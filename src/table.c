/* table.c - placeholder until the table detector lands: tables pass through. */
#include "internal.h"
#include <stdlib.h>
struct table_state { int unused; };
table_state *table_new(void) { return calloc(1, sizeof(table_state)); }
void table_free(table_state *t) { free(t); }
void table_reset(table_state *t) { (void)t; }
bool table_line(repfix_ctx *ctx, const line_view *lv) { (void)ctx; (void)lv; return false; }
void table_flush(repfix_ctx *ctx) { (void)ctx; }
