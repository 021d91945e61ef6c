/*
 * The scripted loopback HTTP server of fixture_http.h: one connection at a time, one request per
 * connection (it answers "Connection: close") unless told to keep connections alive, everything it
 * received kept for the test to inspect.
 */
#include "fixture_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FX_MAX_REQUESTS 64
#define FX_MAX_HEAD (64 * 1024)
#define FX_IO_TIMEOUT_MS 5000

struct fx_server {
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
    char url[64];
    struct fx_step *steps;
    size_t n_steps;
    struct fx_options opts;
    pthread_mutex_t lock;
    struct fx_request requests[FX_MAX_REQUESTS];
    size_t n_requests; /* under lock */
};

static void die(const char *what)
{
    fprintf(stderr, "fixture_http: %s: %s\n", what, strerror(errno));
    abort();
}

static char *dup_or_die(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        die("malloc");
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Waits up to ms for fd to be readable; false when the stop pipe fired or time ran out. */
static bool wait_readable(struct fx_server *s, int fd, int ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
    int n = poll(p, 2, ms);
    return n > 0 && (p[1].revents & POLLIN) == 0 && (p[0].revents & (POLLIN | POLLHUP)) != 0;
}

static void delay(struct fx_server *s, int ms)
{
    struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};
    poll(&p, 1, ms);
}

