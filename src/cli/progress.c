/*
 * progress.c - the progress line of a batch run: files done, records, MB
 * read, MB/s and defects found, on stderr.
 *
 * Workers only add to atomic counters (one relaxed add per read block and
 * per finding), so progress costs them nothing measurable; a separate
 * thread redraws the line every PROGRESS_MS milliseconds (at most about 4
 * times a second however fast the files go). The line is drawn with "\r"
 * and erased with "\r\033[K" under the program's print lock, so error
 * messages and report lines on stderr never land in the middle of it: they
 * erase it first and the next tick redraws it. When the run ends the final
 * counts are drawn once more and the line is ended with a newline.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_MS 250

struct cli_progress {
    atomic_uint_fast64_t bytes, records, defects, files_done;
    uint64_t files_total;
    struct timespec t0;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop, with cond */
    pthread_cond_t cond;
    bool stop, started;
};

/* Whether the line is on the screen; only touched under the print lock. */
static bool line_drawn;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

void cli_progress_erase_locked(void)
{
    if (line_drawn) {
        fputs("\r\033[K", stderr);
        line_drawn = false;
    }
}

static void draw(cli_progress *p, bool final)
{
    double secs = seconds_since(&p->t0);
    double mb = (double)atomic_load_explicit(&p->bytes, memory_order_relaxed) / 1e6;
    cli_lock();
    fprintf(stderr, "\r\033[Krepfix: %llu/%llu files, %llu records, %.1f MB, %.1f MB/s, %llu defects",
            (unsigned long long)atomic_load_explicit(&p->files_done, memory_order_relaxed),
            (unsigned long long)p->files_total,
            (unsigned long long)atomic_load_explicit(&p->records, memory_order_relaxed), mb,
            secs > 0 ? mb / secs : 0.0,
            (unsigned long long)atomic_load_explicit(&p->defects, memory_order_relaxed));
    if (final) {
        fputc('\n', stderr);
        line_drawn = false;
    } else {
        line_drawn = true;
    }
    fflush(stderr);
    cli_unlock();
}

static void *ticker(void *arg)
{
    cli_progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &until);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->lock);
        draw(p, false);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

cli_progress *cli_progress_start(uint64_t files_total)
{
    cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->bytes, 0);
    atomic_init(&p->records, 0);
    atomic_init(&p->defects, 0);
    atomic_init(&p->files_done, 0);
    p->files_total = files_total;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->started = pthread_create(&p->thread, NULL, ticker, p) == 0;
    return p;
}

void cli_progress_read(cli_progress *p, const char *buf, size_t n)
{
    if (!p || n == 0)
        return;
    uint64_t lines = 0;
    for (const char *s = buf, *end = buf + n; (s = memchr(s, '\n', (size_t)(end - s))); s++)
        lines++;
    atomic_fetch_add_explicit(&p->bytes, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->records, lines, memory_order_relaxed);
}

void cli_progress_defect(cli_progress *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->defects, 1, memory_order_relaxed);
}

void cli_progress_file_done(cli_progress *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->files_done, 1, memory_order_relaxed);
}

void cli_progress_stop(cli_progress *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    draw(p, true);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
