/* SigV4 tests: every case of the shared test suite, stage by stage, then S3's own rules and examples. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "credentials.h"
#include "error.h"
#include "sigv4.h"
#include "sigv4_internal.h"
#include "uri.h"

#ifndef WD_SHARED_DIR
#error "WD_SHARED_DIR must name the shared directory holding sigv4-test-suite/"
#endif

#define EXPECTED_CASES 38
#define MAX_HEADERS 32
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---------------------------------------------------------------------------------------------------------
 * Reading the suite
 */

static const char *shared_dir(void)
{
    const char *env = getenv("WD_SHARED_DIR");
    return env != NULL && env[0] != '\0' ? env : WD_SHARED_DIR;
}

static char *suite_dir(void)
{
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_printf(&b, "%s/sigv4-test-suite/v4", shared_dir()), 0);
    return wd_buf_steal(&b);
}

/* Whole file, NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct wd_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(wd_buf_append(&b, chunk, n), 0);
    fclose(f);
    if (len_out != NULL)
        *len_out = b.len;
    return wd_buf_steal(&b);
}

static char *case_file(const char *case_dir, const char *name)
{
    struct wd_buf path = {0};
    assert_int_equal(wd_buf_printf(&path, "%s/%s", case_dir, name), 0);
    char *text = slurp(path.data, NULL);
    if (text == NULL)
        fail_msg("cannot read %s", path.data);
    wd_buf_free(&path);
    return text;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the case folders; returns how many, or -1 when the suite is missing. */
static int list_cases(char ***names_out)
{
    char *dir = suite_dir();
    DIR *d = opendir(dir);
    if (d == NULL) {
        print_error("cannot open the SigV4 suite at %s (set WD_SHARED_DIR)\n", dir);
        free(dir);
        *names_out = NULL;
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct wd_buf p = {0};
        struct stat st;
        assert_int_equal(wd_buf_printf(&p, "%s/%s", dir, e->d_name), 0);
        bool is_dir = stat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
        wd_buf_free(&p);
        if (!is_dir)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(grown);
        names = grown;
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    free(dir);
    if (n > 0)
        qsort(names, n, sizeof(*names), compare_names);
    *names_out = names;
    return (int)n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* A request.txt: request line, "Name:value" lines (folded lines continue the previous one), blank, body. */
struct raw_request {
    char *text;
    char *method;
    char *path;
    char *query; /* NULL when the target has no '?' */
    struct wd_header headers[MAX_HEADERS];
    struct wd_buf values[MAX_HEADERS];
    size_t n_headers;
    const char *body;
    size_t body_len;
};

static char *next_line(char **pos, char *end)
{
    if (*pos >= end)
        return NULL;
    char *line = *pos;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *line_end = nl != NULL ? nl : end;
    *pos = nl != NULL ? nl + 1 : end;
    if (line_end > line && line_end[-1] == '\r')
        line_end--;
    *line_end = '\0';
    return line;
}

static void parse_request(const char *case_name, char *text, size_t len, struct raw_request *r)
{
    memset(r, 0, sizeof(*r));
    r->text = text;
    char *pos = text, *end = text + len;

    char *line = next_line(&pos, end);
    if (line == NULL)
        fail_msg("case %s: request.txt is empty", case_name);
    /* The target may hold raw spaces ("/example space/"), so the version is found from the right. */
    char *sp = strchr(line, ' ');
    char *version = NULL;
    for (char *p = line; (p = strstr(p, " HTTP/")) != NULL; p++)
        version = p;
    if (sp == NULL || version == NULL || version <= sp)
        fail_msg("case %s: malformed request line \"%s\"", case_name, line);
    *sp = '\0';
    *version = '\0';
    r->method = line;
    r->path = sp + 1;
    char *q = strchr(r->path, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }

    while ((line = next_line(&pos, end)) != NULL) {
        if (line[0] == '\0')
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            if (r->n_headers == 0)
                fail_msg("case %s: continuation line before any header", case_name);
            while (*line == ' ' || *line == '\t')
                line++;
            struct wd_buf *v = &r->values[r->n_headers - 1];
            assert_int_equal(wd_buf_append_char(v, ' '), 0);
            assert_int_equal(wd_buf_append_str(v, line), 0);
            continue;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL || r->n_headers == MAX_HEADERS)
            fail_msg("case %s: malformed or too many header lines at \"%s\"", case_name, line);
        *colon = '\0';
        r->headers[r->n_headers].name = line;
        assert_int_equal(wd_buf_append_str(&r->values[r->n_headers], colon + 1), 0);
        r->n_headers++;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->values[i].data == NULL)
            assert_int_equal(wd_buf_reserve(&r->values[i], 0), 0);
        r->headers[i].value = r->values[i].data;
    }
    r->body = pos;
    r->body_len = (size_t)(end - pos);
}

