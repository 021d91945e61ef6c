/*
 * Unit tests for fibers (fiber.c) and the HTTP pool (http_pool.c): fibers take turns and are reused;
 * many calls are in flight at once on one thread over one pool of kept-alive connections; a retry's
 * sleep lets the other calls go on; a stalled call times out alone. The server is a small loopback one
 * (in a thread) that holds every request for a while, so the calls it holds at once can be counted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fiber.h"
#include "http.h"
#include "http_pool.h"

#define MAX_CONN 64

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- fibers ------------------------------------------------------------------------------------ */

struct turns {
    char log[64];
    size_t len;
};

static void take_turns(void *arg)
{
    struct turns *t = arg;
    for (int i = 0; i < 3; i++) {
        t->log[t->len++] = (char)('a' + i);
        wd_fiber_yield();
    }
}

static void one_step(void *arg)
{
    ((struct turns *)arg)->log[((struct turns *)arg)->len++] = 'x';
}

static void test_fibers_take_turns(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_fiber *f = wd_fiber_new(0, &err), *g = wd_fiber_new(64 * 1024, &err);
    assert_non_null(f);
    assert_non_null(g);
    assert_null(wd_fiber_current());
    struct turns t = {0};
    assert_false(wd_fiber_run(f, take_turns, &t));
    assert_false(wd_fiber_run(g, take_turns, &t));
    assert_string_equal(t.log, "aa");
    assert_false(wd_fiber_resume(g));
    assert_false(wd_fiber_resume(f));
    assert_string_equal(t.log, "aabb");
    assert_false(wd_fiber_resume(f));
    assert_false(wd_fiber_resume(g));
    assert_true(wd_fiber_resume(f)); /* returned: idle again */
    assert_true(wd_fiber_resume(g));
    assert_string_equal(t.log, "aabbcc");
    /* An idle fiber runs the next function from its start. */
    assert_true(wd_fiber_run(f, one_step, &t));
    assert_false(wd_fiber_run(g, take_turns, &t));
    assert_string_equal(t.log, "aabbccxa");
    while (!wd_fiber_resume(g))
        ;
    assert_null(wd_fiber_current());
    wd_fiber_free(f);
    wd_fiber_free(g);
}

/* --- a loopback server that holds every request for hold_ms ------------------------------------ */

struct conn {
    int fd;
    char buf[4096];
    size_t len;
    double due; /* when the request read is answered; 0: none waiting */
};

struct server {
    int lfd, port;
    int hold_ms;
    bool never_answer; /* hold forever: a stalled server */
    pthread_t thread;
    pthread_mutex_t lock;
    bool stop;
    struct conn conns[MAX_CONN];
    int n_conns;
    unsigned accepted, requests, pending, max_pending;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd pfd[MAX_CONN + 1];
        pthread_mutex_lock(&s->lock);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        pfd[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (int i = 0; i < s->n_conns; i++)
            pfd[i + 1] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        poll(pfd, (nfds_t)s->n_conns + 1, 10);
        pthread_mutex_lock(&s->lock);
        int n_polled = s->n_conns; /* one accepted below has no poll result yet */
        if ((pfd[0].revents & POLLIN) && s->n_conns < MAX_CONN) {
            int fd = accept(s->lfd, NULL, NULL);
            if (fd >= 0) {
                s->conns[s->n_conns++] = (struct conn){.fd = fd};
                s->accepted++;
            }
        }
        double now = mono();
        for (int i = 0; i < s->n_conns; i++) {
            struct conn *c = &s->conns[i];
            if (i < n_polled && (pfd[i + 1].revents & (POLLIN | POLLHUP)) && c->due == 0) {
                ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
                if (r <= 0) {
                    close(c->fd);
                    c->fd = -1;
                    continue;
                }
                c->len += (size_t)r;
                c->buf[c->len] = '\0';
                if (strstr(c->buf, "\r\n\r\n") != NULL) {
                    c->due = s->never_answer ? 1e18 : now + s->hold_ms / 1000.0;
                    s->requests++;
                    if (++s->pending > s->max_pending)
                        s->max_pending = s->pending;
                }
            }
            if (c->fd >= 0 && c->due != 0 && c->due <= now) {
                static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                ssize_t w = write(c->fd, answer, sizeof(answer) - 1);
                (void)w;
                c->due = 0;
                c->len = 0;
                s->pending--;
            }
        }
        /* Closed connections leave the table. */
        int kept = 0;
        for (int i = 0; i < s->n_conns; i++)
            if (s->conns[i].fd >= 0)
                s->conns[kept++] = s->conns[i];
        s->n_conns = kept;
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < s->n_conns; i++)
        close(s->conns[i].fd);
    return NULL;
}

static struct server *server_start(int hold_ms, bool never_answer)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->hold_ms = hold_ms;
    s->never_answer = never_answer;
    pthread_mutex_init(&s->lock, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 128), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

