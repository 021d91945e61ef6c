/* One HTTP call through a libcurl easy handle: run on the client's pool from a fiber, else blocking. */
#include "http.h"

#include <curl/curl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "fiber.h"
#include "http_pool.h"

#define DEFAULT_MAX_RESPONSE (16u * 1024 * 1024)

/* The suppressed headers and room for a call's own: AWS calls send about ten. */
#define MAX_HEADERS 32

struct wd_http {
    CURL *curl;
    struct wd_http_options opts;
    char *ca_file;
    /*
     * The request's header list, reused from call to call: the lines are written into one buffer and
     * the list's nodes point into it, so a call allocates nothing for its headers once the buffer has
     * grown to fit. The buffer is wiped after each call: it holds the Authorization value.
     */
    struct curl_slist nodes[MAX_HEADERS];
    struct wd_buf lines;
};

struct sink {
    struct wd_http_response *resp;
    size_t max;
    bool too_large;
    bool nomem;
};

int wd_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void wd_http_global_cleanup(void)
{
    curl_global_cleanup();
}

struct wd_http *wd_http_new(const struct wd_http_options *opts, struct wd_error *err)
{
    struct wd_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto nomem;
    h->opts = *opts;
    if (opts->ca_file != NULL && (h->ca_file = strdup(opts->ca_file)) == NULL)
        goto nomem;
    h->opts.ca_file = h->ca_file;
    h->curl = curl_easy_init();
    if (h->curl == NULL)
        goto nomem;
    return h;
nomem:
    wd_http_free(h);
    wd_error_nomem(err);
    return NULL;
}

void wd_http_free(struct wd_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    wd_buf_free_secure(&h->lines);
    free(h->ca_file);
    free(h);
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t len = size * n;
    if (s->resp->body.len + len > s->max) {
        /* Keep what fits: an error answer is still classified by its status and the start of its body. */
        if (wd_buf_append(&s->resp->body, p, s->max - s->resp->body.len) < 0)
            s->nomem = true;
        s->too_large = true;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (wd_buf_append(&s->resp->body, p, len) < 0) {
        s->nomem = true;
        return 0;
    }
    return len;
}

/*
 * Copies the value of header line p[0..len) into dst[size] when its name (with the colon) is `name`:
 * blanks around it dropped. A value that does not fit is cut when cut is set, else left out ("").
 */
static void header_value(const char *p, size_t len, const char *name, char *dst, size_t size, bool cut)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(p, name, nlen) != 0)
        return;
    const char *v = p + nlen;
    size_t vlen = len - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 &&
           (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (vlen >= size && !cut)
        vlen = 0;
    if (vlen >= size)
        vlen = size - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t len = size * n;
    /* A new status line starts a new response (e.g. after "100 Continue"): forget earlier headers. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        s->resp->date[0] = '\0';
        s->resp->etag[0] = '\0';
        return len;
    }
    header_value(p, len, "date:", s->resp->date, sizeof(s->resp->date), true);
    /* A cut ETag would name another version: a condition on it must not be sent at all. It goes back
     * out in an If-Match header, so only printable ASCII is taken: no CR smuggling a header in. */
    header_value(p, len, "etag:", s->resp->etag, sizeof(s->resp->etag), false);
    for (const char *e = s->resp->etag; *e; e++)
        if (*e < 0x21 || *e > 0x7e) {
            s->resp->etag[0] = '\0';
            break;
        }
    return len;
}

/*
 * A failed TLS handshake (CURLE_SSL_CONNECT_ERROR) is either the connection breaking under it (a reset, an
 * EOF: curl's socket layer says "Recv failure"/"Send failure", OpenSSL SSL_ERROR_SYSCALL), which a later
 * attempt may cure, or the peer speaking no TLS we accept (an OpenSSL "SSL routines" error: plain HTTP on
 * the port, no common protocol or cipher), which no retry cures.
 */
static bool handshake_refused(const char *why)
{
    return strstr(why, "routines:") != NULL && strstr(why, "unexpected eof") == NULL;
}

/* The length of url's "scheme://host[:port]": the endpoint a TLS failure is about. */
static int origin_len(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return (int)(host - url + (ptrdiff_t)strcspn(host, "/?#"));
}

