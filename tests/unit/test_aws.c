/*
 * Unit tests for the retry loop of wd_aws_call() against a scripted loopback server: which answers are
 * retried, how many attempts and retry tokens a call may take, fresh connections, clock-skew correction,
 * and TLS handshakes that fail (refused: never retried; cut by the connection: retried).
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws.h"
#include "aws_error.h"
#include "credentials_chain.h"
#include "http.h"
#include "retry.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

#define KEY_ID "AKIDRETRYLOOPTEST001"
#define KEY_SECRET "retryLoopSecret/K7MDENG/bPxRfiCYEXAMPLEKEY"

#define S3_ERROR(code) "<?xml version=\"1.0\"?><Error><Code>" code "</Code><Message>m</Message></Error>"

/* Everything one test needs: the server, a client for it, and a wd_aws whose policy never sleeps. */
struct fixture {
    struct wd_credentials_provider *creds;
    struct fx_server *server;
    struct wd_endpoint endpoint;
    struct wd_http *http;
    struct wd_aws *aws;
    int delays; /* back-off waits the loop asked for */
};

/* The policy's random source: counts the waits and makes each one 0 s long. */
static double no_wait(void *ctx)
{
    ((struct fixture *)ctx)->delays++;
    return 0.0;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", KEY_SECRET, 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    struct wd_error err = {0};
    fx->creds = wd_credentials_provider_new(NULL, &err);
    if (fx->creds == NULL)
        fail_msg("credentials: %s", err.message);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wd_aws_free(fx->aws);
    wd_http_free(fx->http);
    wd_endpoint_clear(&fx->endpoint);
    fx_free(fx->server);
    wd_credentials_provider_free(fx->creds);
    free(fx);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    return 0;
}

/* A client and a wd_aws with policy p (rand01 replaced by no_wait) for the endpoint url. */
static void start_client(struct fixture *fx, const char *url, struct wd_retry_policy p)
{
    struct wd_error err = {0};
    assert_int_equal(wd_endpoint_parse(url, &fx->endpoint, &err), 0);
    struct wd_http_options ho = {.connect_timeout_ms = 1000, .timeout_ms = 2000, .no_proxy = true};
    fx->http = wd_http_new(&ho, &err);
    assert_non_null(fx->http);
    p.rand01 = no_wait;
    p.rand_ctx = fx;
    fx->aws = wd_aws_new("us-east-1", fx->creds, &p, &err);
    assert_non_null(fx->aws);
}

/* Starts the server with its script and a client for it with policy p. */
static void start(struct fixture *fx, const struct fx_step *steps, size_t n, const struct fx_options *opts,
                  struct wd_retry_policy p)
{
    fx->server = fx_start_with(steps, n, opts);
    start_client(fx, fx_url(fx->server), p);
}

/*
 * A TCP peer for a TLS client that never completes the handshake: it reads the ClientHello, then either
 * resets the connection (as a server or a middlebox going away does) or answers in plain HTTP (an https://
 * endpoint that is an http:// port). Counts the connections it accepted.
 */
struct raw_peer {
    int fd, port;
    bool plain;
    atomic_int accepted;
    atomic_bool stop;
    pthread_t thread;
};

static void *raw_peer_run(void *arg)
{
    struct raw_peer *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int c = accept(p->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&p->accepted, 1);
        char hello[4096];
        (void)!recv(c, hello, sizeof(hello), 0);
        if (p->plain) {
            static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            (void)!send(c, answer, sizeof(answer) - 1, MSG_NOSIGNAL);
        } else {
            struct linger l = {.l_onoff = 1, .l_linger = 0}; /* close = RST */
            setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        close(c);
    }
    return NULL;
}

static void raw_peer_start(struct raw_peer *p, bool plain)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    p->plain = plain;
    atomic_init(&p->accepted, 0);
    atomic_init(&p->stop, false);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&a, &alen), 0);
    assert_int_equal(listen(p->fd, 16), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, raw_peer_run, p), 0);
}

static void raw_peer_stop(struct raw_peer *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    close(p->fd);
}

