/* joblock — flock(2) on OUTPUT.lock. The file is removed by its owner while still locked;
 * a process that locked a file which has meanwhile been removed (or replaced) retries on
 * the new one, so two processes never both believe they hold the job. */
#include "joblock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct joblock {
    int fd;
    char *path;
};

static void holder_pid(int fd, char *buf, size_t size)
{
    ssize_t n = pread(fd, buf, size - 1, 0);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!buf[0])
        snprintf(buf, size, "unknown");
}

joblock *joblock_acquire(const char *output, char *err, size_t errlen)
{
    joblock *l = calloc(1, sizeof *l);
    if (!l || asprintf(&l->path, "%s.lock", output) < 0) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int tries;
    for (tries = 0; tries < 100; tries++) {
        /* never through a link planted there: the lock is truncated and written */
        int fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == ELOOP)
                snprintf(err, errlen, "the job lock %s is a symbolic link: refused (remove it; ottu-resend "
                                      "creates it itself)", l->path);
            else
                snprintf(err, errlen, "cannot create the job lock %s: %s", l->path, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            char pid[32];
            int e = errno;
            holder_pid(fd, pid, sizeof pid);
            close(fd);
            if (e == EWOULDBLOCK)
                snprintf(err, errlen, "another ottu-resend (PID %s) is running the job that writes %s; "
                                      "wait for it to end (one process per job)", pid, output);
            else
                snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(e));
            break;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                snprintf(err, errlen, "cannot write the job lock %s: %s", l->path, strerror(errno));
                close(fd);
                break;
            }
            l->fd = fd;
            return l;
        }
        close(fd); /* the owner removed it between our open and flock: take the new one */
    }
    if (tries == 100)
        snprintf(err, errlen, "cannot lock %s: it keeps being replaced", l->path);
    free(l->path);
    free(l);
    return NULL;
}

void joblock_release(joblock *l)
{
    if (!l)
        return;
    unlink(l->path);
    close(l->fd);
    free(l->path);
    free(l);
}
