/* HTTP over libcurl: one keep-alive connection cache per client, connect and total timeouts. No signing, no
 * retries. */
#ifndef WD_HTTP_H
#define WD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "header.h"

struct wd_http_options {
    long connect_timeout_ms;
    long timeout_ms;     /* whole call, so a stalled server cannot wedge a worker */
    const char *ca_file; /* NULL: the system's CA bundle and directory; else this bundle alone */
    bool verify_tls;
    bool no_proxy; /* never use a proxy from the environment (instance and container metadata are local) */
    /*
     * When set, a call made from a fiber runs on this pool while the fiber waits (http_pool.h); else, and
     * outside any fiber, wd_http_send blocks. Borrowed: it must outlive the client.
     */
    struct wd_http_pool *pool;
    /*
     * When set, asked before each call is sent; false fails the call unsent with WD_ERR_FENCED. With a
     * lease (SPEC 9) a leader starts no call that could outlive its lease, and a standby none at all.
     */
    bool (*gate)(void *ctx);
    void *gate_ctx;
};

/* One client per thread or fiber: not thread-safe; reuses its connections (keep-alive) across calls, or the
 * pool's when it has one. */
struct wd_http;

struct wd_http_request {
    const char *method; /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *url;    /* absolute; the path is sent exactly as given (dot segments kept) */
    const struct wd_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t max_response;   /* 0: 16 MiB; a larger 2xx body fails with WD_ERR_CLIENT "ResponseTooLarge", a
                              larger error answer comes back cut to max_response, for its status to decide */
    bool fresh_connection; /* open a new connection (a retry: the kept-alive one may be what failed) */
};

struct wd_http_response {
    long status;
    struct wd_buf body;
    char date[64];  /* the Date header, for clock-skew correction, or "" */
    char etag[128]; /* the ETag header as sent (quotes included), or "" when absent or longer */
};

/* Returns a client, or NULL with err set. Borrows nothing from opts after returning. */
struct wd_http *wd_http_new(const struct wd_http_options *opts, struct wd_error *err);
void wd_http_free(struct wd_http *h);

/*
 * Sends the request and fills resp (status + body) when any HTTP response arrived, whatever its status:
 * classifying a status is the caller's job. Returns -1 with err when no response arrived: WD_ERR_TRANSIENT
 * for connection errors, timeouts and a handshake the connection broke under; WD_ERR_CONFIG for what no
 * retry cures: a refused certificate (code "TlsCertificate": unknown CA, wrong host name, expired; the
 * message names the endpoint and curl's reason, escaped), a peer speaking no acceptable TLS
 * ("TlsHandshake"), an unreadable CA file or a bad URL ("HttpSetup").
 */
int wd_http_send(struct wd_http *h, const struct wd_http_request *req, struct wd_http_response *resp,
                 struct wd_error *err);

void wd_http_response_clear(struct wd_http_response *r);

/* Waits seconds before a retry: the fiber waits on the pool when there is one, else the thread sleeps. */
void wd_http_sleep(struct wd_http *h, double seconds);

/* Parses an HTTP date (RFC 1123 and the older forms), or returns (time_t)-1. */
time_t wd_http_parse_date(const char *s);

/* curl_global_init: call once before any thread starts. Returns 0 or -1. */
int wd_http_global_init(void);
void wd_http_global_cleanup(void);

#endif