/* A GetObject, classified as S3 does. Returns what wd_aws_call() returned; resp is cleared. */
static int s3_get(struct fixture *fx, struct wd_error *err)
{
    struct wd_aws_call call = {.op = WD_OP_S3_GET,
                               .service = "s3",
                               .s3_rules = true,
                               .method = "GET",
                               .endpoint = &fx->endpoint,
                               .path = "/bucket/key",
                               .classify = wd_s3_error_from_response};
    struct wd_http_response resp = {0};
    int rc = wd_aws_call(fx->aws, fx->http, &call, &resp, err);
    if (rc == 0) {
        assert_int_equal(resp.status, 200);
        assert_memory_equal(resp.body.data, "object", 6);
    }
    wd_http_response_clear(&resp);
    return rc;
}

static struct wd_aws_stats stats(const struct fixture *fx)
{
    struct wd_aws_stats st;
    memset(&st, 0xff, sizeof(st)); /* so that a field left unset shows */
    wd_aws_stats_get(fx->aws, &st);
    return st;
}

/* The signing time of the i-th request, from its X-Amz-Date. */
static time_t signed_at(struct fixture *fx, size_t i)
{
    char v[64];
    struct tm tm = {0};
    const struct fx_request *r = fx_request(fx->server, i);
    assert_non_null(r);
    assert_non_null(fx_header(r, "X-Amz-Date", v, sizeof(v)));
    const char *end = strptime(v, "%Y%m%dT%H%M%SZ", &tm);
    assert_true(end != NULL && *end == '\0');
    return timegm(&tm);
}

static void assert_near(long got, long want)
{
    if (got < want - 5 || got > want + 5)
        fail_msg("%ld is not within 5 of %ld", got, want);
}

static void test_retried_503_then_200(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 503, S3_ERROR("ServiceUnavailable"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    start(fx, steps, 2, NULL, wd_retry_policy_default());
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(fx_count(fx->server), 2);
    assert_true(fx_all_expected(fx->server));
    struct wd_aws_stats st = stats(fx);
    assert_int_equal(st.calls[WD_OP_S3_GET], 2);
    assert_int_equal(st.calls[WD_OP_S3_PUT], 0);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.attempts_done, 2);
    assert_int_equal(st.quota_refusals, 0);
    assert_int_equal(st.clock_skew_s, 0);
    assert_int_equal(fx->delays, 1); /* one back-off before the retry */
}

static bool gate_open(void *ctx)
{
    return *(const bool *)ctx;
}

/* SPEC 9: with the lease gate closed nothing is sent, nothing retried; opened, the call goes out. */
static void test_gate_closed_not_sent(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 200, "object", 0}};
    start(fx, steps, 1, NULL, wd_retry_policy_default());
    bool open = false;
    struct wd_error err = {0};
    struct wd_http_options ho = {.connect_timeout_ms = 1000,
                                 .timeout_ms = 2000,
                                 .no_proxy = true,
                                 .gate = gate_open,
                                 .gate_ctx = &open};
    wd_http_free(fx->http);
    fx->http = wd_http_new(&ho, &err);
    assert_non_null(fx->http);
    assert_int_equal(s3_get(fx, &err), -1);
    assert_int_equal(err.cls, WD_ERR_FENCED);
    assert_string_equal(err.code, "NotLeader");
    assert_int_equal(fx_count(fx->server), 0);
    assert_int_equal(stats(fx).retries, 0);
    assert_int_equal(fx->delays, 0);
    open = true;
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(fx_count(fx->server), 1);
}

static bool gate_once(void *ctx)
{
    int *opened = ctx;
    return (*opened)-- > 0;
}

/*
 * The gate asked again once connected, right before the request goes out: a call that passed it and then
 * waited (for a connection; in a paused process) is not sent when the gate has closed meanwhile.
 */
static void test_gate_closed_before_sending(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 200, "object", 0}};
    start(fx, steps, 1, NULL, wd_retry_policy_default());
    int opened = 1; /* open for the first look only */
    struct wd_error err = {0};
    struct wd_http_options ho = {.connect_timeout_ms = 1000,
                                 .timeout_ms = 2000,
                                 .no_proxy = true,
                                 .gate = gate_once,
                                 .gate_ctx = &opened};
    wd_http_free(fx->http);
    fx->http = wd_http_new(&ho, &err);
    assert_non_null(fx->http);
    assert_int_equal(s3_get(fx, &err), -1);
    assert_int_equal(err.cls, WD_ERR_FENCED);
    assert_true(opened < 0); /* asked twice */
    usleep(100 * 1000);      /* a request that went out would have arrived by now */
    assert_int_equal(fx_count(fx->server), 0);
    assert_int_equal(stats(fx).retries, 0);
}

