/* A scripted HTTP/1.1 server on 127.0.0.1 (an ephemeral port) in a thread, for unit tests of HTTP clients. */
#ifndef WD_FIXTURE_HTTP_H
#define WD_FIXTURE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* One answer of the script, in order: the n-th request gets the n-th step. */
struct fx_step {
    const char *method; /* the request expected, or NULL for any */
    const char *path;   /* expected exactly (query included), or NULL for any */
    int status;         /* 0: close the connection without answering */
    const char *body;   /* copied at fx_start; NULL: empty */
    int delay_ms;       /* before answering; fx_stop cuts it short */
};

/* What arrived. */
struct fx_request {
    char *method;
    char *path;
    char *headers; /* the header lines as received, "Name: value\r\n" each */
    char *body;    /* the body as received (Content-Length bytes, NUL-terminated), "" when none */
    size_t body_len;
    bool expected;       /* method and path matched the step (and there was a step left) */
    unsigned connection; /* which connection it came on: 1 for the first one accepted, 2 for the next, ... */
};

/* How the server behaves beyond its script; a zeroed struct is fx_start()'s behaviour. */
struct fx_options {
    bool keep_alive;     /* answer without "Connection: close" and read the next request on that connection */
    long clock_offset_s; /* every answer's Date header says now + this: a server whose clock is off */
    /* Extra response header lines ("ETag: \"x\"\r\n") of step i, for i < n_step_headers; NULL: none.
     * Borrowed: they must outlive the server. */
    const char *const *step_headers;
    size_t n_step_headers;
};

struct fx_server;

/* Listens and starts the thread; copies the steps. Aborts the test program on failure. */
struct fx_server *fx_start(const struct fx_step *steps, size_t n_steps);
/* The same with options (NULL: none). */
struct fx_server *fx_start_with(const struct fx_step *steps, size_t n_steps, const struct fx_options *opts);
/* "http://127.0.0.1:PORT" */
const char *fx_url(const struct fx_server *s);
/* How many requests arrived so far (thread-safe). */
size_t fx_count(struct fx_server *s);
/* The i-th request (i < fx_count()): stable once it has been counted. */
const struct fx_request *fx_request(struct fx_server *s, size_t i);
/* The value of header name in r (case-insensitive name), copied into buf; NULL when absent. */
const char *fx_header(const struct fx_request *r, const char *name, char *buf, size_t size);
/* True when every request matched its step and none came beyond the script. */
bool fx_all_expected(struct fx_server *s);
/* Stops the thread and frees everything; accepts NULL. */
void fx_free(struct fx_server *s);
/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
int fx_closed_port(void);

#endif
