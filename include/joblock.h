/* joblock — one process per job: an exclusive lock on OUTPUT.lock for as long as the job
 * runs, holding the owner's PID so a second process can name it. */
#ifndef OTTU_JOBLOCK_H
#define OTTU_JOBLOCK_H

#include <stddef.h>

typedef struct joblock joblock;

/* Locks the job that writes output (a file path). Returns the lock, or NULL with err
 * naming the PID of the process that holds it (or the error). */
joblock *joblock_acquire(const char *output, char *err, size_t errlen);
/* Removes the lock file and releases the lock. NULL is fine. */
void joblock_release(joblock *l);

#endif