static void test_access_denied_not_retried(void **state)
{
    struct fixture *fx = *state;
    /* A second answer is there to be had: only the loop's judgement keeps it from being asked. */
    const struct fx_step steps[] = {{"GET", "/bucket/key", 403, S3_ERROR("AccessDenied"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    start(fx, steps, 2, NULL, wd_retry_policy_default());
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), -1);
    assert_int_equal(err.cls, WD_ERR_AUTH);
    assert_string_equal(err.code, "AccessDenied");
    assert_int_equal(err.http_status, 403);
    assert_int_equal(fx_count(fx->server), 1);
    struct wd_aws_stats st = stats(fx);
    assert_int_equal(st.calls[WD_OP_S3_GET], 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(fx->delays, 0);
}

static void test_throttling_retried(void **state)
{
    struct fixture *fx = *state;
    /* DynamoDB throttles with a 400: only its class, not its status, makes it worth another attempt. */
    const struct fx_step steps[] = {{"POST", "/", 400,
                                     "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\","
                                     "\"message\":\"Rate exceeded\"}",
                                     0},
                                    {"POST", "/", 200, "{}", 0}};
    start(fx, steps, 2, NULL, wd_retry_policy_default());
    struct wd_aws_call call = {.op = WD_OP_DDB_GET_ITEM,
                               .service = "dynamodb",
                               .method = "POST",
                               .endpoint = &fx->endpoint,
                               .path = "/",
                               .body = "{}",
                               .body_len = 2,
                               .classify = wd_ddb_error_from_response};
    struct wd_http_response resp = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_aws_call(fx->aws, fx->http, &call, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    wd_http_response_clear(&resp);
    assert_int_equal(fx_count(fx->server), 2);
    assert_true(fx_all_expected(fx->server));
    struct wd_aws_stats st = stats(fx);
    assert_int_equal(st.calls[WD_OP_DDB_GET_ITEM], 2);
    assert_int_equal(st.retries, 1);
    assert_int_equal(fx->delays, 1);
}

static void test_attempts_stop_at_max(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 503, S3_ERROR("SlowDown"), 0},
                                    {"GET", "/bucket/key", 500, S3_ERROR("InternalError"), 0},
                                    {"GET", "/bucket/key", 503, S3_ERROR("SlowDown"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    struct wd_retry_policy p = wd_retry_policy_default();
    assert_int_equal(p.max_attempts, 3);
    start(fx, steps, 4, NULL, p);
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), -1);
    /* The last answer is the one reported. */
    assert_int_equal(err.cls, WD_ERR_THROTTLED);
    assert_string_equal(err.code, "SlowDown");
    assert_int_equal(fx_count(fx->server), 3);
    struct wd_aws_stats st = stats(fx);
    assert_int_equal(st.calls[WD_OP_S3_GET], 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.attempts_done, 3);
    assert_int_equal(fx->delays, 2);
}

static void test_quota_refuses_when_empty(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 503, S3_ERROR("ServiceUnavailable"), 0},
                                    {"GET", "/bucket/key", 503, S3_ERROR("ServiceUnavailable"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    /* Enough tokens for one retry: the second is refused although attempts are left. */
    struct wd_retry_policy p = wd_retry_policy_default();
    p.quota_capacity = WD_RETRY_COST;
    start(fx, steps, 3, NULL, p);
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_int_equal(err.http_status, 503);
    assert_int_equal(fx_count(fx->server), 2);
    struct wd_aws_stats st = stats(fx);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.quota_refusals, 1);
    assert_int_equal(fx->delays, 1);
}

static void test_retry_on_fresh_connection(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 503, S3_ERROR("ServiceUnavailable"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    const struct fx_options keep = {.keep_alive = true};
    start(fx, steps, 3, &keep, wd_retry_policy_default());
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(fx_count(fx->server), 3);
    /* The retry does not trust the connection that just failed it... */
    assert_int_equal(fx_request(fx->server, 0)->connection, 1);
    assert_int_equal(fx_request(fx->server, 1)->connection, 2);
    /* ...while a first attempt reuses a kept-alive one (so the server does keep them). */
    assert_int_equal(fx_request(fx->server, 2)->connection, 2);
}

static void test_clock_skew_corrected(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 403, S3_ERROR("RequestTimeTooSkewed"), 0},
                                    {"GET", "/bucket/key", 200, "object", 0},
                                    {"GET", "/bucket/key", 200, "object", 0}};
    /* A server whose clock is 20 minutes ahead: beyond SigV4's 15, as RequestTimeTooSkewed says. */
    const struct fx_options ahead = {.clock_offset_s = 1200};
    start(fx, steps, 3, &ahead, wd_retry_policy_default());
    struct wd_error err = {0};
    time_t now = time(NULL);
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(fx_count(fx->server), 2);
    assert_near((long)(signed_at(fx, 0) - now), 0);
    /* The retry is signed with the server's time, at once: a clock is no reason to back off. */
    assert_near((long)(signed_at(fx, 1) - now), 1200);
    struct wd_aws_stats st = stats(fx);
    assert_near(st.clock_skew_s, 1200);
    assert_int_equal(st.retries, 1);
    assert_int_equal(fx->delays, 0);
    /* So is every later call. */
    assert_int_equal(s3_get(fx, &err), 0);
    assert_int_equal(fx_count(fx->server), 3);
    assert_near((long)(signed_at(fx, 2) - now), 1200);
}

static void test_clock_skew_carried_over(void **state)
{
    struct fixture *fx = *state;
    const struct fx_step steps[] = {{"GET", "/bucket/key", 200, "object", 0}};
    start(fx, steps, 1, NULL, wd_retry_policy_default());
    /* What the daemon does at a reload: the new wd_aws starts from the old one's offset. */
    wd_aws_set_clock_skew(fx->aws, -3600);
    assert_int_equal(stats(fx).clock_skew_s, -3600);
    struct wd_error err = {0};
    time_t now = time(NULL);
    assert_int_equal(s3_get(fx, &err), 0);
    assert_near((long)(signed_at(fx, 0) - now), -3600);
}

/* https:// to a port that answers in plain HTTP: no retry cures that, so one attempt and no back-off. */
static void test_tls_refused_not_retried(void **state)
{
    struct fixture *fx = *state;
    struct raw_peer peer;
    char url[64];
    raw_peer_start(&peer, true);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", peer.port);
    start_client(fx, url, wd_retry_policy_default());
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), -1);
    raw_peer_stop(&peer);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    assert_string_equal(err.code, "TlsHandshake");
    char want[96];
    snprintf(want, sizeof(want), "TLS handshake with %s refused: ", url);
    if (strncmp(err.message, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err.message, want);
    assert_int_equal(atomic_load(&peer.accepted), 1);
    assert_int_equal(stats(fx).calls[WD_OP_S3_GET], 1);
    assert_int_equal(stats(fx).retries, 0);
    assert_int_equal(fx->delays, 0);
}

/* A handshake the connection broke under (reset) is a connection error: retried up to the policy's max. */
static void test_tls_handshake_cut_retried(void **state)
{
    struct fixture *fx = *state;
    struct raw_peer peer;
    char url[64];
    raw_peer_start(&peer, false);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", peer.port);
    start_client(fx, url, wd_retry_policy_default());
    struct wd_error err = {0};
    assert_int_equal(s3_get(fx, &err), -1);
    raw_peer_stop(&peer);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_string_equal(err.code, "ConnectionError");
    assert_int_equal(atomic_load(&peer.accepted), 3);
    assert_int_equal(stats(fx).calls[WD_OP_S3_GET], 3);
    assert_int_equal(stats(fx).retries, 2);
    assert_int_equal(fx->delays, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retried_503_then_200, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_denied_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttling_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_stop_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_refuses_when_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_fresh_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew_carried_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_refused_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_handshake_cut_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_closed_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_closed_before_sending, setup, teardown),
    };
    if (wd_http_global_init() != 0)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    wd_http_global_cleanup();
    return failed;
}
