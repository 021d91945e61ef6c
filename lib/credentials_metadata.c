/*
 * Credentials from AWS's metadata endpoints over HTTP: the container endpoint and EC2 instance metadata
 * (IMDSv2 only). Every buffer that holds an answer is reserved whole and wiped when dropped.
 */
#include "credentials_metadata.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "credentials_source.h"
#include "http.h"

/* Metadata answers are a few kilobytes; the buffer is reserved whole so that it never moves unwiped. */
#define ANSWER_MAX (32 * 1024)
/* A container authorization token file is one line. */
#define TOKEN_FILE_MAX (16 * 1024)

/* Short, so that a machine without a metadata service fails fast (the SDKs use 1-2 s). */
#define METADATA_CONNECT_MS 1000
#define METADATA_TIMEOUT_MS 2000

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_ENDPOINT "http://169.254.169.254"
#define IMDS_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"

static char container_host[256] = CONTAINER_HOST;

void wd_credentials_set_container_host_for_tests(const char *base)
{
    snprintf(container_host, sizeof(container_host), "%s", base != NULL ? base : CONTAINER_HOST);
}

/* ---- Talking to the metadata endpoints ---- */

/* "2026-11-25T21:00:00Z", with optional fractional seconds and a numeric offset. Returns 0 or -1. */
static int parse_time(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned hh, mm;
        int n = 0;
        if (sscanf(p + 1, "%2u:%2u%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
            return -1;
        offset = sign * (long)(hh * 3600 + mm * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t - offset;
    return 0;
}

/* The token, header-safe: printable ASCII only, so it cannot smuggle in another header. */
static bool header_safe(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static struct wd_http *metadata_client(struct wd_error *err)
{
    struct wd_http_options o = {.connect_timeout_ms = METADATA_CONNECT_MS,
                                .timeout_ms = METADATA_TIMEOUT_MS,
                                .verify_tls = true,
                                .no_proxy = true};
    return wd_http_new(&o, err);
}

/*
 * One call whose answer may hold a secret: the body is reserved whole before the call so that it never
 * moves (a realloc would free a copy unwiped); the caller frees it with wd_buf_free_secure(). Returns 0
 * when any answer arrived, -1 with err (prefixed with what) when none did.
 */
static int call(struct wd_http *h, const char *what, const char *method, const char *url,
                const struct wd_header *hdrs, size_t n_hdrs, struct wd_http_response *resp,
                struct wd_error *err)
{
    if (resp->body.cap < ANSWER_MAX + 1 && wd_buf_reserve(&resp->body, ANSWER_MAX) < 0)
        return wd_error_nomem(err);
    struct wd_http_request req = {
        .method = method, .url = url, .headers = hdrs, .n_headers = n_hdrs, .max_response = ANSWER_MAX};
    if (wd_http_send(h, &req, resp, err) == 0)
        return 0;
    if (err != NULL) {
        struct wd_error why = *err;
        wd_error_set(err, why.cls, why.http_status, why.code, "%s: %s", what, why.message);
    }
    return -1;
}

/* A failing status: 5xx and 429 may pass, anything else is the deployment's to fix. Returns -1. */
static int status_error(const char *what, long status, struct wd_error *err)
{
    enum wd_error_class cls = status >= 500 || status == 429 ? WD_ERR_TRANSIENT : WD_ERR_CONFIG;
    return wd_error_set(err, cls, status, NULL, "%s answered HTTP %ld", what, status);
}

/* Overwrites a string inside a jansson value: jansson frees its copies unwiped. */
static void json_wipe_strings(json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (json_is_string(v))
            OPENSSL_cleanse((void *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
}

static const char *json_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/*
 * The answer of both endpoints: {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (IMDS adds
 * "Code": "Success"). Returns 0 with out filled or -1 with err; never quotes the answer.
 */
static int parse_answer(const char *what, const struct wd_buf *body, struct wd_credentials *out,
                        struct wd_error *err)
{
    struct wd_credentials c = {0};
    int rc = -1;
    json_t *root = json_loadb(body->data != NULL ? body->data : "", body->len, 0, NULL);
    if (!json_is_object(root)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the answer is not a JSON object", what);
        goto out;
    }
    const char *code = json_member(root, "Code");
    if (code != NULL && strcmp(code, "Success") != 0) {
        wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL, "%s: the answer's Code is \"%.64s\", not \"Success\"",
                     what, code);
        goto out;
    }
    const char *id = json_member(root, "AccessKeyId");
    const char *secret = json_member(root, "SecretAccessKey");
    const char *token = json_member(root, "Token");
    const char *expiration = json_member(root, "Expiration");
    const char *missing = id == NULL           ? "AccessKeyId"
                          : secret == NULL     ? "SecretAccessKey"
                          : expiration == NULL ? "Expiration"
                                               : NULL;
    if (missing != NULL) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the answer has no %s", what, missing);
        goto out;
    }
    if (parse_time(expiration, &c.expiration) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                     "%s: the answer's Expiration \"%.64s\" is not an ISO 8601 time", what, expiration);
        goto out;
    }
    if (c.expiration <= wd_credentials_wall_now()) {
        wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL,
                     "%s: the credentials it gave expired at %.64s (is the clock right?)", what, expiration);
        goto out;
    }
    struct wd_credentials borrowed = {(char *)(uintptr_t)id, (char *)(uintptr_t)secret,
                                      (char *)(uintptr_t)token, c.expiration};
    if (wd_credentials_copy(&borrowed, out) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    rc = 0;
out:
    if (json_is_object(root))
        json_wipe_strings(root);
    json_decref(root);
    return rc;
}

/* ---- The container endpoint (ECS, EKS Pod Identity, local emulators) ---- */

struct container {
    char *url;        /* where to GET */
    char *origin;     /* scheme://host[:port], for messages and the source */
    char *token;      /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret), or NULL */
    char *token_file; /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, read at each call, or NULL */
};

static void container_clear(struct container *c)
{
    free(c->url);
    free(c->origin);
    wd_credentials_free_secret(&c->token);
    free(c->token_file);
    memset(c, 0, sizeof(*c));
}

/* Loopback, or one of the link-local addresses ECS and EKS Pod Identity serve credentials on. */
static bool allowed_http_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 127 || a == 0xa9feaa02u /* 169.254.170.2 */ || a == 0xa9feaa17u /* .23 */;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        struct in6_addr eks;
        inet_pton(AF_INET6, "fd00:ec2::23", &eks);
        return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &eks, sizeof(eks)) == 0;
    }
    return false;
}