static void free_request(struct raw_request *r)
{
    for (size_t i = 0; i < MAX_HEADERS; i++)
        wd_buf_free(&r->values[i]);
    free(r->text);
}

static const char *find_header(const struct raw_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* context.json: credentials, region, service, time and the signing flags. */
struct context {
    struct wd_credentials creds;
    struct wd_sigv4_params params;
    char region[64];
    char service[64];
};

static const char *json_str(const char *case_name, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        fail_msg("case %s: context.json has no string \"%s\"", case_name, key);
    return s;
}

static bool json_flag(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

static void load_context(const char *case_name, const char *case_dir, struct context *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    struct wd_buf path = {0};
    json_error_t jerr;
    assert_int_equal(wd_buf_printf(&path, "%s/context.json", case_dir), 0);
    json_t *root = json_load_file(path.data, 0, &jerr);
    if (root == NULL)
        fail_msg("case %s: context.json: %s (line %d)", case_name, jerr.text, jerr.line);
    wd_buf_free(&path);

    json_t *creds = json_object_get(root, "credentials");
    ctx->creds.access_key_id = strdup(json_str(case_name, creds, "access_key_id"));
    ctx->creds.secret_access_key = strdup(json_str(case_name, creds, "secret_access_key"));
    const char *token = json_string_value(json_object_get(creds, "token"));
    ctx->creds.session_token = token != NULL ? strdup(token) : NULL;
    snprintf(ctx->region, sizeof(ctx->region), "%s", json_str(case_name, root, "region"));
    snprintf(ctx->service, sizeof(ctx->service), "%s", json_str(case_name, root, "service"));

    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *ts = json_str(case_name, root, "timestamp");
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (rest == NULL || *rest != '\0')
        fail_msg("case %s: unparsable timestamp \"%s\"", case_name, ts);

    ctx->params.region = ctx->region;
    ctx->params.service = ctx->service;
    ctx->params.time = timegm(&tm);
    /* The suite's harness (aws-c-auth) double-encodes every case; normalisation is per case. */
    ctx->params.double_encode_path = true;
    ctx->params.normalize_path = json_flag(root, "normalize");
    ctx->params.sign_body = json_flag(root, "sign_body");
    ctx->params.omit_session_token = json_flag(root, "omit_session_token");
    json_decref(root);
}

static void free_context(struct context *ctx)
{
    free(ctx->creds.access_key_id);
    free(ctx->creds.secret_access_key);
    free(ctx->creds.session_token);
}

/* Prints both texts when they differ, naming the case and the stage. */
static bool stage_matches(const char *case_name, const char *stage, const char *expected, const char *got)
{
    if (got == NULL)
        got = "(none)";
    if (expected == NULL)
        expected = "(none)";
    if (strcmp(expected, got) == 0)
        return true;
    print_error("case %s: stage \"%s\" differs\n--- expected\n%s\n--- got\n%s\n---\n", case_name, stage,
                expected, got);
    return false;
}

static void check_stage(const char *case_name, const char *stage, const char *expected, const char *got)
{
    if (!stage_matches(case_name, stage, expected, got))
        fail_msg("case %s: stage \"%s\" differs", case_name, stage);
}

static bool stage_ran(const char *case_name, const char *stage, int rc, const struct wd_error *err)
{
    if (rc == 0)
        return true;
    print_error("case %s: stage \"%s\" failed: %s\n", case_name, stage, err->message);
    return false;
}

/* One suite case: each stage gets the previous stage's expected output, so a failure names one stage. */
static void run_vector_case(void **state)
{
    const char *name = *state;
    char *dir = suite_dir();
    struct wd_buf case_dir = {0};
    assert_int_equal(wd_buf_printf(&case_dir, "%s/%s", dir, name), 0);
    free(dir);

    struct context ctx;
    load_context(name, case_dir.data, &ctx);
    size_t req_len = 0;
    struct wd_buf req_path = {0};
    assert_int_equal(wd_buf_printf(&req_path, "%s/request.txt", case_dir.data), 0);
    char *req_text = slurp(req_path.data, &req_len);
    if (req_text == NULL)
        fail_msg("case %s: cannot read request.txt", name);
    wd_buf_free(&req_path);
    struct raw_request raw;
    parse_request(name, req_text, req_len, &raw);

    char *want_creq = case_file(case_dir.data, "header-canonical-request.txt");
    char *want_sts = case_file(case_dir.data, "header-string-to-sign.txt");
    char *want_sig = case_file(case_dir.data, "header-signature.txt");
    size_t signed_len = 0;
    struct wd_buf signed_path = {0};
    assert_int_equal(wd_buf_printf(&signed_path, "%s/header-signed-request.txt", case_dir.data), 0);
    char *signed_text = slurp(signed_path.data, &signed_len);
    if (signed_text == NULL)
        fail_msg("case %s: cannot read header-signed-request.txt", name);
    wd_buf_free(&signed_path);
    struct raw_request want_signed;
    parse_request(name, signed_text, signed_len, &want_signed);

    struct wd_sigv4_request req = {
        .method = raw.method,
        .path = raw.path,
        .query = raw.query,
        .headers = raw.headers,
        .n_headers = raw.n_headers,
        .payload = raw.body,
        .payload_len = raw.body_len,
    };
    struct wd_error err = {0};
    char amz_date[WD_SIGV4_AMZ_DATE_SIZE];
    if (wd_sigv4_amz_date(ctx.params.time, amz_date, &err) < 0)
        fail_msg("case %s: stage \"x-amz-date\": %s", name, err.message);

    /* Every stage runs even after one fails, so a single run reports all that differ; cleanup still happens.
     */
    bool ok = true;
    struct wd_buf creq = {0}, signed_headers = {0}, sts = {0};
    if (stage_ran(
            name, "canonical request",
            wd_sigv4_canonical_request(&req, &ctx.creds, &ctx.params, amz_date, &creq, &signed_headers, &err),
            &err))
        ok &= stage_matches(name, "canonical request", want_creq, creq.data);
    else
        ok = false;

    if (stage_ran(name, "string to sign",
                  wd_sigv4_string_to_sign(&ctx.params, amz_date, want_creq, strlen(want_creq), &sts, &err),
                  &err))
        ok &= stage_matches(name, "string to sign", want_sts, sts.data);
    else
        ok = false;

    char sig[WD_SIGV4_HEX_SIZE];
    if (stage_ran(
            name, "signature",
            wd_sigv4_signature(&ctx.creds, &ctx.params, amz_date, want_sts, strlen(want_sts), sig, &err),
            &err))
        ok &= stage_matches(name, "signature", want_sig, sig);
    else
        ok = false;

    /* End to end: the headers to add must be the ones the suite's signed request gained, as a set. */
    struct wd_sigv4_result res = {0};
    if (stage_ran(name, "sign", wd_sigv4_sign(&req, &ctx.creds, &ctx.params, &res, &err), &err)) {
        ok &= stage_matches(name, "signed request: Authorization", find_header(&want_signed, "authorization"),
                            res.authorization);
        ok &= stage_matches(name, "signed request: X-Amz-Date", find_header(&want_signed, "x-amz-date"),
                            res.amz_date);
        ok &= stage_matches(name, "signed request: X-Amz-Security-Token",
                            find_header(&want_signed, "x-amz-security-token"), res.security_token);
        ok &= stage_matches(name, "signed request: X-Amz-Content-Sha256",
                            find_header(&want_signed, "x-amz-content-sha256"), res.content_sha256);
    } else {
        ok = false;
    }

    wd_sigv4_result_clear(&res);
    wd_buf_free(&creq);
    wd_buf_free(&signed_headers);
    wd_buf_free(&sts);
    free(want_creq);
    free(want_sts);
    free(want_sig);
    free_request(&want_signed);
    free_request(&raw);
    free_context(&ctx);
    wd_buf_free(&case_dir);
    if (!ok)
        fail_msg("case %s: see the stages above", name);
}

static void test_suite_has_every_case(void **state)
{
    (void)state;
    char **names = NULL;
    int n = list_cases(&names);
    free_names(names, n);
    if (n != EXPECTED_CASES)
        fail_msg("the SigV4 suite under %s has %d case folders, expected %d", shared_dir(), n,
                 EXPECTED_CASES);
}

/* ---------------------------------------------------------------------------------------------------------
 * S3's rules and worked examples
 */

static char s3_akid[] = "AKIAIOSFODNN7EXAMPLE";
static char s3_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const time_t s3_time = 1369353600; /* 2013-05-24T00:00:00Z */

static struct wd_credentials s3_creds(void)
{
    struct wd_credentials c = {
        .access_key_id = s3_akid, .secret_access_key = s3_secret, .session_token = NULL};
    return c;
}

static struct wd_sigv4_params s3_params(void)
{
    struct wd_sigv4_params p = {
        .region = "us-east-1",
        .service = "s3",
        .time = s3_time,
        .normalize_path = false,
        .double_encode_path = false,
        .sign_body = true,
        .omit_session_token = false,
    };
    return p;
}

static const struct wd_header s3_host[] = {{"Host", "examplebucket.s3.amazonaws.com"}};

/* The canonical request's second line. */
static char *canonical_uri_of(const char *path, bool normalize, bool double_encode)
{
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    params.normalize_path = normalize;
    params.double_encode_path = double_encode;
    struct wd_sigv4_request req = {.method = "GET", .path = path, .headers = s3_host, .n_headers = 1};
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};
    if (wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err) < 0)
        fail_msg("canonical request for \"%s\": %s", path, err.message);
    char *start = strchr(creq.data, '\n') + 1;
    char *end = strchr(start, '\n');
    char *line = strndup(start, (size_t)(end - start));
    wd_buf_free(&creq);
    wd_buf_free(&sh);
    return line;
}

