/* mock_faults — ottu-mock's injected trouble: outage window, random 503s and drops, a
 * per-second rate limit and answer delays, all repeatable under --seed. */
#ifndef OTTU_MOCK_FAULTS_H
#define OTTU_MOCK_FAULTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum {
    MOCK_FAULT_NONE = 0,
    MOCK_FAULT_DROP,    /* close the connection without an answer */
    MOCK_FAULT_OUTAGE,  /* 503: inside --outage-ms */
    MOCK_FAULT_FAIL     /* 503: --fail-rate */
} mock_fault_kind;

typedef struct mock_fault_decision {
    mock_fault_kind kind;
    long delay_ms;      /* --latency-ms plus jitter, for every answer */
    uint64_t seq;       /* the request's number, from 0 */
} mock_fault_decision;

typedef struct mock_faults {
    long latency_ms, jitter_ms, outage_ms, rate_limit;
    double fail_rate, drop_rate;
    uint64_t seed;
    long long started_ms;
    atomic_ullong seq;
    pthread_mutex_t lock;  /* guards the rate-limit window below */
    long long window_sec;
    long window_count;
} mock_faults;

int mock_faults_init(mock_faults *f, long latency_ms, long jitter_ms, long outage_ms,
                     long rate_limit, double fail_rate, double drop_rate, uint64_t seed,
                     long long now_ms);
void mock_faults_destroy(mock_faults *f);
/* Draws the faults for the next request. The random numbers come from (seed, request
 * number), so one client on one connection sees exactly the same faults on every run, and
 * concurrent clients the same mix. */
mock_fault_decision mock_faults_decide(mock_faults *f, long long now_ms);
/* Counts a request against --rate-limit; returns 1 when it is over the limit of the
 * current second. */
int mock_faults_over_rate(mock_faults *f, long long now_ms);

/* splitmix64: a tiny, well-mixed generator, so a seed and a counter give a stream. */
uint64_t mock_rng_next(uint64_t *state);
/* Uniform in [0, 1). */
double mock_rng_unit(uint64_t *state);

#endif
