/*
 * lease_race: lease state machines (lease.h) with their DynamoDB calls (lease_ddb.h), one thread each,
 * against a real endpoint (DynamoDB Local behind the signature proxy), on one monotonic clock, so that
 * leaderships of different instances can be compared to the millisecond. Run by test_lease_ddb_race.py.
 *
 *   lease_race race     ENDPOINT TABLE KEY INSTANCES ROUNDS
 *     each round: INSTANCES machines start at once on item KEY-<round>; exactly one may win.
 *   lease_race takeover ENDPOINT TABLE KEY INSTANCES
 *     a leader is elected; it stops dead (a crash); another must take over within duration + renewal and
 *     not before the crashed one's last call could have ended; the new leader then releases, and a third
 *     leadership must follow within a renewal or so.
 *
 * Prints "# ..." progress, "FAIL ..." for a broken rule, and a last line "RESULT {json}" with what the
 * table should now hold. Exits 0 when every rule held. Credentials and region come from the environment.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "credentials_chain.h"
#include "http.h"
#include "lease.h"
#include "lease_ddb.h"

/* Short lease settings, for tests only: 450 + 1000 + 20 < 2000. */
#define DURATION_MS 2000
#define RENEW_MS 450
#define CONNECT_MS 400
#define TIMEOUT_MS 1000 /* curl's total timeout includes the connection */
#define BOUND_MS TIMEOUT_MS
#define ROUND_MAX_MS 10000 /* a race round ends when every loser knows the winner, or after this long */
#define SLACK_MS 700       /* scheduling and DynamoDB Local's latency on a loaded machine */
#define MAX_INSTANCES 16
#define MAX_EVENTS 64

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

struct event {
    enum wd_lease_event ev;
    uint64_t at;         /* when it was returned */
    uint64_t sent;       /* for ACQUIRED: when the acquisition was sent */
    uint64_t leadership; /* wd_lease_leadership() then */
};

struct race;

struct instance {
    struct race *race;
    int index;
    char name[32];
    struct wd_lease *lease;
    struct wd_http *http;
    pthread_t thread;
    atomic_bool crash;   /* stop dead, without a release */
    atomic_bool release; /* hand over, then stop */
    atomic_bool done;
    pthread_mutex_t lock; /* the machine and events: the main thread looks at them too */
    struct event events[MAX_EVENTS];
    int n_events;
    unsigned long calls, failed;
    unsigned long outcomes[4]; /* by enum wd_lease_outcome */
    char last_error[sizeof(((struct wd_error *)0)->message)];
};

struct race {
    struct wd_aws *aws;
    struct wd_endpoint endpoint;
    struct wd_fence fence;
    char key[256];
    pthread_barrier_t start;
    struct instance inst[MAX_INSTANCES];
    int n;
};

static int failures;

#define FAIL(...)                                                                                            \
    do {                                                                                                     \
        printf("FAIL ");                                                                                     \
        printf(__VA_ARGS__);                                                                                 \
        printf("\n");                                                                                        \
        fflush(stdout);                                                                                      \
        failures++;                                                                                          \
    } while (0)

static const char *ev_name(enum wd_lease_event ev)
{
    static const char *const names[] = {"NONE", "ACQUIRED", "LOST", "RELEASED", "HOLDER"};
    return names[ev];
}

static void record(struct instance *in, enum wd_lease_event ev, uint64_t sent)
{
    if (ev == WD_LEASE_EV_NONE)
        return;
    struct event e = {ev, mono_ms(), sent, wd_lease_leadership(in->lease)};
    if (in->n_events < MAX_EVENTS)
        in->events[in->n_events++] = e;
    printf("# %s +%" PRIu64 " %s leadership %" PRIu64 "%s%s\n", in->name, e.at % 100000, ev_name(ev),
           e.leadership, ev == WD_LEASE_EV_LOST ? ": " : "",
           ev == WD_LEASE_EV_LOST ? wd_lease_why(in->lease) : "");
    fflush(stdout);
}

