/* AWS Signature Version 4 (header signing): canonical request, string to sign, key derivation, signature. */
#include "sigv4.h"

#include <limits.h>
#include <openssl/params.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sigv4_internal.h"
#include "uri.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SCOPE_TERMINATOR "aws4_request"
#define DIGEST_LEN 32

/* One header or query parameter while it is being sorted; the strings point into an arena buffer. */
struct pair {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    size_t index; /* position in the input, so equal names keep their order (qsort is not stable) */
};

/* Offsets into the arena, taken while the arena may still move; turned into pointers afterwards. */
struct pair_offsets {
    size_t name_off, name_len, value_off, value_len;
};

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/*
 * OpenSSL 3 looks algorithms up by name on every implicit use (EVP_sha256(), HMAC()), which cost more
 * than the hashing itself here. Fetch them once; fetched algorithms are immutable and thread-safe.
 */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static int sha256_hex(const void *data, size_t len, char hex[WD_SIGV4_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    pthread_once(&fetch_once, fetch_algorithms);
    if (sha256_md == NULL || EVP_Digest(data != NULL ? data : "", len, md, &md_len, sha256_md, NULL) != 1 ||
        md_len != DIGEST_LEN)
        return -1;
    hex_encode(md, DIGEST_LEN, hex);
    return 0;
}

void wd_sha256_hex(const void *data, size_t len, char hex[65])
{
    /* The header gives no way to fail; an empty string cannot pass for a digest anywhere it is used. */
    if (sha256_hex(data, len, hex) < 0)
        hex[0] = '\0';
}

static bool valid_scope_part(const char *s);

static int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[DIGEST_LEN])
{
    size_t out_len = 0;
    int rc = -1;
    pthread_once(&fetch_once, fetch_algorithms);
    if (hmac_mac == NULL)
        return -1;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    static char digest[] = "SHA256"; /* OSSL_PARAM wants a mutable string; nothing writes it */
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
        EVP_MAC_update(ctx, data != NULL ? data : (const void *)"", len) == 1 &&
        EVP_MAC_final(ctx, out, &out_len, DIGEST_LEN) == 1 && out_len == DIGEST_LEN)
        rc = 0;
    EVP_MAC_CTX_free(ctx); /* frees (and clears) the key schedule it holds */
    return rc;
}

int wd_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                         unsigned char key[WD_SIGV4_KEY_SIZE], struct wd_error *err)
{
    struct wd_buf k_secret = {0};
    unsigned char k_date[DIGEST_LEN], k_region[DIGEST_LEN], k_service[DIGEST_LEN], k_signing[DIGEST_LEN];
    int rc = -1;
    if (secret == NULL || secret[0] == '\0')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: secret access key is empty");
    if (date8 == NULL || strlen(date8) < 8 || !valid_scope_part(region) || !valid_scope_part(service))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "sigv4: date, region or service missing or malformed");
    /* One reservation, so no realloc leaves an unwiped copy of the secret behind. */
    size_t secret_len = strlen(secret);
    if (wd_buf_reserve(&k_secret, 4 + secret_len) < 0 || wd_buf_append(&k_secret, "AWS4", 4) < 0 ||
        wd_buf_append(&k_secret, secret, secret_len) < 0) {
        wd_error_nomem(err);
        goto done;
    }
    if (hmac_sha256(k_secret.data, k_secret.len, date8, 8, k_date) < 0 ||
        hmac_sha256(k_date, DIGEST_LEN, region, strlen(region), k_region) < 0 ||
        hmac_sha256(k_region, DIGEST_LEN, service, strlen(service), k_service) < 0 ||
        hmac_sha256(k_service, DIGEST_LEN, SCOPE_TERMINATOR, strlen(SCOPE_TERMINATOR), k_signing) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: HMAC-SHA256 failed");
        goto done;
    }
    memcpy(key, k_signing, DIGEST_LEN);
    rc = 0;