/*
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, checked as the SDKs do: https anywhere, http only to loopback (or
 * the ECS/EKS addresses). Anything unusual in the authority (user info, escapes) is refused rather than
 * parsed differently from curl. Returns 0 with *origin_len, or -1 with err.
 */
static int check_full_uri(const char *url, size_t *origin_len, struct wd_error *err)
{
    static const char var[] = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" is not an http:// or https:// URL", var,
                            url);
    const char *auth = url + (https ? 8 : 7);
    size_t n = strcspn(auth, "/?#");
    char host[256];
    if (n == 0 || n >= sizeof(host) ||
        strspn(auth, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:[]") < n)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
    const char *end;
    if (auth[0] == '[') {
        end = memchr(auth, ']', n);
        if (end == NULL)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
        memcpy(host, auth + 1, (size_t)(end - auth - 1));
        host[end - auth - 1] = '\0';
        end++;
    } else {
        end = auth + strcspn(auth, ":/?#");
        memcpy(host, auth, (size_t)(end - auth));
        host[end - auth] = '\0';
    }
    const char *rest = end;
    bool port_ok = rest == auth + n || (rest[0] == ':' && rest + 1 < auth + n &&
                                        strspn(rest + 1, "0123456789") == (size_t)(auth + n - rest - 1));
    if (!port_ok || host[0] == '\0')
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
    if (!https && !allowed_http_host(host))
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "%s \"%s\": plain http is allowed only to a loopback address (or the ECS/EKS "
                            "container endpoints); use https",
                            var, url);
    *origin_len = (size_t)(auth + n - url);
    return 0;
}