static void *run(void *arg)
{
    struct instance *in = arg;
    struct race *r = in->race;
    pthread_barrier_wait(&r->start);
    bool releasing = false;
    while (!atomic_load(&in->crash)) {
        pthread_mutex_lock(&in->lock);
        if (atomic_load(&in->release) && !releasing) {
            wd_lease_release(in->lease);
            releasing = true;
        }
        if (releasing && wd_lease_released(in->lease)) {
            pthread_mutex_unlock(&in->lock);
            break;
        }
        struct wd_lease_call call;
        uint64_t wake, now = mono_ms();
        record(in, wd_lease_next(in->lease, now, &call, &wake), 0);
        pthread_mutex_unlock(&in->lock);
        if (call.op == WD_LEASE_OP_NONE) {
            uint64_t wait = wake > now ? wake - now : 0;
            sleep_ms(wait < 10 ? wait : 10); /* short naps: crash and release flags are seen at once */
            continue;
        }
        struct wd_lease_record rec = {0};
        struct wd_error err = {0};
        uint64_t sent = mono_ms();
        enum wd_lease_outcome outcome =
            wd_lease_ddb_call(r->aws, in->http, &r->endpoint, &r->fence, in->name, &call, &rec, &err);
        uint64_t answered = mono_ms();
        in->calls++;
        in->outcomes[outcome]++;
        if (outcome == WD_LEASE_FAILED) {
            in->failed++;
            snprintf(in->last_error, sizeof(in->last_error), "%s", err.message);
        }
        pthread_mutex_lock(&in->lock);
        record(in,
               wd_lease_result(in->lease, sent, answered, outcome, call.op == WD_LEASE_OP_READ ? &rec : NULL,
                               err.message),
               sent);
        pthread_mutex_unlock(&in->lock);
    }
    atomic_store(&in->done, true);
    return NULL;
}

static int start_round(struct race *r, const char *key, int n, int round)
{
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->fence.lease_key = r->key;
    r->n = n;
    pthread_barrier_init(&r->start, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        struct instance *in = &r->inst[i];
        memset(in, 0, sizeof(*in));
        in->race = r;
        in->index = i;
        snprintf(in->name, sizeof(in->name), "racer-%d", i);
        char nonce[32];
        snprintf(nonce, sizeof(nonce), "r%di%dp%d", round, i, (int)getpid());
        struct wd_lease_settings s = {.name = in->name,
                                      .nonce = nonce,
                                      .duration_ms = DURATION_MS,
                                      .renew_ms = RENEW_MS,
                                      .call_bound_ms = BOUND_MS};
        struct wd_error err = {0};
        struct wd_http_options ho = {
            .connect_timeout_ms = CONNECT_MS, .timeout_ms = TIMEOUT_MS, .no_proxy = true};
        if ((in->lease = wd_lease_new(&s, &err)) == NULL || (in->http = wd_http_new(&ho, &err)) == NULL) {
            fprintf(stderr, "lease_race: %s\n", err.message);
            return -1;
        }
        pthread_mutex_init(&in->lock, NULL);
        pthread_create(&in->thread, NULL, run, in);
    }
    pthread_barrier_wait(&r->start);
    return 0;
}

/* Stops every thread (as a crash would); the machines stay for inspection until free_round(). */
static void stop_round(struct race *r)
{
    for (int i = 0; i < r->n; i++)
        atomic_store(&r->inst[i].crash, true);
    for (int i = 0; i < r->n; i++)
        pthread_join(r->inst[i].thread, NULL);
}

static void free_round(struct race *r)
{
    for (int i = 0; i < r->n; i++) {
        struct instance *in = &r->inst[i];
        wd_lease_free(in->lease);
        wd_http_free(in->http);
        pthread_mutex_destroy(&in->lock);
    }
    pthread_barrier_destroy(&r->start);
}