done:
    wd_buf_free_secure(&k_secret);
    OPENSSL_cleanse(k_date, sizeof(k_date));
    OPENSSL_cleanse(k_region, sizeof(k_region));
    OPENSSL_cleanse(k_service, sizeof(k_service));
    OPENSSL_cleanse(k_signing, sizeof(k_signing));
    return rc;
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* RFC 9110 token characters: anything else in a header name would make the canonical form ambiguous. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Scope parts sit between '/' in the credential scope, so a '/' or a blank would forge another scope. */
static bool valid_scope_part(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (is_ctl((unsigned char)*s) || *s == '/' || *s == ' ' || *s == ',')
            return false;
    return true;
}

static bool has_token(const struct wd_credentials *creds)
{
    return creds->session_token != NULL && creds->session_token[0] != '\0';
}

static int validate_inputs(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                           const struct wd_sigv4_params *params, struct wd_error *err)
{
    if (req == NULL || creds == NULL || params == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "sigv4: missing request, credentials or parameters");
    if (req->method == NULL || req->method[0] == '\0')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: request has no method");
    for (const char *p = req->method; *p != '\0'; p++)
        if (!is_tchar((unsigned char)*p))
            return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: method is not an HTTP token");
    if (req->path == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: request has no path");
    if (req->n_headers > 0 && req->headers == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: header count without headers");
    if (req->payload_len > 0 && req->payload == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: payload length without payload");
    if (req->payload_hash != NULL) {
        if (req->payload_hash[0] == '\0')
            return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: empty payload hash");
        for (const char *p = req->payload_hash; *p != '\0'; p++)
            if (is_ctl((unsigned char)*p) || *p == ' ')
                return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                                    "sigv4: payload hash has blanks or controls");
    }
    if (!valid_scope_part(params->region))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: region is empty or not a scope element");
    if (!valid_scope_part(params->service))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: service is empty or not a scope element");
    if (!valid_scope_part(creds->access_key_id))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: access key id is empty or malformed");
    if (creds->secret_access_key == NULL || creds->secret_access_key[0] == '\0')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: secret access key is empty");
    if (has_token(creds))
        for (const char *p = creds->session_token; *p != '\0'; p++)
            if (is_ctl((unsigned char)*p))
                return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                                    "sigv4: session token has control characters");
    return 0;
}

/* amz_date comes from outside in the staged API, and its first 8 bytes become the scope date. */
static int validate_amz_date(const char *amz_date, struct wd_error *err)
{
    if (amz_date == NULL || strlen(amz_date) != WD_SIGV4_AMZ_DATE_SIZE - 1 || amz_date[8] != 'T' ||
        amz_date[15] != 'Z')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: malformed x-amz-date");
    return 0;
}

int wd_sigv4_amz_date(time_t t, char out[WD_SIGV4_AMZ_DATE_SIZE], struct wd_error *err)
{
    struct tm tm;
    char tmp[32];
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
        strftime(tmp, sizeof(tmp), "%Y%m%dT%H%M%SZ", &tm) != WD_SIGV4_AMZ_DATE_SIZE - 1)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: signing time out of range");
    memcpy(out, tmp, WD_SIGV4_AMZ_DATE_SIZE);
    return 0;
}

/*
 * Drops empty and "." segments and resolves ".." the way aws-c-auth does (the test vectors come from it):
 * the result always starts with '/', and ends with '/' only when the input did and a segment remains.
 */