/* Returns 1 with c filled when the environment names a container endpoint, 0 when not, -1 with err. */
static int container_config(struct container *c, struct wd_error *err)
{
    const char *rel = wd_credentials_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = wd_credentials_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    struct wd_buf url = {0};

    if (rel != NULL) { /* the SDKs prefer it when both are set */
        if (rel[0] != '/')
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \"%s\" does not start with /", rel);
        if (wd_buf_printf(&url, "%s%s", container_host, rel) < 0 ||
            (c->origin = strdup(container_host)) == NULL)
            goto nomem;
    } else if (full != NULL) {
        size_t origin_len = 0;
        if (check_full_uri(full, &origin_len, err) < 0)
            return -1;
        if (wd_buf_append_str(&url, full) < 0 || (c->origin = strndup(full, origin_len)) == NULL)
            goto nomem;
    } else {
        return 0;
    }
    if ((c->url = wd_buf_steal(&url)) == NULL)
        goto nomem;

    const char *file = wd_credentials_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token = wd_credentials_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (file != NULL) { /* botocore reads the file first, and again at every refresh (EKS rotates it) */
        if ((c->token_file = strdup(file)) == NULL)
            goto nomem;
    } else if (token != NULL) {
        if (!header_safe(token)) {
            container_clear(c);
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break or another character "
                                "not allowed in an HTTP header");
        }
        if ((c->token = strdup(token)) == NULL)
            goto nomem;
    }
    return 1;
nomem:
    wd_buf_free(&url);
    container_clear(c);
    return wd_error_nomem(err);
}

/* Reads the token file into tok (a secret: the caller wipes it), trailing white space trimmed. */
static int read_token_file(const char *path, struct wd_buf *tok, struct wd_error *err)
{
    static const char var[] = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s: %s", var, path, strerror(errno));
    int rc = -1;
    if (wd_buf_reserve(tok, TOKEN_FILE_MAX) < 0) { /* whole, so it never moves */
        wd_error_nomem(err);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, tok->data + tok->len, TOKEN_FILE_MAX - tok->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s: %s", var, path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        tok->len += (size_t)n;
        if (tok->len == TOKEN_FILE_MAX) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s is larger than 16 KiB", var, path);
            goto out;
        }
    }
    while (tok->len > 0 && isspace((unsigned char)tok->data[tok->len - 1]))
        tok->len--;
    tok->data[tok->len] = '\0';
    if (!header_safe(tok->data) || strlen(tok->data) != tok->len) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "%s %s is empty or holds more than one line or a character not allowed in an HTTP "
                     "header",
                     var, path);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static int container_fetch(const struct container *c, struct wd_http *h, struct wd_credentials *out,
                           struct wd_error *err)
{
    struct wd_buf tok = {0}, what = {0};
    struct wd_http_response resp = {0};
    struct wd_header auth = {"Authorization", NULL};
    int rc = -1;

