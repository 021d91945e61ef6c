/* Fuzz target: SigV4 signing (wd_sigv4_sign, canonical request) of any method, path, query, headers. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sigv4.h"
#include "sigv4_internal.h"

/*
 * Input: one flags byte, then NUL-separated fields: method, path, query, payload (or the payload hash
 * when F_HASH is set), session token, then header name / value pairs (at most MAX_HEADERS).
 */
enum {
    F_NORMALIZE = 1 << 0,
    F_DOUBLE = 1 << 1,
    F_SIGN_BODY = 1 << 2,
    F_OMIT_TOKEN = 1 << 3,
    F_TOKEN = 1 << 4,
    F_HASH = 1 << 5,
    F_DYNAMODB = 1 << 6,
};
#define MAX_FIELDS 5
#define MAX_HEADERS 32
#define SIGNING_TIME 1440938160 /* 20150830T123600Z, the test vectors' time */

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Signed names are lowercase, strictly ascending (so distinct) and include host and x-amz-date. */
static size_t check_signed_headers(const char *sh, size_t len)
{
    size_t n = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    bool host = false, date = false;
    for (const char *p = sh, *end = sh + len; p <= end;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t l = (size_t)((semi ? semi : end) - p);
        FUZZ_CHECK(l > 0);
        for (size_t i = 0; i < l; i++)
            FUZZ_CHECK(!(p[i] >= 'A' && p[i] <= 'Z'));
        if (prev != NULL) {
            int c = memcmp(prev, p, prev_len < l ? prev_len : l);
            FUZZ_CHECK(c < 0 || (c == 0 && prev_len < l));
        }
        host |= l == 4 && memcmp(p, "host", 4) == 0;
        date |= l == 10 && memcmp(p, "x-amz-date", 10) == 0;
        prev = p;
        prev_len = l;
        n++;
        p += l + 1;
    }
    FUZZ_CHECK(host && date);
    return n;
}

static void check_result(const struct wd_sigv4_result *r, const struct wd_sigv4_params *params, bool token)
{
    FUZZ_CHECK(r->amz_date != NULL && strcmp(r->amz_date, "20150830T123600Z") == 0);
    FUZZ_CHECK((r->content_sha256 != NULL) == params->sign_body);
    FUZZ_CHECK((r->security_token != NULL) == token);
    char prefix[128];
    snprintf(prefix, sizeof(prefix),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/%s/%s/aws4_request, "
             "SignedHeaders=",
             params->region, params->service);
    const char *a = r->authorization;
    FUZZ_CHECK(a != NULL && strncmp(a, prefix, strlen(prefix)) == 0);
    const char *sig = strstr(a, ", Signature=");
    FUZZ_CHECK(sig != NULL && strlen(sig) == 12 + 64 && is_lower_hex(sig + 12, 64));
    check_signed_headers(a + strlen(prefix), (size_t)(sig - a) - strlen(prefix));
}

/* The canonical request has exactly one line per signed header: no value, path or query adds lines. */
static void check_canonical(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                            const struct wd_sigv4_params *params)
{
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};
    FUZZ_CHECK(wd_sigv4_canonical_request(req, creds, params, "20150830T123600Z", &creq, &sh, &err) == 0);
    size_t k = check_signed_headers(sh.data, sh.len), newlines = 0;
    for (size_t i = 0; i < creq.len; i++)
        newlines += creq.data[i] == '\n';
    FUZZ_CHECK(newlines == k + 5);
    FUZZ_CHECK(strncmp(creq.data, req->method, strlen(req->method)) == 0 &&
               creq.data[strlen(req->method)] == '\n');
    const char *last = strrchr(creq.data, '\n') + 1;
    if (req->payload_hash != NULL) {
        FUZZ_CHECK(strcmp(last, req->payload_hash) == 0);
    } else {
        char hex[65];
        wd_sha256_hex(req->payload, req->payload_len, hex);
        FUZZ_CHECK(strcmp(last, hex) == 0);
    }
    wd_buf_free(&creq);
    wd_buf_free(&sh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0];
    /* A NUL-terminated copy, so the last field ends too. */
    char *copy = malloc(size);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *end = copy + size - 1;

    static char empty[] = "";
    char *fields[MAX_FIELDS] = {empty, empty, empty, empty, empty};
    struct wd_header headers[MAX_HEADERS];
    size_t n_fields = 0, n_headers = 0;
    const char *pending_name = NULL;
    for (char *p = copy; p <= end; p += strlen(p) + 1) {
        if (n_fields < MAX_FIELDS) {
            fields[n_fields++] = p;
        } else if (pending_name == NULL) {
            pending_name = p;
        } else if (n_headers < MAX_HEADERS) {
            headers[n_headers++] = (struct wd_header){pending_name, p};
            pending_name = NULL;
        }
    }

    char akid[] = "AKIDEXAMPLE", secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    struct wd_credentials creds = {
        .access_key_id = akid,
        .secret_access_key = secret,
        .session_token = (flags & F_TOKEN) ? fields[4] : NULL,
    };
    struct wd_sigv4_params params = {
        .region = "us-east-1",
        .service = (flags & F_DYNAMODB) ? "dynamodb" : "s3",
        .time = SIGNING_TIME,
        .normalize_path = flags & F_NORMALIZE,
        .double_encode_path = flags & F_DOUBLE,
        .sign_body = flags & F_SIGN_BODY,
        .omit_session_token = flags & F_OMIT_TOKEN,
    };
    struct wd_sigv4_request req = {
        .method = fields[0],
        .path = fields[1],
        .query = fields[2],
        .headers = n_headers ? headers : NULL,
        .n_headers = n_headers,
        .payload = (flags & F_HASH) ? NULL : fields[3],
        .payload_len = (flags & F_HASH) ? 0 : strlen(fields[3]),
        .payload_hash = (flags & F_HASH) ? fields[3] : NULL,
    };
    bool token = creds.session_token != NULL && creds.session_token[0] != '\0';

    struct wd_sigv4_result r1, r2;
    struct wd_error e1 = {0}, e2 = {0};
    int rc1 = wd_sigv4_sign(&req, &creds, &params, &r1, &e1);
    int rc2 = wd_sigv4_sign(&req, &creds, &params, &r2, &e2);
    FUZZ_CHECK(rc1 == rc2); /* a pure function: same input, same output */
    if (rc1 == 0) {
        check_result(&r1, &params, token);
        FUZZ_CHECK(strcmp(r1.authorization, r2.authorization) == 0);
        FUZZ_CHECK(!params.sign_body || strcmp(r1.content_sha256, r2.content_sha256) == 0);
        check_canonical(&req, &creds, &params);
    } else {
        FUZZ_CHECK(e1.cls == WD_ERR_INTERNAL || e1.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(strcmp(e1.message, e2.message) == 0);
        FUZZ_CHECK(r1.amz_date == NULL && r1.authorization == NULL && r1.content_sha256 == NULL &&
                   r1.security_token == NULL);
    }
    wd_sigv4_result_clear(&r1);
    wd_sigv4_result_clear(&r2);
    free(copy);
    return 0;
}
