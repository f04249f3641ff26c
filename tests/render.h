/*
 * render.h - "what GFM renders", for the rendering-preserved invariant.
 *
 * Runs Debian's `cmark-gfm -e table` on a buffer and normalizes the HTML as
 * a browser shows it: outside <pre> and <code>, every run of whitespace is
 * one space, and whitespace next to a block tag is dropped; inside them
 * every byte counts.
 */
#ifndef REPFIX_RENDER_H
#define REPFIX_RENDER_H

#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int t_block_name(const char *p, size_t n)
{
    static const char *const names[] = {"p", "li", "ul", "ol", "td", "th", "tr", "table", "thead",
                                        "tbody", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                                        "hr", "br", "pre", "div", "dl", "dt", "dd", "section"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        size_t m = strlen(names[k]);
        if (m <= n && !strncmp(p, names[k], m) &&
            (m == n || p[m] == '>' || p[m] == ' ' || p[m] == '/'))
            return 1;
    }
    return 0;
}

/* p starts a block-level tag ("<p>", "</td>", "<hr />") */
static inline int t_block_tag_at(const char *p, size_t n)
{
    if (n < 2 || p[0] != '<')
        return 0;
    size_t i = p[1] == '/' ? 2 : 1;
    return t_block_name(p + i, n - i);
}

/* out[0..o) ends with a block-level tag */
static inline int t_block_tag_before(const char *out, size_t o)
{
    if (out[o - 1] != '>')
        return 0;
    size_t i = o - 1;
    while (i > 0 && out[i] != '<')
        i--;
    return out[i] == '<' && t_block_tag_at(out + i, o - i);
}

/* Returns malloc'd normalized HTML of src, or NULL when cmark-gfm fails. */
static inline char *t_render(const char *src, size_t len)
{
    char in_path[] = "/tmp/repfix-render-XXXXXX";
    int fd = mkstemp(in_path);
    if (fd < 0)
        return NULL;
    if (write(fd, src, len) != (ssize_t)len) {
        close(fd);
        unlink(in_path);
        return NULL;
    }
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cmark-gfm -e table %s", in_path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        unlink(in_path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *html = malloc(cap + 1);
    size_t r;
    while ((r = fread(html + n, 1, cap - n, p)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            html = realloc(html, cap + 1);
        }
    }
    int st = pclose(p);
    unlink(in_path);
    if (st != 0) {
        free(html);
        return NULL;
    }
    /* normalize */
    char *out = malloc(n + 1);
    size_t o = 0;
    int raw = 0; /* depth inside <pre>/<code> */
    for (size_t i = 0; i < n;) {
        if (html[i] == '<') {
            if (!strncmp(html + i, "<pre", 4) || !strncmp(html + i, "<code", 5))
                raw++;
            else if ((!strncmp(html + i, "</pre>", 6) || !strncmp(html + i, "</code>", 7)) && raw)
                raw--;
        }
        char c = html[i];
        if (!raw && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            size_t j = i;
            while (j < n && (html[j] == ' ' || html[j] == '\t' || html[j] == '\n' || html[j] == '\r'))
                j++;
            /* whitespace next to a block tag shows nothing */
            if (!(o > 0 && t_block_tag_before(out, o)) && !(j < n && t_block_tag_at(html + j, n - j)))
                out[o++] = ' ';
            i = j;
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    free(html);
    return out;
}

#endif