/* The instances' ACQUIRED events, in time order, into out (at most max); returns how many. */
static int acquisitions(struct race *r, struct event *out, int *who, int max)
{
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        pthread_mutex_lock(&r->inst[i].lock);
        for (int k = 0; k < r->inst[i].n_events && n < max; k++)
            if (r->inst[i].events[k].ev == WD_LEASE_EV_ACQUIRED) {
                int j = n++;
                while (j > 0 && out[j - 1].at > r->inst[i].events[k].at) {
                    out[j] = out[j - 1];
                    who[j] = who[j - 1];
                    j--;
                }
                out[j] = r->inst[i].events[k];
                who[j] = i;
            }
        pthread_mutex_unlock(&r->inst[i].lock);
    }
    return n;
}

/*
 * How many instances may make store calls now (their gate is open), one of them in *which. A crashed
 * leader still believes it leads, but its gate closes on time: two open gates at once break the rule.
 */
static int leaders_now(struct race *r, int *which)
{
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        pthread_mutex_lock(&r->inst[i].lock);
        if (wd_lease_may_call(r->inst[i].lease, mono_ms())) {
            n++;
            *which = i;
        }
        pthread_mutex_unlock(&r->inst[i].lock);
    }
    return n;
}

/* Waits up to ms for a leader other than `not` (-1: any); returns it or -1. */
static int wait_leader(struct race *r, int not, uint64_t ms)
{
    uint64_t end = mono_ms() + ms;
    while (mono_ms() < end) {
        int which = -1, n = leaders_now(r, &which);
        if (n > 1)
            FAIL("%d leaders at once", n);
        if (n == 1 && which != not )
            return which;
        sleep_ms(5);
    }
    return -1;
}

static void report_errors(struct race *r)
{
    unsigned long o[4] = {0};
    for (int i = 0; i < r->n; i++)
        for (int k = 0; k < 4; k++)
            o[k] += r->inst[i].outcomes[k];
    printf("# outcomes: %lu ok, %lu condition failed, %lu conflict, %lu failed\n", o[WD_LEASE_OK],
           o[WD_LEASE_CONDITION_FAILED], o[WD_LEASE_CONFLICT], o[WD_LEASE_FAILED]);
    for (int i = 0; i < r->n; i++)
        if (r->inst[i].failed > 0)
            printf("# %s: %lu of %lu calls failed, last: %s\n", r->inst[i].name, r->inst[i].failed,
                   r->inst[i].calls, r->inst[i].last_error);
}

/* True when one instance leads and every other one names it as the holder. */
static bool agreed(struct race *r)
{
    int leader = -1;
    for (int i = 0; i < r->n; i++) {
        pthread_mutex_lock(&r->inst[i].lock);
        if (wd_lease_role(r->inst[i].lease) == WD_LEASE_LEADER)
            leader = leader == -1 ? i : -2;
        pthread_mutex_unlock(&r->inst[i].lock);
    }
    if (leader < 0)
        return false;
    bool all = true;
    for (int i = 0; i < r->n; i++) {
        pthread_mutex_lock(&r->inst[i].lock);
        if (i != leader && strcmp(wd_lease_holder(r->inst[i].lease), r->inst[leader].name) != 0)
            all = false;
        pthread_mutex_unlock(&r->inst[i].lock);
    }
    return all;
}