static void test_s3_paths_are_not_normalised(void **state)
{
    (void)state;
    static const char *const paths[] = {"/b/a/../c", "/b/./x", "/b//x", "/b/x/", "/b/x/."};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *got = canonical_uri_of(paths[i], false, false);
        assert_string_equal(got, paths[i]);
        free(got);
    }
    /* The same paths do change under the non-S3 rule, so the flag is what keeps them. */
    static const char *const normalised[][2] = {{"/b/a/../c", "/b/c"}, {"/b/./x", "/b/x"}, {"/b//x", "/b/x"}};
    for (size_t i = 0; i < sizeof(normalised) / sizeof(normalised[0]); i++) {
        char *got = canonical_uri_of(normalised[i][0], true, false);
        assert_string_equal(got, normalised[i][1]);
        free(got);
    }
}

static void test_s3_key_is_encoded_once(void **state)
{
    (void)state;
    const char *key = "my key+%?#.txt";
    struct wd_buf wire = {0};
    assert_int_equal(wd_buf_append_str(&wire, "/b/"), 0);
    assert_int_equal(wd_uri_encode(&wire, key, strlen(key), true), 0);
    assert_string_equal(wire.data, "/b/my%20key%2B%25%3F%23.txt");

    char *got = canonical_uri_of(wire.data, false, false);
    assert_string_equal(got, "/b/my%20key%2B%25%3F%23.txt");
    /* Escaped again, each escape's '%' would turn into "%25": "%2520", "%252B", "%2525". */
    assert_null(strstr(got, "%2520"));
    assert_null(strstr(got, "%252B"));
    assert_null(strstr(got, "%2525"));
    free(got);

    /* The non-S3 rule would do exactly that, which is why S3 callers must leave double_encode_path off. */
    got = canonical_uri_of(wire.data, false, true);
    assert_string_equal(got, "/b/my%2520key%252B%2525%253F%2523.txt");
    free(got);
    wd_buf_free(&wire);
}