    if (wd_buf_printf(&what, "container endpoint %s", c->origin) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (c->token_file != NULL) {
        if (read_token_file(c->token_file, &tok, err) < 0)
            goto out;
        auth.value = tok.data;
    } else {
        auth.value = c->token;
    }
    if (call(h, what.data, "GET", c->url, &auth, auth.value != NULL ? 1 : 0, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    rc = parse_answer(what.data, &resp.body, out, err);
out:
    wd_buf_free_secure(&tok);
    wd_buf_free_secure(&resp.body);
    wd_buf_free(&what);
    return rc;
}

/* ---- EC2 instance metadata, IMDSv2 only ---- */

static bool imds_disabled(void)
{
    const char *v = wd_credentials_env("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* Returns the endpoint without a trailing slash (owned), or NULL with err. */
static char *imds_endpoint(struct wd_error *err)
{
    const char *e = wd_credentials_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = wd_credentials_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (e == NULL)
        e = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? IMDS_ENDPOINT_IPV6 : IMDS_ENDPOINT;
    else if (strncasecmp(e, "http://", 7) != 0 && strncasecmp(e, "https://", 8) != 0) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "AWS_EC2_METADATA_SERVICE_ENDPOINT \"%s\" is not an http:// or https:// URL", e);
        return NULL;
    }
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    char *s = strndup(e, n);
    if (s == NULL)
        wd_error_nomem(err);
    return s;
}

/* An IAM role name: [\w+=,.@-]{1,64}; anything else would change the path. */
static bool role_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("+=,.@_-", s[i]) == NULL)
            return false;
    return true;
}

/*
 * PUT a session token, GET the role name, GET its credentials: never without the token (IMDSv1).
 * *answered says whether the endpoint answered the token request at all (a machine without IMDS does not).
 * role (owned, may be NULL) receives the role's name. Returns 0 or -1 with err; WD_ERR_CONFIG with code
 * "NoCredentials" means that the service answered but has no credentials to give.
 */
static int imds_fetch(const char *endpoint, struct wd_http *h, bool *answered, char **role,
                      struct wd_credentials *out, struct wd_error *err)
{
    struct wd_buf url = {0}, what = {0};
    struct wd_http_response resp = {0};
    char *token = NULL;
    char *name = NULL;
    int rc = -1;
    *answered = false;

    if (wd_buf_printf(&what, "instance metadata %s", endpoint) < 0 ||
        wd_buf_printf(&url, "%s/latest/api/token", endpoint) < 0)
        goto nomem;
    const struct wd_header ttl = {"X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL};
    if (call(h, what.data, "PUT", url.data, &ttl, 1, &resp, err) < 0)
        goto out;
    *answered = true;
    if (resp.status != 200) {
        if (resp.status >= 500 || resp.status == 429) {
            status_error(what.data, resp.status, err);
        } else {
            wd_error_set(err, WD_ERR_CONFIG, resp.status, "NoCredentials",
                         "%s refused the IMDSv2 session token (HTTP %ld); widgetd never uses IMDSv1",
                         what.data, resp.status);
        }
        goto out;
    }
    size_t n = resp.body.len;
    while (n > 0 && isspace((unsigned char)resp.body.data[n - 1]))
        n--;
    resp.body.data[n] = '\0';
    if (!header_safe(resp.body.data) || strlen(resp.body.data) != n) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the session token is empty or not a header value",
                     what.data);
        goto out;
    }
    if ((token = strdup(resp.body.data)) == NULL)
        goto nomem;
    const struct wd_header with_token = {"X-aws-ec2-metadata-token", token};

