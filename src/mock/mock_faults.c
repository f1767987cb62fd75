/* mock_faults — decides, per API request, which injected fault (if any) it gets. */
#include "mock_faults.h"

uint64_t mock_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double mock_rng_unit(uint64_t *state)
{
    return (double)(mock_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

int mock_faults_init(mock_faults *f, long latency_ms, long jitter_ms, long outage_ms,
                     long rate_limit, double fail_rate, double drop_rate, uint64_t seed,
                     long long now_ms)
{
    f->latency_ms = latency_ms;
    f->jitter_ms = jitter_ms;
    f->outage_ms = outage_ms;
    f->rate_limit = rate_limit;
    f->fail_rate = fail_rate;
    f->drop_rate = drop_rate;
    f->seed = seed;
    f->started_ms = now_ms;
    atomic_init(&f->seq, 0);
    f->window_sec = -1;
    f->window_count = 0;
    return pthread_mutex_init(&f->lock, NULL) == 0 ? 0 : -1;
}

void mock_faults_destroy(mock_faults *f)
{
    pthread_mutex_destroy(&f->lock);
}

mock_fault_decision mock_faults_decide(mock_faults *f, long long now_ms)
{
    mock_fault_decision d = {MOCK_FAULT_NONE, f->latency_ms, 0};
    d.seq = atomic_fetch_add_explicit(&f->seq, 1, memory_order_relaxed);
    /* Every draw is made whatever the options, so enabling one fault does not shift the
     * random numbers another fault sees. */
    uint64_t st = f->seed ^ (d.seq * 0xd1b54a32d192ed03ULL);
    mock_rng_next(&st);
    double u_drop = mock_rng_unit(&st);
    double u_fail = mock_rng_unit(&st);
    double u_jitter = mock_rng_unit(&st);

    if (f->jitter_ms > 0)
        d.delay_ms += (long)(u_jitter * (double)(f->jitter_ms + 1));
    if (u_drop < f->drop_rate)
        d.kind = MOCK_FAULT_DROP;
    else if (now_ms - f->started_ms < f->outage_ms)
        d.kind = MOCK_FAULT_OUTAGE;
    else if (u_fail < f->fail_rate)
        d.kind = MOCK_FAULT_FAIL;
    return d;
}

int mock_faults_over_rate(mock_faults *f, long long now_ms)
{
    if (f->rate_limit <= 0)
        return 0;
    long long sec = now_ms / 1000;
    int over;
    pthread_mutex_lock(&f->lock);
    if (sec != f->window_sec) {
        f->window_sec = sec;
        f->window_count = 0;
    }
    over = ++f->window_count > f->rate_limit;
    pthread_mutex_unlock(&f->lock);
    return over;
}