static void test_s3_content_sha256_is_signed(void **state)
{
    (void)state;
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    const char body[] = "hello, widget";
    char hash[65];
    wd_sha256_hex(body, strlen(body), hash);
    struct wd_sigv4_request req = {
        .method = "PUT",
        .path = "/b/k",
        .headers = s3_host,
        .n_headers = 1,
        .payload = body,
        .payload_len = strlen(body),
    };
    struct wd_buf creq = {0}, sh = {0}, line = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    assert_string_equal(sh.data, "host;x-amz-content-sha256;x-amz-date");
    assert_int_equal(wd_buf_printf(&line, "\nx-amz-content-sha256:%s\n", hash), 0);
    assert_non_null(strstr(creq.data, line.data));
    /* The last line of the canonical request is the same hash. */
    assert_string_equal(strrchr(creq.data, '\n') + 1, hash);

    struct wd_sigv4_result res = {0};
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_string_equal(res.content_sha256, hash);
    assert_non_null(strstr(res.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    wd_sigv4_result_clear(&res);

    /* A caller-supplied hash (here S3's UNSIGNED-PAYLOAD) is used as given, in the header and the last line.
     */
    req.payload_hash = "UNSIGNED-PAYLOAD";
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_string_equal(res.content_sha256, "UNSIGNED-PAYLOAD");
    wd_sigv4_result_clear(&res);

    /* Without sign_body nothing is added and the empty-body hash is not assumed for a real body. */
    params.sign_body = false;
    req.payload_hash = NULL;
    wd_buf_reset(&creq);
    wd_buf_reset(&sh);
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    assert_string_equal(sh.data, "host;x-amz-date");
    assert_null(strstr(creq.data, "x-amz-content-sha256"));
    assert_string_equal(strrchr(creq.data, '\n') + 1, hash);
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_null(res.content_sha256);
    wd_sigv4_result_clear(&res);

    wd_buf_free(&creq);
    wd_buf_free(&sh);
    wd_buf_free(&line);
}

/*
 * The worked examples of the S3 API reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk (AWS Signature Version 4)".
 */
struct s3_example {
    const char *name;
    struct wd_sigv4_request req;
    const char *canonical_request;
    const char *string_to_sign;
    const char *signature;
    const char *signed_headers;
};

static void check_s3_example(const struct s3_example *ex)
{
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    struct wd_buf creq = {0}, sh = {0}, sts = {0}, auth = {0};
    struct wd_error err = {0};
    char sig[WD_SIGV4_HEX_SIZE];

    if (wd_sigv4_canonical_request(&ex->req, &creds, &params, "20130524T000000Z", &creq, &sh, &err) < 0)
        fail_msg("S3 example %s: canonical request: %s", ex->name, err.message);
    check_stage(ex->name, "canonical request", ex->canonical_request, creq.data);
    assert_int_equal(wd_sigv4_string_to_sign(&params, "20130524T000000Z", creq.data, creq.len, &sts, &err),
                     0);
    check_stage(ex->name, "string to sign", ex->string_to_sign, sts.data);
    assert_int_equal(wd_sigv4_signature(&creds, &params, "20130524T000000Z", sts.data, sts.len, sig, &err),
                     0);
    check_stage(ex->name, "signature", ex->signature, sig);

    struct wd_sigv4_result res = {0};
    assert_int_equal(wd_sigv4_sign(&ex->req, &creds, &params, &res, &err), 0);
    assert_int_equal(wd_buf_printf(&auth,
                                   "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                                   "aws4_request, SignedHeaders=%s, Signature=%s",
                                   ex->signed_headers, ex->signature),
                     0);
    check_stage(ex->name, "authorization", auth.data, res.authorization);
    check_stage(ex->name, "x-amz-date", "20130524T000000Z", res.amz_date);
    assert_null(res.security_token);

    wd_sigv4_result_clear(&res);
    wd_buf_free(&creq);
    wd_buf_free(&sh);
    wd_buf_free(&sts);
    wd_buf_free(&auth);
}

static void test_s3_example_get_object(void **state)
{
    (void)state;
    static const struct wd_header headers[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                               {"Range", "bytes=0-9"}};
    struct s3_example ex = {
        .name = "GET Object",
        .req = {.method = "GET", .path = "/test.txt", .headers = headers, .n_headers = 2},
        .canonical_request = "GET\n"
                             "/test.txt\n"
                             "\n"
                             "host:examplebucket.s3.amazonaws.com\n"
                             "range:bytes=0-9\n"
                             "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n"
                             "\n"
                             "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        .signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        .signed_headers = "host;range;x-amz-content-sha256;x-amz-date",
    };
    check_s3_example(&ex);
}

static void test_s3_example_put_object(void **state)
{
    (void)state;
    static const struct wd_header headers[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    static const char body[] = "Welcome to Amazon S3.";
    /* The key "test$file.text" goes on the wire encoded once; S3 signs that form as it is. */
    struct wd_buf path = {0};
    assert_int_equal(wd_buf_append_char(&path, '/'), 0);
    assert_int_equal(wd_uri_encode(&path, "test$file.text", strlen("test$file.text"), true), 0);
    assert_string_equal(path.data, "/test%24file.text");
    struct s3_example ex = {
        .name = "PUT Object",
        .req = {.method = "PUT",
                .path = path.data,
                .headers = headers,
                .n_headers = 3,
                .payload = body,
                .payload_len = strlen(body)},
        .canonical_request =
            "PUT\n"
            "/test%24file.text\n"
            "\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-storage-class:REDUCED_REDUNDANCY\n"
            "\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        .signature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        .signed_headers = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
    };
    check_s3_example(&ex);
    wd_buf_free(&path);
}

static void test_s3_example_get_bucket_lifecycle(void **state)
{
    (void)state;
    struct s3_example ex = {
        .name = "GET Bucket Lifecycle",
        .req = {.method = "GET", .path = "/", .query = "lifecycle", .headers = s3_host, .n_headers = 1},
        .canonical_request = "GET\n"
                             "/\n"
                             "lifecycle=\n"
                             "host:examplebucket.s3.amazonaws.com\n"
                             "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n"
                             "\n"
                             "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        .signature = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        .signed_headers = "host;x-amz-content-sha256;x-amz-date",
    };
    check_s3_example(&ex);
}

static void test_s3_example_list_objects(void **state)
{
    (void)state;
    struct s3_example ex = {
        .name = "GET Bucket (List Objects)",
        .req = {.method = "GET",
                .path = "/",
                .query = "max-keys=2&prefix=J",
                .headers = s3_host,
                .n_headers = 1},
        .canonical_request = "GET\n"
                             "/\n"
                             "max-keys=2&prefix=J\n"
                             "host:examplebucket.s3.amazonaws.com\n"
                             "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                             "x-amz-date:20130524T000000Z\n"
                             "\n"
                             "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        .string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                          "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        .signature = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        .signed_headers = "host;x-amz-content-sha256;x-amz-date",
    };
    check_s3_example(&ex);
    /* The query order on the wire does not matter. */
    ex.req.query = "prefix=J&max-keys=2";
    check_s3_example(&ex);
}

static void test_session_token(void **state)
{
    (void)state;
    char token[] = "FQoGZXIvYXdzE//token+with/slashes==";
    struct wd_credentials creds = s3_creds();
    creds.session_token = token;
    struct wd_sigv4_params params = s3_params();
    struct wd_sigv4_request req = {.method = "GET", .path = "/b/k", .headers = s3_host, .n_headers = 1};
    struct wd_sigv4_result res = {0};
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};

    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    assert_string_equal(sh.data, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    assert_non_null(strstr(creq.data, "\nx-amz-security-token:FQoGZXIvYXdzE//token+with/slashes==\n"));
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_string_equal(res.security_token, token);
    assert_non_null(strstr(res.authorization,
                           "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    wd_sigv4_result_clear(&res);

    /* STS style: still returned for the caller to send, but not signed. */
    params.omit_session_token = true;
    wd_buf_reset(&creq);
    wd_buf_reset(&sh);
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    assert_string_equal(sh.data, "host;x-amz-content-sha256;x-amz-date");
    assert_null(strstr(creq.data, "x-amz-security-token"));
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_string_equal(res.security_token, token);
    wd_sigv4_result_clear(&res);

    /* An empty token is no token. */
    token[0] = '\0';
    assert_int_equal(wd_sigv4_sign(&req, &creds, &params, &res, &err), 0);
    assert_null(res.security_token);
    wd_sigv4_result_clear(&res);

    wd_buf_free(&creq);
    wd_buf_free(&sh);
}

static void test_header_canonical_form(void **state)
{
    (void)state;
    static const struct wd_header headers[] = {
        {"X-Meta", "  a \t  b  "}, {"Host", "h.example"}, {"x-meta", "c"}, {"Empty", ""}, {"Tab", "\tx\t"}};
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    params.sign_body = false;
    struct wd_sigv4_request req = {.method = "GET", .path = "/", .headers = headers, .n_headers = 5};
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    assert_string_equal(creq.data, "GET\n/\n\n"
                                   "empty:\n"
                                   "host:h.example\n"
                                   "tab:x\n"
                                   "x-amz-date:20130524T000000Z\n"
                                   "x-meta:a b,c\n"
                                   "\n"
                                   "empty;host;tab;x-amz-date;x-meta\n" EMPTY_SHA256);
    assert_string_equal(sh.data, "empty;host;tab;x-amz-date;x-meta");
    wd_buf_free(&creq);
    wd_buf_free(&sh);
}

static void test_query_canonical_form(void **state)
{
    (void)state;
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    params.sign_body = false;
    struct wd_sigv4_request req = {
        .method = "GET",
        .path = "/",
        .query = "b=2&a=x+y&a=%2b&&c&list-type=2&prefix=sprint%2F&%7e=%7E",
        .headers = s3_host,
        .n_headers = 1,
    };
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     0);
    const char *line = strchr(strchr(creq.data, '\n') + 1, '\n') + 1;
    const char *want = "a=%2B&a=x%2By&b=2&c=&list-type=2&prefix=sprint%2F&~=~\n";
    assert_memory_equal(line, want, strlen(want));
    wd_buf_free(&creq);
    wd_buf_free(&sh);
}

static void test_amz_date_and_sha256(void **state)
{
    (void)state;
    char date[WD_SIGV4_AMZ_DATE_SIZE];
    struct wd_error err = {0};
    assert_int_equal(wd_sigv4_amz_date(1440938160, date, &err), 0);
    assert_string_equal(date, "20150830T123600Z");
    assert_int_equal(wd_sigv4_amz_date(0, date, &err), 0);
    assert_string_equal(date, "19700101T000000Z");

    char hex[65];
    wd_sha256_hex("", 0, hex);
    assert_string_equal(hex, EMPTY_SHA256);
    wd_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, EMPTY_SHA256);
    wd_sha256_hex("Welcome to Amazon S3.", 21, hex);
    assert_string_equal(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

/* Every failure: -1, class internal, a message without the secret, and the result left zeroed. */
static void expect_sign_failure(const char *what, const struct wd_sigv4_request *req,
                                const struct wd_credentials *creds, const struct wd_sigv4_params *params)
{
    struct wd_sigv4_result res;
    struct wd_error err = {0};
    memset(&res, 0xa5, sizeof(res));
    if (wd_sigv4_sign(req, creds, params, &res, &err) != -1)
        fail_msg("%s: signing did not fail", what);
    assert_null(res.amz_date);
    assert_null(res.content_sha256);
    assert_null(res.security_token);
    assert_null(res.authorization);
    if (err.cls != WD_ERR_INTERNAL)
        fail_msg("%s: class %s, expected internal", what, wd_error_class_name(err.cls));
    assert_true(err.message[0] != '\0');
    assert_null(strstr(err.message, s3_secret));
    wd_sigv4_result_clear(&res);
}

/* A caller-derived signing key (widgetd caches one per day and service) signs exactly as the secret. */
static void test_cached_signing_key(void **state)
{
    (void)state;
    struct wd_credentials creds = {.access_key_id = s3_akid,
                                   .secret_access_key = (char[]){"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}};
    struct wd_header h[] = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
    struct wd_sigv4_request req = {.method = "GET", .path = "/test.txt", .headers = h, .n_headers = 2};
    struct wd_sigv4_params p = {
        .region = "us-east-1", .service = "s3", .time = 1369353600, .sign_body = true};
    struct wd_sigv4_result plain = {0}, cached = {0};
    struct wd_error err;
    unsigned char key[WD_SIGV4_KEY_SIZE];
    assert_int_equal(wd_sigv4_sign(&req, &creds, &p, &plain, &err), 0);
    assert_int_equal(wd_sigv4_signing_key(creds.secret_access_key, "20130524", "us-east-1", "s3", key, &err),
                     0);
    p.signing_key = key;
    assert_int_equal(wd_sigv4_sign(&req, &creds, &p, &cached, &err), 0);
    assert_string_equal(plain.authorization, cached.authorization);
    assert_non_null(strstr(cached.authorization,
                           "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
    /* A key for another day must not pass for today's. */
    assert_int_equal(wd_sigv4_signing_key(creds.secret_access_key, "20130525", "us-east-1", "s3", key, &err),
                     0);
    struct wd_sigv4_result other = {0};
    assert_int_equal(wd_sigv4_sign(&req, &creds, &p, &other, &err), 0);
    assert_string_not_equal(plain.authorization, other.authorization);
    assert_int_equal(wd_sigv4_signing_key("", "20130524", "us-east-1", "s3", key, &err), -1);
    wd_sigv4_result_clear(&plain);
    wd_sigv4_result_clear(&cached);
    wd_sigv4_result_clear(&other);
}

static void test_sign_failures_leave_result_zeroed(void **state)
{
    (void)state;
    struct wd_credentials creds = s3_creds();
    struct wd_sigv4_params params = s3_params();
    static const struct wd_header no_host[] = {{"Range", "bytes=0-9"}};
    static const struct wd_header crlf[] = {{"Host", "h"}, {"X-Evil", "a\r\nx-amz-date:1"}};
    static const struct wd_header own_date[] = {{"Host", "h"}, {"X-Amz-Date", "20130524T000000Z"}};
    static const struct wd_header own_auth[] = {{"Host", "h"}, {"Authorization", "x"}};
    static const struct wd_header bad_name[] = {{"Host", "h"}, {"Bad Name", "x"}};
    struct wd_sigv4_request base = {.method = "GET", .path = "/", .headers = s3_host, .n_headers = 1};
    struct wd_sigv4_request req;

    req = base;
    req.headers = no_host;
    expect_sign_failure("no host", &req, &creds, &params);
    req = base;
    req.headers = crlf;
    req.n_headers = 2;
    expect_sign_failure("CRLF in a value", &req, &creds, &params);
    req = base;
    req.headers = own_date;
    req.n_headers = 2;
    expect_sign_failure("caller's x-amz-date", &req, &creds, &params);
    req = base;
    req.headers = own_auth;
    req.n_headers = 2;
    expect_sign_failure("caller's authorization", &req, &creds, &params);
    req = base;
    req.headers = bad_name;
    req.n_headers = 2;
    expect_sign_failure("space in a header name", &req, &creds, &params);
    req = base;
    req.query = "a=%zz";
    expect_sign_failure("malformed query escape", &req, &creds, &params);
    req = base;
    req.method = NULL;
    expect_sign_failure("no method", &req, &creds, &params);
    req = base;
    req.path = "/a\nb";
    expect_sign_failure("raw newline in the path", &req, &creds, &params);

    struct wd_sigv4_params bad = params;
    bad.region = "us-east-1/evil";
    expect_sign_failure("slash in the region", &base, &creds, &bad);
    bad = params;
    bad.service = "";
    expect_sign_failure("empty service", &base, &creds, &bad);

    struct wd_credentials no_secret = creds;
    no_secret.secret_access_key = NULL;
    expect_sign_failure("no secret", &base, &no_secret, &params);

    /* The stages leave their output buffers untouched on failure too. */
    struct wd_buf creq = {0}, sh = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_buf_append_str(&creq, "keep"), 0);
    req = base;
    req.headers = no_host;
    assert_int_equal(wd_sigv4_canonical_request(&req, &creds, &params, "20130524T000000Z", &creq, &sh, &err),
                     -1);
    assert_string_equal(creq.data, "keep");
    assert_null(sh.data);
    assert_int_equal(wd_sigv4_canonical_request(&base, &creds, &params, "2013-05-24", &creq, &sh, &err), -1);
    assert_string_equal(creq.data, "keep");
    wd_buf_free(&creq);

    wd_sigv4_result_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_has_every_case),
        cmocka_unit_test(test_s3_paths_are_not_normalised),
        cmocka_unit_test(test_s3_key_is_encoded_once),
        cmocka_unit_test(test_s3_content_sha256_is_signed),
        cmocka_unit_test(test_s3_example_get_object),
        cmocka_unit_test(test_s3_example_put_object),
        cmocka_unit_test(test_s3_example_get_bucket_lifecycle),
        cmocka_unit_test(test_s3_example_list_objects),
        cmocka_unit_test(test_session_token),
        cmocka_unit_test(test_header_canonical_form),
        cmocka_unit_test(test_query_canonical_form),
        cmocka_unit_test(test_amz_date_and_sha256),
        cmocka_unit_test(test_cached_signing_key),
        cmocka_unit_test(test_sign_failures_leave_result_zeroed),
    };
    int failures = cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);

    /* One test per suite folder, so a failure names its case; test_suite_has_every_case guards the count. */
    char **names = NULL;
    int n = list_cases(&names);
    if (n > 0) {
        struct CMUnitTest *cases = calloc((size_t)n, sizeof(*cases));
        assert_non_null(cases);
        for (int i = 0; i < n; i++) {
            cases[i].name = names[i];
            cases[i].test_func = run_vector_case;
            cases[i].initial_state = names[i];
        }
        failures += _cmocka_run_group_tests("sigv4_test_suite", cases, (size_t)n, NULL, NULL);
        free(cases);
    }
    free_names(names, n);
    return failures;
}