static void server_stop(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* --- calls from fibers on one pool ------------------------------------------------------------ */

struct caller {
    struct wd_http *http;
    char url[64];
    double sleep_s; /* before the call, as a retry would */
    int rc;
    long status;
    struct wd_error err;
    double ended;
};

static void call(void *arg)
{
    struct caller *c = arg;
    struct wd_http_response resp = {0};
    struct wd_http_request req = {.method = "GET", .url = c->url};
    wd_http_sleep(c->http, c->sleep_s);
    c->rc = wd_http_send(c->http, &req, &resp, &c->err);
    c->status = resp.status;
    c->ended = mono();
    wd_http_response_clear(&resp);
}

/* Runs fn on every caller, each in its own fiber, and drives the pool until all have returned. */
static void run_all(struct wd_http_pool *pool, struct caller *callers, struct wd_fiber **fibers, size_t n)
{
    size_t left = n;
    for (size_t i = 0; i < n; i++)
        if (wd_fiber_run(fibers[i], call, &callers[i]))
            left--;
    double give_up = mono() + 60;
    struct wd_error err;
    while (left > 0 && mono() < give_up) {
        wd_http_pool_wait(pool, 100);
        assert_int_equal(wd_http_pool_run(pool, &err), 0);
        left = 0;
        for (size_t i = 0; i < n; i++)
            left += callers[i].ended == 0;
    }
    assert_int_equal(left, 0);
    assert_false(wd_http_pool_busy(pool));
}

struct pool_fixture {
    struct wd_http_pool *pool;
    struct caller callers[32];
    struct wd_fiber *fibers[32];
    size_t n;
};

static struct pool_fixture *pool_setup(size_t n, long timeout_ms, int port)
{
    struct pool_fixture *px = calloc(1, sizeof(*px));
    struct wd_error err;
    assert_non_null(px);
    px->n = n;
    px->pool = wd_http_pool_new((long)n, &err);
    assert_non_null(px->pool);
    struct wd_http_options o = {.connect_timeout_ms = 2000,
                                .timeout_ms = timeout_ms,
                                .no_proxy = true,
                                .verify_tls = true,
                                .pool = px->pool};
    for (size_t i = 0; i < n; i++) {
        px->callers[i].http = wd_http_new(&o, &err);
        assert_non_null(px->callers[i].http);
        snprintf(px->callers[i].url, sizeof(px->callers[i].url), "http://127.0.0.1:%d/%zu", port, i);
        px->fibers[i] = wd_fiber_new(0, &err);
        assert_non_null(px->fibers[i]);
    }
    return px;
}

static void pool_teardown(struct pool_fixture *px)
{
    for (size_t i = 0; i < px->n; i++) {
        wd_http_free(px->callers[i].http);
        wd_fiber_free(px->fibers[i]);
    }
    wd_http_pool_free(px->pool);
    free(px);
}

static void reset_callers(struct pool_fixture *px)
{
    for (size_t i = 0; i < px->n; i++) {
        px->callers[i].rc = -2;
        px->callers[i].ended = 0;
        px->callers[i].sleep_s = 0;
    }
}

/* 20 calls on one thread: all 20 held by the server at once; a second round reuses the 20 connections. */
static void test_calls_in_flight_at_once(void **state)
{
    (void)state;
    struct server *s = server_start(1000, false);
    struct pool_fixture *px = pool_setup(20, 30000, s->port);
    for (int round = 0; round < 2; round++) {
        reset_callers(px);
        run_all(px->pool, px->callers, px->fibers, px->n);
        for (size_t i = 0; i < px->n; i++) {
            assert_int_equal(px->callers[i].rc, 0);
            assert_int_equal(px->callers[i].status, 200);
        }
    }
    pthread_mutex_lock(&s->lock);
    unsigned max_pending = s->max_pending, accepted = s->accepted, requests = s->requests;
    pthread_mutex_unlock(&s->lock);
    print_message("requests %u, held at once %u, connections %u\n", requests, max_pending, accepted);
    assert_int_equal(requests, 40);
    assert_int_equal(max_pending, 20); /* every call was in flight while the server held the others */
    assert_int_equal(accepted, 20);    /* the second round reused the first round's connections */
    pool_teardown(px);
    server_stop(s);
}

/* A fiber waiting before its retry does not hold the others up, and waits at least as long as asked. */
static void test_sleep_lets_others_go_on(void **state)
{
    (void)state;
    struct server *s = server_start(0, false);
    struct pool_fixture *px = pool_setup(2, 30000, s->port);
    reset_callers(px);
    px->callers[0].sleep_s = 1.0;
    double start = mono();
    run_all(px->pool, px->callers, px->fibers, px->n);
    assert_int_equal(px->callers[0].rc, 0);
    assert_int_equal(px->callers[1].rc, 0);
    assert_true(px->callers[1].ended < px->callers[0].ended);
    assert_true(px->callers[0].ended - start >= 1.0);
    pool_teardown(px);
    server_stop(s);
}

/* A server that never answers: each call times out on its own (a transient error); none wedges the pool. */
static void test_stalled_calls_time_out(void **state)
{
    (void)state;
    struct server *s = server_start(0, true);
    struct pool_fixture *px = pool_setup(4, 300, s->port);
    reset_callers(px);
    run_all(px->pool, px->callers, px->fibers, px->n);
    for (size_t i = 0; i < px->n; i++) {
        assert_int_equal(px->callers[i].rc, -1);
        assert_int_equal(px->callers[i].err.cls, WD_ERR_TRANSIENT);
        assert_string_equal(px->callers[i].err.code, "Timeout");
    }
    pool_teardown(px);
    server_stop(s);
}

/* Outside any fiber a client with a pool still makes a blocking call (credentials at start-up do). */
static void test_blocking_outside_fibers(void **state)
{
    (void)state;
    struct server *s = server_start(0, false);
    struct pool_fixture *px = pool_setup(1, 30000, s->port);
    reset_callers(px);
    call(&px->callers[0]);
    assert_int_equal(px->callers[0].rc, 0);
    assert_int_equal(px->callers[0].status, 200);
    assert_false(wd_http_pool_busy(px->pool));
    pool_teardown(px);
    server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fibers_take_turns),       cmocka_unit_test(test_calls_in_flight_at_once),
        cmocka_unit_test(test_sleep_lets_others_go_on), cmocka_unit_test(test_stalled_calls_time_out),
        cmocka_unit_test(test_blocking_outside_fibers),
    };
    if (wd_http_global_init() < 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wd_http_global_cleanup();
    return rc;
}