static int append_normalized_path(struct wd_buf *out, const char *path)
{
    size_t len = strlen(path);
    /* k non-empty segments need at least 2k - 1 bytes, so len / 2 + 1 slots always suffice. */
    struct wd_cursor *stack = calloc(len / 2 + 1, sizeof(*stack));
    if (stack == NULL)
        return -1;
    size_t depth = 0;
    for (size_t start = 0; start <= len;) {
        const char *slash = memchr(path + start, '/', len - start);
        size_t seg_end = slash != NULL ? (size_t)(slash - path) : len;
        const char *seg = path + start;
        size_t seg_len = seg_end - start;
        if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (depth > 0)
                depth--;
        } else if (seg_len > 0 && !(seg_len == 1 && seg[0] == '.')) {
            stack[depth].data = seg;
            stack[depth].len = seg_len;
            depth++;
        }
        start = seg_end + 1;
    }
    bool trailing = len > 0 && path[len - 1] == '/';
    int rc = wd_buf_append_char(out, '/');
    for (size_t i = 0; rc == 0 && i < depth; i++) {
        rc = wd_buf_append(out, stack[i].data, stack[i].len);
        if (rc == 0 && (i + 1 < depth || trailing))
            rc = wd_buf_append_char(out, '/');
    }
    free(stack);
    return rc;
}

static int append_canonical_uri(struct wd_buf *out, const struct wd_sigv4_request *req,
                                const struct wd_sigv4_params *params, struct wd_error *err)
{
    const char *path = req->path;
    struct wd_buf normalized = {0};
    int rc = -1;

    if (params->normalize_path) {
        if (append_normalized_path(&normalized, path) < 0) {
            wd_error_nomem(err);
            goto done;
        }
        path = normalized.data;
    } else if (path[0] == '\0') {
        path = "/";
    }

    if (params->double_encode_path) {
        if (wd_uri_encode(out, path, strlen(path), true) < 0) {
            wd_error_nomem(err);
            goto done;
        }
    } else {
        /* Copied verbatim, so a raw control byte would corrupt the canonical request's line structure. */
        for (const char *p = path; *p != '\0'; p++) {
            if (is_ctl((unsigned char)*p)) {
                wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: path has a raw control character");
                goto done;
            }
        }
        if (wd_buf_append_str(out, path) < 0) {
            wd_error_nomem(err);
            goto done;
        }
    }
    rc = 0;
done:
    wd_buf_free(&normalized);
    return rc;
}

/* Byte order, a shorter string first when it is a prefix of the longer (SigV4's sort). */
static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int compare_pairs(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return compare_bytes(x->name, x->name_len, y->name, y->name_len);
}

static int compare_query_pairs(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = compare_pairs(a, b);
    return c != 0 ? c : compare_bytes(x->value, x->value_len, y->value, y->value_len);
}

static int compare_header_pairs(const void *a, const void *b)
{
    int c = compare_pairs(a, b);
    if (c != 0)
        return c;
    const struct pair *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Converts arena offsets to pointers once the arena has stopped growing. */
static struct pair *pairs_from_offsets(const struct pair_offsets *offs, size_t n, const struct wd_buf *arena)
{
    struct pair *pairs = calloc(n ? n : 1, sizeof(*pairs));
    if (pairs == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        pairs[i].name = arena->data + offs[i].name_off;
        pairs[i].name_len = offs[i].name_len;
        pairs[i].value = arena->data + offs[i].value_off;
        pairs[i].value_len = offs[i].value_len;
        pairs[i].index = i;
    }
    return pairs;
}

/* Decodes then re-encodes one query component into the arena, so "%7e", "~" and "%7E" all sign alike. */
static int reencode_component(struct wd_buf *arena, struct wd_buf *scratch, const char *s, size_t len,
                              size_t *off, size_t *out_len, struct wd_error *err)
{
    wd_buf_reset(scratch);
    if (wd_uri_decode(scratch, s, len) < 0) {
        /* Decode fails on a bad escape or on OOM; if memory is still there, it was the escape. */
        if (wd_buf_reserve(scratch, len) < 0)
            return wd_error_nomem(err);
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: malformed percent-escape in the query");
    }
    *off = arena->len;
    if (wd_uri_encode(arena, scratch->data != NULL ? scratch->data : "", scratch->len, false) < 0)
        return wd_error_nomem(err);
    *out_len = arena->len - *off;
    return 0;
}

static int append_canonical_query(struct wd_buf *out, const char *query, struct wd_error *err)
{
    if (query == NULL || query[0] == '\0')
        return 0;

    size_t qlen = strlen(query);
    size_t max_params = 1;
    for (const char *p = query; *p != '\0'; p++)
        max_params += *p == '&';

    struct pair_offsets *offs = calloc(max_params, sizeof(*offs));
    struct wd_buf arena = {0}, scratch = {0};
    struct pair *pairs = NULL;
    size_t n = 0;
    int rc = -1;
    if (offs == NULL) {
        wd_error_nomem(err);
        goto done;
    }

    for (const char *p = query, *end = query + qlen; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *param_end = amp != NULL ? amp : end;
        if (param_end > p) {
            const char *eq = memchr(p, '=', (size_t)(param_end - p));
            const char *name_end = eq != NULL ? eq : param_end;
            const char *value = eq != NULL ? eq + 1 : param_end;
            if (reencode_component(&arena, &scratch, p, (size_t)(name_end - p), &offs[n].name_off,
                                   &offs[n].name_len, err) < 0 ||
                reencode_component(&arena, &scratch, value, (size_t)(param_end - value), &offs[n].value_off,
                                   &offs[n].value_len, err) < 0)
                goto done;
            n++;
        }
        p = param_end + 1;
    }

    pairs = pairs_from_offsets(offs, n, &arena);
    if (pairs == NULL) {
        wd_error_nomem(err);
        goto done;
    }
    qsort(pairs, n, sizeof(*pairs), compare_query_pairs);

    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && wd_buf_append_char(out, '&') < 0) ||
            wd_buf_append(out, pairs[i].name, pairs[i].name_len) < 0 || wd_buf_append_char(out, '=') < 0 ||
            wd_buf_append(out, pairs[i].value, pairs[i].value_len) < 0) {
            wd_error_nomem(err);
            goto done;
        }
    }
    rc = 0;
