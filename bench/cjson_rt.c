/*
 * cjson_rt.c - the JSONL baseline: parse and re-print every record with cJSON.
 *
 * Reads JSON Lines from stdin; for each line, cJSON_ParseWithLengthOpts then
 * cJSON_PrintUnformatted, and writes the printed record and a newline to
 * stdout. This is what a tool that "repairs" records by rebuilding them would
 * cost at least, so repfix's jsonl mode is measured against it (the target is
 * within 1.5x). A line that does not parse is copied through unchanged and
 * counted on stderr; the exit status is then 1.
 *
 * Lines are found with memchr in a 4 MiB read buffer that grows for longer
 * lines. cJSON is used through the length-taking parse, never its global
 * hooks or error pointer (STYLE.md).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)

static void die(const char *msg)
{
    fprintf(stderr, "cjson_rt: %s\n", msg);
    exit(2);
}

static void emit(const char *p, size_t n)
{
    if (n && fwrite(p, 1, n, stdout) != n)
        die("write error");
}

/* Parse and print one record (without its newline); returns 0 if it did
 * not parse, after copying it through. */
static int record(const char *line, size_t len)
{
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, NULL, 0);
    if (!root) {
        emit(line, len);
        emit("\n", 1);
        return 0;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        die("out of memory");
    emit(text, strlen(text));
    emit("\n", 1);
    cJSON_free(text);
    return 1;
}

int main(void)
{
    static char obuf[1u << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    size_t cap = CHUNK, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    unsigned long records = 0, bad = 0;
    for (;;) {
        if (len == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p)
                die("out of memory");
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, stdin);
        if (got == 0) {
            if (ferror(stdin))
                die("read error");
            break;
        }
        len += got;
        char *p = buf, *end = buf + len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            if (nl > p) { /* skip empty lines */
                records++;
                bad += !record(p, (size_t)(nl - p));
            }
            p = nl + 1;
        }
        len = (size_t)(end - p);
        memmove(buf, p, len);
    }
    if (len) { /* last line without a newline */
        records++;
        bad += !record(buf, len);
    }
    free(buf);
    if (fflush(stdout) != 0)
        die("write error");
    if (bad) {
        fprintf(stderr, "cjson_rt: %lu of %lu records did not parse\n", bad,
                records);
        return 1;
    }
    return 0;
}