    wd_buf_reset(&url);
    if (wd_buf_printf(&url, "%s/latest/meta-data/iam/security-credentials/", endpoint) < 0)
        goto nomem;
    if (call(h, what.data, "GET", url.data, &with_token, 1, &resp, err) < 0)
        goto out;
    if (resp.status == 404) {
        wd_error_set(err, WD_ERR_CONFIG, 404, "NoCredentials", "%s: no IAM role is attached to this instance",
                     what.data);
        goto out;
    }
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    n = strcspn(resp.body.data, "\r\n"); /* the first line */
    while (n > 0 && isspace((unsigned char)resp.body.data[n - 1]))
        n--;
    if (!role_name_ok(resp.body.data, n)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the role name it gave is not an IAM role name",
                     what.data);
        goto out;
    }
    if ((name = strndup(resp.body.data, n)) == NULL || wd_buf_append_str(&url, name) < 0)
        goto nomem;
    if (call(h, what.data, "GET", url.data, &with_token, 1, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    wd_buf_reset(&what);
    if (wd_buf_printf(&what, "instance metadata %s (role %s)", endpoint, name) < 0)
        goto nomem;
    if (parse_answer(what.data, &resp.body, out, err) < 0)
        goto out;
    if (role != NULL) {
        *role = name;
        name = NULL;
    }
    rc = 0;
    goto out;
nomem:
    wd_error_nomem(err);
out:
    wd_credentials_free_secret(&token);
    free(name);
    wd_buf_free_secure(&resp.body);
    wd_buf_free(&url);
    wd_buf_free(&what);
    return rc;
}

/* ---- The sources ---- */

enum endpoint_kind { ENDPOINT_CONTAINER, ENDPOINT_IMDS };

struct wd_metadata_source {
    enum endpoint_kind kind;
    struct container container; /* ENDPOINT_CONTAINER */
    char *imds_endpoint;        /* ENDPOINT_IMDS */
    struct wd_http *http;
};

void wd_metadata_free(struct wd_metadata_source *s)
{
    if (s == NULL)
        return;
    container_clear(&s->container);
    free(s->imds_endpoint);
    wd_http_free(s->http);
    free(s);
}

int wd_metadata_container_open(struct wd_metadata_source **src, struct wd_credentials *out,
                               struct wd_buf *source, struct wd_buf *tried, struct wd_error *err)
{
    struct wd_metadata_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return wd_error_nomem(err);
    s->kind = ENDPOINT_CONTAINER;
    int rc = container_config(&s->container, err);
    if (rc == 0) {
        rc = wd_credentials_note(tried, err,
                                 "container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
    } else if (rc > 0) {
        /* Named but failing: an error, not a reason to fall through to the instance's identity. */
        if ((s->http = metadata_client(err)) == NULL ||
            container_fetch(&s->container, s->http, out, err) < 0) {
            rc = -1;
        } else if (wd_buf_printf(source, "container endpoint %s", s->container.origin) < 0) {
            wd_credentials_clear(out);
            rc = wd_error_nomem(err);
        }
    }
    if (rc <= 0) {
        wd_metadata_free(s);
        return rc;
    }
    *src = s;
    return 1;
}

int wd_metadata_imds_open(struct wd_metadata_source **src, struct wd_credentials *out, struct wd_buf *source,
                          struct wd_buf *tried, struct wd_error *err)
{
    if (imds_disabled())
        return wd_credentials_note(tried, err, "instance metadata: disabled by AWS_EC2_METADATA_DISABLED");
    struct wd_metadata_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return wd_error_nomem(err);
    s->kind = ENDPOINT_IMDS;
    int rc = -1;
    bool answered;
    char *role = NULL;
    struct wd_error why = {0};
    if ((s->imds_endpoint = imds_endpoint(err)) == NULL || (s->http = metadata_client(err)) == NULL)
        goto out;
    if (imds_fetch(s->imds_endpoint, s->http, &answered, &role, out, &why) < 0) {
        /* No answer means no instance metadata here; an answer without credentials is a dead end too. */
        if (!answered) {
            rc = wd_credentials_note(tried, err, "instance metadata %s: no answer (%s)", s->imds_endpoint,
                                     why.code[0] != '\0' ? why.code : wd_error_class_name(why.cls));
        } else if (why.cls == WD_ERR_CONFIG && strcmp(why.code, "NoCredentials") == 0) {
            rc = wd_credentials_note(tried, err, "%s", why.message);
        } else if (err != NULL) {
            *err = why;
        }
        goto out;
    }
    if (wd_buf_printf(source, "instance metadata (role %s)", role) < 0) {
        wd_credentials_clear(out);
        rc = wd_error_nomem(err);
        goto out;
    }
    rc = 1;
out:
    free(role);
    if (rc <= 0) {
        wd_metadata_free(s);
        return rc;
    }
    *src = s;
    return 1;
}

int wd_metadata_fetch(struct wd_metadata_source *s, struct wd_credentials *out, struct wd_error *err)
{
    if (s->kind == ENDPOINT_CONTAINER)
        return container_fetch(&s->container, s->http, out, err);
    bool answered;
    return imds_fetch(s->imds_endpoint, s->http, &answered, NULL, out, err);
}