static void race(struct race *r, const char *prefix, int n, int rounds)
{
    char key[256];
    for (int round = 0; round < rounds; round++) {
        snprintf(key, sizeof(key), "%s-%d", prefix, round);
        if (start_round(r, key, n, round) < 0) {
            failures++;
            return;
        }
        /* Until one leads and every other instance names it as the holder, then two renewals more. */
        uint64_t t0 = mono_ms(), settled = 0;
        while (mono_ms() < t0 + ROUND_MAX_MS && (settled == 0 || mono_ms() < settled + 2 * RENEW_MS)) {
            int which;
            if (leaders_now(r, &which) > 1)
                FAIL("round %d: two leaders at once", round);
            if (settled == 0 && agreed(r))
                settled = mono_ms();
            sleep_ms(2);
        }
        stop_round(r);
        struct event acq[MAX_INSTANCES * 4];
        int who[MAX_INSTANCES * 4];
        int a = acquisitions(r, acq, who, MAX_INSTANCES * 4);
        if (a != 1)
            FAIL("round %d: %d acquisitions, expected exactly one", round, a);
        else if (acq[0].leadership != 1)
            FAIL("round %d: the winner has leadership %" PRIu64 ", expected 1", round, acq[0].leadership);
        /* every loser learnt who won */
        for (int i = 0; a == 1 && i < n; i++) {
            if (i == who[0])
                continue;
            pthread_mutex_lock(&r->inst[i].lock);
            if (strcmp(wd_lease_holder(r->inst[i].lease), r->inst[who[0]].name) != 0)
                FAIL("round %d: %s sees holder \"%s\", not %s", round, r->inst[i].name,
                     wd_lease_holder(r->inst[i].lease), r->inst[who[0]].name);
            pthread_mutex_unlock(&r->inst[i].lock);
        }
        printf("# round %d: %d acquisition(s)%s%s\n", round, a, a == 1 ? ", won by " : "",
               a == 1 ? r->inst[who[0]].name : "");
        report_errors(r);
        free_round(r);
    }
    printf("RESULT {\"rounds\": %d, \"prefix\": \"%s\", \"leadership\": 1}\n", rounds, prefix);
}