done:
    free(pairs);
    free(offs);
    wd_buf_free(&arena);
    wd_buf_free(&scratch);
    return rc;
}

/* Trims the value and collapses each inner run of blanks to one space (SigV4's "Trimall"). */
static int append_trimmed_value(struct wd_buf *arena, const char *v)
{
    const char *start = v, *end = v + strlen(v);
    while (start < end && is_blank(*start))
        start++;
    while (end > start && is_blank(end[-1]))
        end--;
    if (wd_buf_reserve(arena, (size_t)(end - start)) < 0)
        return -1;
    bool in_blank = false;
    for (const char *p = start; p < end; p++) {
        if (is_blank(*p)) {
            in_blank = true;
            continue;
        }
        if (in_blank)
            arena->data[arena->len++] = ' ';
        in_blank = false;
        arena->data[arena->len++] = *p;
    }
    arena->data[arena->len] = '\0';
    return 0;
}

static int add_header(struct wd_buf *arena, struct pair_offsets *o, const char *name, const char *value)
{
    o->name_off = arena->len;
    for (const char *p = name; *p != '\0'; p++)
        if (wd_buf_append_char(arena, ascii_lower(*p)) < 0)
            return -1;
    o->name_len = arena->len - o->name_off;
    o->value_off = arena->len;
    if (append_trimmed_value(arena, value) < 0)
        return -1;
    o->value_len = arena->len - o->value_off;
    return 0;
}

/* Headers the signer adds itself: the caller passing them too would sign one value and send two. */
static bool reserved_header(const char *name, const struct wd_credentials *creds,
                            const struct wd_sigv4_params *params)
{
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "x-amz-date") == 0 ||
           (params->sign_body && strcasecmp(name, "x-amz-content-sha256") == 0) ||
           (has_token(creds) && strcasecmp(name, "x-amz-security-token") == 0);
}

