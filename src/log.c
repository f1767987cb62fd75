/* log — stderr lines with a UTC timestamp and the row number. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "job.h"

static int level = LOG_NORMAL;
static void (*clear_hook)(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int l) { level = l; }
int log_level(void) { return level; }
void log_set_hook(void (*clear)(void)) { clear_hook = clear; }

void log_msg(int lvl, long row, const char *fmt, ...)
{
    if (lvl > level)
        return;
    char ts[32];
    job_format_time(job_now_ms(), ts, sizeof ts);
    pthread_mutex_lock(&mu);
    if (clear_hook)
        clear_hook();
    if (row > 0)
        fprintf(stderr, "%s row %ld: ", ts, row);
    else
        fprintf(stderr, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&mu);
}