/* Reads one request (head and Content-Length body) into buf; returns the head's length or -1. */
static long read_request(struct fx_server *s, int fd, char *buf, size_t size, size_t *total)
{
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len + 1 >= size || !wait_readable(s, fd, FX_IO_TIMEOUT_MS))
            return -1;
        ssize_t n = recv(fd, buf + len, size - len - 1, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4;
    size_t body = 0;
    for (const char *h = strstr(buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n"))
        if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
            body = strtoul(h + 17, NULL, 10);
    while (len < head + body) {
        if (len + 1 >= size || !wait_readable(s, fd, FX_IO_TIMEOUT_MS))
            return -1;
        ssize_t n = recv(fd, buf + len, size - len - 1, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    *total = len;
    return (long)head;
}

/* Serves one request on fd, the connection-th accepted; true when the connection stays open for another. */
static bool serve(struct fx_server *s, int fd, char *buf, unsigned connection)
{
    size_t total;
    long head = read_request(s, fd, buf, FX_MAX_HEAD, &total);
    if (head < 0)
        return false;
    /* "METHOD SP PATH SP VERSION CRLF headers CRLF" */
    char *sp1 = strchr(buf, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(buf, "\r\n");
    if (sp1 == NULL || sp2 == NULL || eol == NULL || sp2 > eol)
        return false;

    pthread_mutex_lock(&s->lock);
    size_t i = s->n_requests;
    pthread_mutex_unlock(&s->lock);
    if (i == FX_MAX_REQUESTS)
        return false;
    struct fx_request *r = &s->requests[i];
    r->method = dup_or_die(buf, (size_t)(sp1 - buf));
    r->path = dup_or_die(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r->headers = dup_or_die(eol + 2, (size_t)(buf + head - 2 - (eol + 2)));
    r->body_len = total - (size_t)head;
    r->body = dup_or_die(buf + head, r->body_len);
    r->connection = connection;
    const struct fx_step *step = i < s->n_steps ? &s->steps[i] : NULL;
    r->expected = step != NULL && (step->method == NULL || strcmp(step->method, r->method) == 0) &&
                  (step->path == NULL || strcmp(step->path, r->path) == 0);
    pthread_mutex_lock(&s->lock);
    s->n_requests++;
    pthread_mutex_unlock(&s->lock);

    int status = step != NULL ? step->status : 500;
    const char *body = step != NULL && step->body != NULL ? step->body : "";
    if (step != NULL && !r->expected) {
        status = 400;
        body = "unexpected request";
    }
    if (step != NULL && step->delay_ms > 0)
        delay(s, step->delay_ms);
    if (status == 0)
        return false;
    char date[64];
    time_t now = time(NULL) + s->opts.clock_offset_s;
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *extra = i < s->opts.n_step_headers && s->opts.step_headers[i] ? s->opts.step_headers[i] : "";
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "HTTP/1.1 %d Scripted\r\nDate: %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "%s%s\r\n",
                     status, date, strlen(body), extra, s->opts.keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof(line))
        die("response head too long");
    /* The client may have given up (timeout): MSG_NOSIGNAL, and no complaint. */
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) == n)
        send(fd, body, strlen(body), MSG_NOSIGNAL);
    return s->opts.keep_alive;
}

/* Waits for a new connection or a request on the open one (fd, or -1); returns the readable descriptor,
 * or -1 when the server stops. */
static int wait_either(struct fx_server *s, int fd)
{
    for (;;) {
        struct pollfd p[3] = {{.fd = s->stop_pipe[0], .events = POLLIN},
                              {.fd = s->listen_fd, .events = POLLIN},
                              {.fd = fd, .events = POLLIN}};
        if (poll(p, fd >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (p[0].revents & POLLIN)
            return -1;
        if (fd >= 0 && (p[2].revents & (POLLIN | POLLHUP)) != 0)
            return fd;
        if (p[1].revents & POLLIN)
            return s->listen_fd;
    }
}

static void hang_up(int fd)
{
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *run(void *arg)
{
    struct fx_server *s = arg;
    char *buf = malloc(FX_MAX_HEAD);
    if (buf == NULL)
        die("malloc");
    int fd = -1; /* the connection kept alive, or -1 */
    unsigned connections = 0;
    for (int ready; (ready = wait_either(s, fd)) >= 0;) {
        if (ready == s->listen_fd) {
            int c = accept(s->listen_fd, NULL, NULL);
            if (c < 0)
                continue;
            if (fd >= 0)
                hang_up(fd); /* one connection at a time: the client moved on */
            fd = c;
            connections++;
        }
        if (!serve(s, fd, buf, connections)) {
            hang_up(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        hang_up(fd);
    free(buf);
    return NULL;
}

struct fx_server *fx_start(const struct fx_step *steps, size_t n_steps)
{
    return fx_start_with(steps, n_steps, NULL);
}

struct fx_server *fx_start_with(const struct fx_step *steps, size_t n_steps, const struct fx_options *opts)
{
    struct fx_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        die("calloc");
    if (opts != NULL)
        s->opts = *opts;
    s->steps = calloc(n_steps + 1, sizeof(*s->steps));
    if (s->steps == NULL)
        die("calloc");
    for (size_t i = 0; i < n_steps; i++) {
        s->steps[i] = steps[i];
        if (steps[i].body != NULL)
            s->steps[i].body = dup_or_die(steps[i].body, strlen(steps[i].body));
    }
    s->n_steps = n_steps;
    pthread_mutex_init(&s->lock, NULL);
    if (pipe(s->stop_pipe) < 0)
        die("pipe");
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->listen_fd, 16) < 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) < 0)
        die("bind/listen");
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    if (pthread_create(&s->thread, NULL, run, s) != 0)
        die("pthread_create");
    return s;
}

const char *fx_url(const struct fx_server *s)
{
    return s->url;
}

size_t fx_count(struct fx_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

const struct fx_request *fx_request(struct fx_server *s, size_t i)
{
    return i < fx_count(s) ? &s->requests[i] : NULL;
}

const char *fx_header(const struct fx_request *r, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (const char *h = r->headers; h != NULL && *h != '\0';) {
        const char *eol = strstr(h, "\r\n");
        size_t len = eol ? (size_t)(eol - h) : strlen(h);
        if (len > n && strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(buf, size, "%.*s", (int)(h + len - v), v);
            return buf;
        }
        h = eol ? eol + 2 : NULL;
    }
    return NULL;
}

bool fx_all_expected(struct fx_server *s)
{
    size_t n = fx_count(s);
    for (size_t i = 0; i < n; i++)
        if (!s->requests[i].expected)
            return false;
    return true;
}

void fx_free(struct fx_server *s)
{
    if (s == NULL)
        return;
    if (write(s->stop_pipe[1], "x", 1) != 1)
        die("write");
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    for (size_t i = 0; i < s->n_requests; i++) {
        free(s->requests[i].method);
        free(s->requests[i].path);
        free(s->requests[i].headers);
        free(s->requests[i].body);
    }
    for (size_t i = 0; i < s->n_steps; i++)
        free((void *)(uintptr_t)s->steps[i].body); /* our copy */
    free(s->steps);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int fx_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
        die("bind");
    close(fd);
    return ntohs(a.sin_port);
}