static int append_canonical_headers(struct wd_buf *creq, struct wd_buf *signed_headers,
                                    const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                                    const struct wd_sigv4_params *params, const char *amz_date,
                                    const char *payload_hash, struct wd_error *err)
{
    if (req->n_headers > SIZE_MAX / sizeof(struct pair_offsets) - 3)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: too many headers");
    struct pair_offsets *offs = calloc(req->n_headers + 3, sizeof(*offs));
    struct wd_buf arena = {0};
    struct pair *pairs = NULL;
    size_t n = 0;
    bool have_host = false;
    int rc = -1;
    if (offs == NULL) {
        wd_error_nomem(err);
        goto done;
    }

    for (size_t i = 0; i < req->n_headers; i++) {
        const struct wd_header *h = &req->headers[i];
        if (h->name == NULL || h->name[0] == '\0' || h->value == NULL) {
            wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: header %zu has no name or no value", i);
            goto done;
        }
        for (const char *p = h->name; *p != '\0'; p++) {
            if (!is_tchar((unsigned char)*p)) {
                wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: header %zu has a malformed name", i);
                goto done;
            }
        }
        /* A CR or LF would let a value forge canonical-request lines; other controls are invalid HTTP. */
        for (const char *p = h->value; *p != '\0'; p++) {
            if (is_ctl((unsigned char)*p) && *p != '\t') {
                wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: header \"%s\" has a control character",
                             h->name);
                goto done;
            }
        }
        if (reserved_header(h->name, creds, params)) {
            wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: header \"%s\" is added by the signer",
                         h->name);
            goto done;
        }
        have_host |= strcasecmp(h->name, "host") == 0;
        if (add_header(&arena, &offs[n++], h->name, h->value) < 0) {
            wd_error_nomem(err);
            goto done;
        }
    }
    if (!have_host) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: request has no host header");
        goto done;
    }
    if (add_header(&arena, &offs[n++], "x-amz-date", amz_date) < 0 ||
        (params->sign_body && add_header(&arena, &offs[n++], "x-amz-content-sha256", payload_hash) < 0) ||
        (has_token(creds) && !params->omit_session_token &&
         add_header(&arena, &offs[n++], "x-amz-security-token", creds->session_token) < 0)) {
        wd_error_nomem(err);
        goto done;
    }

    pairs = pairs_from_offsets(offs, n, &arena);
    if (pairs == NULL) {
        wd_error_nomem(err);
        goto done;
    }
    qsort(pairs, n, sizeof(*pairs), compare_header_pairs);

    for (size_t i = 0; i < n; i++) {
        bool same_as_prev = i > 0 && compare_pairs(&pairs[i - 1], &pairs[i]) == 0;
        bool same_as_next = i + 1 < n && compare_pairs(&pairs[i], &pairs[i + 1]) == 0;
        int bad = 0;
        if (same_as_prev) {
            bad |= wd_buf_append_char(creq, ',');
        } else {
            if (signed_headers->len > 0)
                bad |= wd_buf_append_char(signed_headers, ';');
            bad |= wd_buf_append(signed_headers, pairs[i].name, pairs[i].name_len);
            bad |= wd_buf_append(creq, pairs[i].name, pairs[i].name_len);
            bad |= wd_buf_append_char(creq, ':');
        }
        bad |= wd_buf_append(creq, pairs[i].value, pairs[i].value_len);
        if (!same_as_next)
            bad |= wd_buf_append_char(creq, '\n');
        if (bad) {
            wd_error_nomem(err);
            goto done;
        }
    }
    rc = 0;
done:
    free(pairs);
    free(offs);
    /* Best effort for the session token: it travels in a header anyway, so realloc leftovers are accepted. */
    wd_buf_free_secure(&arena);
    return rc;
}

/* The caller's payload_hash when given, else the SHA-256 of the payload computed into hex. */
static int payload_hash_of(const struct wd_sigv4_request *req, char hex[WD_SIGV4_HEX_SIZE], const char **out,
                           struct wd_error *err)
{
    if (req->payload_hash != NULL) {
        *out = req->payload_hash;
        return 0;
    }
    if (sha256_hex(req->payload, req->payload_len, hex) < 0)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: SHA-256 of the payload failed");
    *out = hex;
    return 0;
}

