/* throttle — the one gate every request passes: the shared rate limit (GCRA, with burst),
 * job-wide pauses (Retry-After), and outage detection that slows the whole job down to a
 * single probe while most requests fail, then resumes full speed on the first success. */
#ifndef OTTU_THROTTLE_H
#define OTTU_THROTTLE_H

#include <stdint.h>

typedef struct throttle throttle;

typedef enum { THROTTLE_OK, THROTTLE_TRANSIENT, THROTTLE_RATE_LIMITED } throttle_health;

/* rate 0 = unlimited. backoff_* set the job-wide pause while the API looks down. */
throttle *throttle_new(double rate, unsigned burst, int64_t backoff_base_ms, int64_t backoff_max_ms);
void throttle_free(throttle *t);
/* Blocks until this request may go. Returns 0, or -1 when the throttle was stopped. */
int throttle_acquire(throttle *t);
/* The same without waiting: 1 = this request may go now (released as acquire's), 0 = it
 * would have to wait (nothing taken), -1 = stopped. */
int throttle_try_acquire(throttle *t);
/* After the attempt: releases the in-flight place and feeds the outage detector. */
void throttle_release(throttle *t, throttle_health h);
/* Pauses every worker for ms (Retry-After). */
void throttle_pause(throttle *t, int64_t ms);
/* Wakes every waiter; acquire returns -1 from now on. */
void throttle_stop(throttle *t);
/* For progress: ms left in a pause (0 = none) and whether outage mode is on. */
void throttle_status(throttle *t, int64_t *paused_ms, int *degraded);

#endif