static int classify_curl(CURLcode rc, const char *errbuf, const struct wd_http_request *req,
                         struct wd_error *err)
{
    /* curl's text can quote the peer (a certificate's names): escaped like any outside string. */
    char why[CURL_ERROR_SIZE * 2];
    const char *text = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    wd_escape_fixed(why, sizeof(why), WD_ESCAPE_REASON, text, strlen(text));
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION: /* unknown CA, wrong host name, expired: all come as this */
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        /* The reason before the call: a long key in the URL must not cut it off the message. */
        return wd_error_set(err, WD_ERR_CONFIG, 0, "TlsCertificate",
                            "TLS certificate of %.*s refused: %s (%s %s)", origin_len(req->url), req->url,
                            why, req->method, req->url);
    case CURLE_SSL_CONNECT_ERROR:
        if (!handshake_refused(text))
            return wd_error_set(err, WD_ERR_TRANSIENT, 0, "ConnectionError", "%s %s: TLS handshake cut: %s",
                                req->method, req->url, why);
        return wd_error_set(err, WD_ERR_CONFIG, 0, "TlsHandshake",
                            "TLS handshake with %.*s refused: %s (%s %s)", origin_len(req->url), req->url,
                            why, req->method, req->url);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return wd_error_set(err, WD_ERR_CONFIG, 0, "HttpSetup", "%s %s: %s", req->method, req->url, why);
    case CURLE_OPERATION_TIMEDOUT:
        return wd_error_set(err, WD_ERR_TRANSIENT, 0, "Timeout", "%s %s: %s", req->method, req->url, why);
    default:
        return wd_error_set(err, WD_ERR_TRANSIENT, 0, "ConnectionError", "%s %s: %s", req->method, req->url,
                            why);
    }
}

/*
 * The gate asked again just before curl sends the request, once connected: a call that waited in the
 * pool for a connection, or in a process that was paused (SIGSTOP, a VM frozen), is not sent after the
 * lease may have passed to another. curl then ends it with CURLE_ABORTED_BY_CALLBACK.
 */