/* Stage 1 with the payload hash already known, so wd_sigv4_sign() hashes a large body only once. */
static int canonical_request(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                             const struct wd_sigv4_params *params, const char *amz_date,
                             const char *payload_hash, struct wd_buf *creq_out,
                             struct wd_buf *signed_headers_out, struct wd_error *err)
{
    struct wd_buf creq = {0}, signed_headers = {0};
    int rc = -1;

    if (wd_buf_append_str(&creq, req->method) < 0 || wd_buf_append_char(&creq, '\n') < 0) {
        wd_error_nomem(err);
        goto done;
    }
    if (append_canonical_uri(&creq, req, params, err) < 0)
        goto done;
    if (wd_buf_append_char(&creq, '\n') < 0) {
        wd_error_nomem(err);
        goto done;
    }
    if (append_canonical_query(&creq, req->query, err) < 0)
        goto done;
    if (wd_buf_append_char(&creq, '\n') < 0) {
        wd_error_nomem(err);
        goto done;
    }
    if (append_canonical_headers(&creq, &signed_headers, req, creds, params, amz_date, payload_hash, err) < 0)
        goto done;
    if (wd_buf_append_char(&creq, '\n') < 0 ||
        wd_buf_append(&creq, signed_headers.data, signed_headers.len) < 0 ||
        wd_buf_append_char(&creq, '\n') < 0 || wd_buf_append_str(&creq, payload_hash) < 0) {
        wd_error_nomem(err);
        goto done;
    }

    /* Reserve both first so that either both outputs change or neither does. */
    if (wd_buf_reserve(creq_out, creq.len) < 0 ||
        wd_buf_reserve(signed_headers_out, signed_headers.len) < 0) {
        wd_error_nomem(err);
        goto done;
    }
    wd_buf_append(creq_out, creq.data, creq.len);
    wd_buf_append(signed_headers_out, signed_headers.data, signed_headers.len);
    rc = 0;
done:
    /* Best effort, as for the header arena: the canonical request may carry the session token. */
    wd_buf_free_secure(&creq);
    wd_buf_free(&signed_headers);
    return rc;
}

int wd_sigv4_canonical_request(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                               const struct wd_sigv4_params *params, const char *amz_date,
                               struct wd_buf *creq, struct wd_buf *signed_headers, struct wd_error *err)
{
    char hex[WD_SIGV4_HEX_SIZE];
    const char *payload_hash = NULL;
    if (validate_inputs(req, creds, params, err) < 0 || validate_amz_date(amz_date, err) < 0)
        return -1;
    if (creq == NULL || signed_headers == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: missing output buffer");
    if (payload_hash_of(req, hex, &payload_hash, err) < 0)
        return -1;
    return canonical_request(req, creds, params, amz_date, payload_hash, creq, signed_headers, err);
}

int wd_sigv4_string_to_sign(const struct wd_sigv4_params *params, const char *amz_date, const char *creq,
                            size_t creq_len, struct wd_buf *sts, struct wd_error *err)
{
    char hex[WD_SIGV4_HEX_SIZE];
    if (params == NULL || !valid_scope_part(params->region) || !valid_scope_part(params->service))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: region or service missing or malformed");
    if (validate_amz_date(amz_date, err) < 0)
        return -1;
    if (sts == NULL || (creq == NULL && creq_len > 0))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "sigv4: missing canonical request or output buffer");
    if (sha256_hex(creq, creq_len, hex) < 0)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: SHA-256 of the canonical request failed");

    /* wd_buf_printf() reserves before writing, so sts is unchanged if this fails. */
    if (wd_buf_printf(sts, ALGORITHM "\n%s\n%.8s/%s/%s/" SCOPE_TERMINATOR "\n%s", amz_date, amz_date,
                      params->region, params->service, hex) < 0)
        return wd_error_nomem(err);
    return 0;
}

