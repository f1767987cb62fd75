/* mock_faults — ottu-mock's injected trouble: outage window, random 503s and drops, a
 * per-second rate limit, answer delays, and the faults of the answer itself (lost after
 * delivery, one channel failed, false 200s), all repeatable under --seed. */
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

/* How --ambiguous-rate loses an answer after delivering. */
typedef enum {
    MOCK_LOST_NONE = 0,
    MOCK_LOST_500,      /* a 500 (Django's HTML error page) */
    MOCK_LOST_502,      /* a 502 from the gateway */
    MOCK_LOST_504,      /* a 504 from the gateway */
    MOCK_LOST_DROP,     /* the connection closed without an answer */
    MOCK_LOST_STALL,    /* nothing for --stall-ms, then closed */
    MOCK_LOST_COUNT
} mock_lost_kind;

#define MOCK_LOST_ALL ((1u << MOCK_LOST_500) | (1u << MOCK_LOST_502) | (1u << MOCK_LOST_504) | \
                       (1u << MOCK_LOST_DROP) | (1u << MOCK_LOST_STALL))

/* --false-200: a 200 that does not confirm a send. */
typedef enum {
    MOCK_FALSE200_NONE = 0,
    MOCK_FALSE200_RESULT_FAILED,  /* 200 {"result": "failed"}, nothing delivered */
    MOCK_FALSE200_HTML,           /* delivered, then 200 with an HTML login page */
    MOCK_FALSE200_EMPTY           /* delivered, then 200 with an empty body */
} mock_false200_kind;

/* The faults that change the answer of a request the API has processed. */
typedef struct mock_answer_faults {
    double ambiguous_rate;
    unsigned ambiguous_kinds;     /* bits 1 << mock_lost_kind to choose from */
    unsigned fail_channel;        /* a RULES_* channel bit, 0 = none */
    double fail_channel_rate;
    mock_false200_kind false200;
    double false200_rate;
} mock_answer_faults;

typedef struct mock_fault_decision {
    mock_fault_kind kind;
    long delay_ms;      /* --latency-ms plus jitter, for every answer */
    uint64_t seq;       /* the request's number, from 0 */
    mock_lost_kind lost;          /* lose the answer this way after processing */
    unsigned fail_channel;        /* fail this channel (if requested), deliver the others */
    mock_false200_kind false200;  /* turn a 200 into this */
} mock_fault_decision;

typedef struct mock_faults {
    long latency_ms, jitter_ms, outage_ms, rate_limit;
    double fail_rate, drop_rate;
    mock_answer_faults answer;
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
/* Sets the faults of the answer (none after init). */
void mock_faults_set_answer(mock_faults *f, const mock_answer_faults *a);
/* Draws the faults for the next request. The random numbers come from (seed, request
 * number), so one client on one connection sees exactly the same faults on every run, and
 * concurrent clients the same mix. */
mock_fault_decision mock_faults_decide(mock_faults *f, long long now_ms);
/* Counts a request against --rate-limit; returns 1 when it is over the limit of the
 * current second. */
int mock_faults_over_rate(mock_faults *f, long long now_ms);
/* 1 inside the --outage-ms window. */
int mock_faults_in_outage(const mock_faults *f, long long now_ms);

/* Parses a comma list of 500,502,504,drop,stall into bits 1 << mock_lost_kind. Returns 0,
 * or -1 (an unknown or no kind). */
int mock_lost_parse(const char *list, unsigned *mask);
/* "500", "502", "504", "drop", "stall" ("none" for MOCK_LOST_NONE). */
const char *mock_lost_name(mock_lost_kind k);
/* result-failed, html, empty -> the kind; MOCK_FALSE200_NONE for anything else. */
mock_false200_kind mock_false200_parse(const char *s);

/* splitmix64: a tiny, well-mixed generator, so a seed and a counter give a stream. */
uint64_t mock_rng_next(uint64_t *state);
/* Uniform in [0, 1). */
double mock_rng_unit(uint64_t *state);

#endif