static int on_prereq(void *ctx, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    const struct wd_http *h = ctx;
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    return h->opts.gate(h->opts.gate_ctx) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

int wd_http_send(struct wd_http *h, const struct wd_http_request *req, struct wd_http_response *resp,
                 struct wd_error *err)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    CURL *c = h->curl;

    wd_buf_reset(&resp->body);
    resp->status = 0;
    resp->date[0] = '\0';
    resp->etag[0] = '\0';
    if (h->opts.gate != NULL && !h->opts.gate(h->opts.gate_ctx))
        return wd_error_set(err, WD_ERR_FENCED, 0, "NotLeader",
                            "not sent: this instance does not hold the lease long enough for a call");
    struct sink sink = {.resp = resp, .max = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE};

    /* curl_easy_reset keeps live connections, so keep-alive survives the per-call reset. */
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* S3 keys may hold "." and ".." segments */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->opts.timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    /*
     * AWS's answers here are small (a request, an error, a few hundred bytes of headers), and with many
     * calls in flight curl's default 16 KB receive buffer per handle is most of widgetd's heap; a large
     * answer (a listing page) is read in more, smaller pieces.
     */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 1024L); /* curl's least */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    if (h->opts.gate != NULL) {
        curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(c, CURLOPT_PREREQDATA, h);
    }
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->opts.verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->opts.verify_tls ? 2L : 0L);
    if (h->opts.ca_file != NULL) {
        /* The given bundle alone, as AWS_CA_BUNDLE means to the SDKs: not also the system's directory. */
        curl_easy_setopt(c, CURLOPT_CAINFO, h->opts.ca_file);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    }
    if (h->opts.no_proxy)
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    bool pooled = h->opts.pool != NULL && wd_fiber_current() != NULL;
    if (pooled)
        curl_easy_setopt(c, CURLOPT_SHARE, wd_http_pool_share(h->opts.pool));
    /*
     * libcurl itself sends a request again, once, when a reused connection turns out to be dead before
     * any answer. A fresh connection for a retry keeps that to the first attempt: at most one extra send
     * per call beyond the retry policy's attempts.
     */
    if (req->fresh_connection)
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);

    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS with an explicit size sends exactly these bytes for PUT and POST alike. */
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body != NULL || strcmp(req->method, "DELETE") != 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }

    /* Only the signed headers go out: no "Expect: 100-continue" round trip, no form content type. */
    static const char *const suppress[] = {"Expect:", "Content-Type:", "Accept:"};
    size_t n_suppress = sizeof(suppress) / sizeof(suppress[0]), n = 0;
    size_t at[MAX_HEADERS];
    if (n_suppress + req->n_headers > MAX_HEADERS) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s %s: too many headers (%zu)", req->method, req->url,
                     req->n_headers);
        goto out;
    }
    /* Sized first, so that the buffer never moves while a secret is in it (a move frees unwiped). */
    size_t need = 0;
    for (size_t i = 0; i < n_suppress; i++)
        need += strlen(suppress[i]) + 1;
    for (size_t i = 0; i < req->n_headers; i++)
        need += strlen(req->headers[i].name) + 2 + strlen(req->headers[i].value) + 1;
    if (h->lines.cap < need + 1) {
        wd_buf_free_secure(&h->lines);
        if (wd_buf_reserve(&h->lines, need + 1) < 0)
            goto nomem;
    }
    wd_buf_reset(&h->lines);
    for (size_t i = 0; i < n_suppress; i++) {
        at[n++] = h->lines.len;
        if (wd_buf_append(&h->lines, suppress[i], strlen(suppress[i]) + 1) < 0)
            goto nomem;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        at[n++] = h->lines.len;
        if (wd_buf_append_str(&h->lines, req->headers[i].name) < 0 || wd_buf_append(&h->lines, ": ", 2) < 0 ||
            wd_buf_append_str(&h->lines, req->headers[i].value) < 0 || wd_buf_append(&h->lines, "", 1) < 0)
            goto nomem;
    }
    /* Only now, with the buffer grown to its size, can the nodes point into it. */
    for (size_t i = 0; i < n; i++)
        h->nodes[i] =
            (struct curl_slist){.data = h->lines.data + at[i], .next = i + 1 < n ? &h->nodes[i + 1] : NULL};
    hdrs = h->nodes;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    CURLcode cc = pooled ? wd_http_pool_perform(h->opts.pool, c) : curl_easy_perform(c);
    if (sink.nomem) {
        wd_error_nomem(err);
        goto out;
    }
    if (sink.too_large) {
        /*
         * Too large only means something for a success: the body is what was asked for. An error answer
         * (a proxy's page, a server's long message) is an answer like any other, cut short; its status
         * decides, so a 503 stays transient whatever its size.
         */
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 0 || (status >= 200 && status <= 299)) {
            wd_error_set(err, WD_ERR_CLIENT, status, "ResponseTooLarge",
                         "%s %s: response larger than %zu bytes", req->method, req->url, sink.max);
            goto out;
        }
        resp->status = status;
        rc = 0;
        goto out;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK && h->opts.gate != NULL && !h->opts.gate(h->opts.gate_ctx)) {
        wd_error_set(err, WD_ERR_FENCED, 0, "NotLeader",
                     "not sent: the lease may pass to another instance before this call could end");
        goto out;
    }
    if (cc != CURLE_OK) {
        classify_curl(cc, errbuf, req, err);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = 0;
    goto out;
nomem:
    wd_error_nomem(err);
out:
    /* The header lines hold the Authorization value: wiped, the buffer kept for the next call. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (h->lines.data != NULL)
        OPENSSL_cleanse(h->lines.data, h->lines.len);
    (void)hdrs;
    return rc;
}

void wd_http_response_clear(struct wd_http_response *r)
{
    wd_buf_free(&r->body);
    r->status = 0;
    r->date[0] = '\0';
    r->etag[0] = '\0';
}

void wd_http_sleep(struct wd_http *h, double s)
{
    if (s <= 0)
        return;
    if (h->opts.pool != NULL && wd_fiber_current() != NULL) {
        wd_http_pool_sleep(h->opts.pool, s);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

time_t wd_http_parse_date(const char *s)
{
    return curl_getdate(s, NULL);
}