int wd_sigv4_signature(const struct wd_credentials *creds, const struct wd_sigv4_params *params,
                       const char *amz_date, const char *sts, size_t sts_len, char sig_hex[WD_SIGV4_HEX_SIZE],
                       struct wd_error *err)
{
    if (creds == NULL || creds->secret_access_key == NULL || creds->secret_access_key[0] == '\0')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: secret access key is empty");
    if (params == NULL || !valid_scope_part(params->region) || !valid_scope_part(params->service))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: region or service missing or malformed");
    if (validate_amz_date(amz_date, err) < 0)
        return -1;
    if (sig_hex == NULL || (sts == NULL && sts_len > 0))
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: missing string to sign or output");

    unsigned char k_signing[DIGEST_LEN];
    unsigned char sig[DIGEST_LEN];
    int rc = -1;

    /* A key the caller derived for this day, region and service saves four of the five HMACs. */
    if (params->signing_key != NULL)
        memcpy(k_signing, params->signing_key, DIGEST_LEN);
    else if (wd_sigv4_signing_key(creds->secret_access_key, amz_date, params->region, params->service,
                                  k_signing, err) < 0)
        goto done;
    if (hmac_sha256(k_signing, DIGEST_LEN, sts, sts_len, sig) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: HMAC-SHA256 failed");
        goto done;
    }
    hex_encode(sig, DIGEST_LEN, sig_hex);
    rc = 0;
done:
    OPENSSL_cleanse(k_signing, sizeof(k_signing));
    OPENSSL_cleanse(sig, sizeof(sig));
    return rc;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

int wd_sigv4_sign(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                  const struct wd_sigv4_params *params, struct wd_sigv4_result *out, struct wd_error *err)
{
    struct wd_sigv4_result res = {0};
    struct wd_buf creq = {0}, signed_headers = {0}, sts = {0}, auth = {0};
    char amz_date[WD_SIGV4_AMZ_DATE_SIZE];
    char hex[WD_SIGV4_HEX_SIZE];
    char sig[WD_SIGV4_HEX_SIZE];
    const char *payload_hash = NULL;
    int rc = -1;

    if (out == NULL)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "sigv4: missing result");
    if (validate_inputs(req, creds, params, err) < 0 || wd_sigv4_amz_date(params->time, amz_date, err) < 0 ||
        payload_hash_of(req, hex, &payload_hash, err) < 0 ||
        canonical_request(req, creds, params, amz_date, payload_hash, &creq, &signed_headers, err) < 0 ||
        wd_sigv4_string_to_sign(params, amz_date, creq.data, creq.len, &sts, err) < 0 ||
        wd_sigv4_signature(creds, params, amz_date, sts.data, sts.len, sig, err) < 0)
        goto done;

    if (wd_buf_printf(
            &auth, ALGORITHM " Credential=%s/%.8s/%s/%s/" SCOPE_TERMINATOR ", SignedHeaders=%s, Signature=%s",
            creds->access_key_id, amz_date, params->region, params->service, signed_headers.data, sig) < 0) {
        wd_error_nomem(err);
        goto done;
    }
    bool oom = false;
    res.amz_date = dup_or_null(amz_date, &oom);
    res.content_sha256 = params->sign_body ? dup_or_null(payload_hash, &oom) : NULL;
    res.security_token = has_token(creds) ? dup_or_null(creds->session_token, &oom) : NULL;
    res.authorization = wd_buf_steal(&auth);
    if (oom || res.authorization == NULL) {
        wd_error_nomem(err);
        goto done;
    }
    *out = res;
    memset(&res, 0, sizeof(res));
    rc = 0;
done:
    wd_sigv4_result_clear(&res);
    wd_buf_free_secure(&creq);
    wd_buf_free(&signed_headers);
    wd_buf_free(&sts);
    wd_buf_free_secure(&auth);
    OPENSSL_cleanse(sig, sizeof(sig));
    /* The header promises a zeroed result on failure, so a caller may clear it unconditionally. */
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

static void free_wiped(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void wd_sigv4_result_clear(struct wd_sigv4_result *r)
{
    if (r == NULL)
        return;
    free(r->amz_date);
    free(r->content_sha256);
    free_wiped(r->security_token);
    free_wiped(r->authorization);
    memset(r, 0, sizeof(*r));
}
