/* mock_faults — decides, per API request, which injected fault (if any) it gets. */
#include "mock_faults.h"

#include <string.h>

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
    memset(&f->answer, 0, sizeof f->answer);
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

void mock_faults_set_answer(mock_faults *f, const mock_answer_faults *a)
{
    f->answer = *a;
}

int mock_faults_in_outage(const mock_faults *f, long long now_ms)
{
    return now_ms - f->started_ms < f->outage_ms;
}

/* The k-th set bit of mask (k from 0), as a kind; mask must have one. */
static mock_lost_kind nth_kind(unsigned mask, unsigned k)
{
    for (int i = 1; i < MOCK_LOST_COUNT; i++) {
        if (mask & (1u << i)) {
            if (k == 0)
                return (mock_lost_kind)i;
            k--;
        }
    }
    return MOCK_LOST_NONE;
}

static unsigned popcount(unsigned m)
{
    unsigned n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

mock_fault_decision mock_faults_decide(mock_faults *f, long long now_ms)
{
    mock_fault_decision d = {MOCK_FAULT_NONE, f->latency_ms, 0, MOCK_LOST_NONE, 0, MOCK_FALSE200_NONE};
    d.seq = atomic_fetch_add_explicit(&f->seq, 1, memory_order_relaxed);
    /* Every draw is made whatever the options, so enabling one fault does not shift the
     * random numbers another fault sees. */
    uint64_t st = f->seed ^ (d.seq * 0xd1b54a32d192ed03ULL);
    mock_rng_next(&st);
    double u_drop = mock_rng_unit(&st);
    double u_fail = mock_rng_unit(&st);
    double u_jitter = mock_rng_unit(&st);
    /* Drawn after the three above, so the older faults keep their sequences. */
    double u_lost = mock_rng_unit(&st);
    double u_lost_kind = mock_rng_unit(&st);
    double u_channel = mock_rng_unit(&st);
    double u_false200 = mock_rng_unit(&st);
    const mock_answer_faults *a = &f->answer;

    if (f->jitter_ms > 0)
        d.delay_ms += (long)(u_jitter * (double)(f->jitter_ms + 1));
    if (u_drop < f->drop_rate)
        d.kind = MOCK_FAULT_DROP;
    else if (now_ms - f->started_ms < f->outage_ms)
        d.kind = MOCK_FAULT_OUTAGE;
    else if (u_fail < f->fail_rate)
        d.kind = MOCK_FAULT_FAIL;
    unsigned kinds = popcount(a->ambiguous_kinds & MOCK_LOST_ALL);
    if (kinds && u_lost < a->ambiguous_rate) {
        unsigned k = (unsigned)(u_lost_kind * kinds);
        d.lost = nth_kind(a->ambiguous_kinds, k < kinds ? k : kinds - 1);
    }
    if (a->fail_channel && u_channel < a->fail_channel_rate)
        d.fail_channel = a->fail_channel;
    if (a->false200 && u_false200 < a->false200_rate)
        d.false200 = a->false200;
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

static const char *const lost_names[MOCK_LOST_COUNT] = {"none", "500", "502", "504", "drop", "stall"};

const char *mock_lost_name(mock_lost_kind k)
{
    return (k > MOCK_LOST_NONE && k < MOCK_LOST_COUNT) ? lost_names[k] : "none";
}

int mock_lost_parse(const char *list, unsigned *mask)
{
    unsigned m = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        int found = 0;
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        for (int i = 1; i < MOCK_LOST_COUNT; i++) {
            if (strlen(lost_names[i]) == n && strncmp(p, lost_names[i], n) == 0) {
                m |= 1u << i;
                found = 1;
            }
        }
        if (!found)
            return -1;
        if (!end)
            break;
        p = end + 1;
    }
    *mask = m;
    return 0;
}

mock_false200_kind mock_false200_parse(const char *s)
{
    if (strcmp(s, "result-failed") == 0)
        return MOCK_FALSE200_RESULT_FAILED;
    if (strcmp(s, "html") == 0)
        return MOCK_FALSE200_HTML;
    if (strcmp(s, "empty") == 0)
        return MOCK_FALSE200_EMPTY;
    return MOCK_FALSE200_NONE;
}