/* The first moment at or after from when the crashed leader's gate is closed (may_call is monotone). */
static uint64_t gate_closes(struct instance *in, uint64_t from)
{
    uint64_t lo = from, hi = from + 10 * DURATION_MS;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (wd_lease_may_call(in->lease, mid))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void takeover(struct race *r, const char *key, int n)
{
    if (start_round(r, key, n, 0) < 0) {
        failures++;
        return;
    }
    int first = wait_leader(r, -1, 5000);
    if (first < 0) {
        FAIL("no leader within 5 s");
        stop_round(r);
        free_round(r);
        return;
    }
    sleep_ms(3 * RENEW_MS); /* a few renewals */
    struct instance *old = &r->inst[first];
    atomic_store(&old->crash, true);
    while (!atomic_load(&old->done))
        sleep_ms(1);
    uint64_t crashed = mono_ms();
    pthread_mutex_lock(&old->lock);
    bool was_leader = wd_lease_role(old->lease) == WD_LEASE_LEADER;
    uint64_t old_leadership = wd_lease_leadership(old->lease);
    uint64_t closes = gate_closes(old, crashed);
    pthread_mutex_unlock(&old->lock);
    if (!was_leader)
        FAIL("%s was no longer the leader when it crashed", old->name);
    printf("# %s crashed at +%" PRIu64 " with leadership %" PRIu64 "; its gate closes at +%" PRIu64 "\n",
           old->name, crashed % 100000, old_leadership, closes % 100000);

    int second = wait_leader(r, first, DURATION_MS + RENEW_MS + 5000);
    if (second < 0) {
        FAIL("no takeover");
        stop_round(r);
        free_round(r);
        return;
    }
    struct event acq[MAX_INSTANCES * 4];
    int who[MAX_INSTANCES * 4];
    int a = acquisitions(r, acq, who, MAX_INSTANCES * 4);
    struct event *take = &acq[a - 1];
    uint64_t after = take->at - crashed;
    printf("# %s took over %" PRIu64 " ms after the crash (sent at +%" PRIu64 "), leadership %" PRIu64 "\n",
           r->inst[second].name, after, take->sent % 100000, take->leadership);
    if (a != 2)
        FAIL("%d acquisitions, expected 2", a);
    if (take->leadership != old_leadership + 1)
        FAIL("leadership %" PRIu64 " after %" PRIu64, take->leadership, old_leadership);
    /* SPEC 9: within the lease duration plus one renewal (plus the calls' own latency) */
    if (after > DURATION_MS + RENEW_MS + SLACK_MS)
        FAIL("takeover after %" PRIu64 " ms, more than duration + renewal (%d ms)", after,
             DURATION_MS + RENEW_MS);
    /* never while a call of the crashed leader could still be running */
    if (take->sent < closes - 1 + BOUND_MS)
        FAIL("the takeover was sent at +%" PRIu64
             ", before the crashed leader's last call could end (+%" PRIu64 ")",
             take->sent % 100000, (closes - 1 + BOUND_MS) % 100000);

    /* a graceful hand-over: the new leader releases; a standby takes the released item at once */
    sleep_ms(2 * RENEW_MS);
    uint64_t released_at = mono_ms();
    atomic_store(&r->inst[second].release, true);
    int third = wait_leader(r, second, 5000);
    uint64_t handover = mono_ms() - released_at;
    if (third < 0 || third == first) {
        FAIL("no leader after the release");
        stop_round(r);
        free_round(r);
        return;
    }
    printf("# %s took over %" PRIu64 " ms after the release was asked for\n", r->inst[third].name, handover);
    if (handover > RENEW_MS + SLACK_MS)
        FAIL("hand-over after a release took %" PRIu64 " ms, more than a renewal period", handover);
    pthread_mutex_lock(&r->inst[third].lock);
    uint64_t final_leadership = wd_lease_leadership(r->inst[third].lease);
    pthread_mutex_unlock(&r->inst[third].lock);
    if (final_leadership != old_leadership + 2)
        FAIL("leadership %" PRIu64 " after the hand-over, expected %" PRIu64, final_leadership,
             old_leadership + 2);
    char owner[32];
    snprintf(owner, sizeof(owner), "%s", r->inst[third].name);
    stop_round(r);
    report_errors(r);
    free_round(r);
    printf("RESULT {\"key\": \"%s\", \"owner\": \"%s\", \"leadership\": %" PRIu64 "}\n", key, owner,
           final_leadership);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 6 || (strcmp(argv[1], "race") == 0 && argc != 7) ||
        (strcmp(argv[1], "takeover") == 0 && argc != 6)) {
        fprintf(stderr, "usage: lease_race race ENDPOINT TABLE KEY INSTANCES ROUNDS\n"
                        "       lease_race takeover ENDPOINT TABLE KEY INSTANCES\n");
        return 2;
    }
    int n = atoi(argv[5]);
    if (n < 2 || n > MAX_INSTANCES) {
        fprintf(stderr, "lease_race: 2 to %d instances\n", MAX_INSTANCES);
        return 2;
    }
    static struct race r;
    struct wd_error err = {0};
    if (wd_http_global_init() < 0)
        return 2;
    struct wd_credentials_provider *creds = wd_credentials_provider_new(NULL, &err);
    if (creds == NULL || wd_endpoint_parse(argv[2], &r.endpoint, &err) < 0 ||
        (r.aws = wd_aws_new(getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1", creds, NULL, &err)) ==
            NULL) {
        fprintf(stderr, "lease_race: %s\n", err.message);
        return 2;
    }
    r.fence.table = argv[3];
    if (strcmp(argv[1], "race") == 0)
        race(&r, argv[4], n, atoi(argv[6]));
    else
        takeover(&r, argv[4], n);
    struct wd_aws_stats st;
    wd_aws_stats_get(r.aws, &st);
    printf("# AWS layer: %lu GetItem, %lu UpdateItem, %lu TransactWriteItems attempts; %lu retries\n",
           st.calls[WD_OP_DDB_GET_ITEM], st.calls[WD_OP_DDB_UPDATE_ITEM],
           st.calls[WD_OP_DDB_TRANSACT_WRITE_ITEMS], st.retries);
    wd_aws_free(r.aws);
    wd_endpoint_clear(&r.endpoint);
    wd_credentials_provider_free(creds);
    wd_http_global_cleanup();
    printf("# %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
