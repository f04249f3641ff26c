/*
 * target.c - the libFuzzer targets: one binary per format, built by
 * `make fuzz` with -DFZ_TARGET="text" (or "json", "jsonl").
 *
 * Each input goes through every oracle of oracle.h; a broken property is
 * printed and turned into an abort, which libFuzzer saves as a crash file
 * that tests/fuzz_replay (or the target itself, given the file) replays.
 */
#include "oracle.h"

#ifndef FZ_TARGET
#define FZ_TARGET "text"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int format = strcmp(FZ_TARGET, "json") == 0    ? REPFIX_FORMAT_JSON
                 : strcmp(FZ_TARGET, "jsonl") == 0 ? REPFIX_FORMAT_JSONL
                                                   : REPFIX_FORMAT_TEXT;
    fz_error e;
    if (fz_check(data, size, format, &e)) {
        fprintf(stderr, "repfix oracle (%s, %zu bytes): %s\n", FZ_TARGET, size, e.msg);
        abort();
    }
    return 0;
}
