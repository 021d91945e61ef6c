/* Unit tests for aws_error.c: every listed code and status of S3 and DynamoDB to its class, and the messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws_error.h"
#include "buf.h"

enum service { S3, DDB };

struct code_case {
    const char *code;
    long status;
    enum wd_error_class cls;
};

/* Throttling and transient codes are the same for both services (the SDKs' lists). */
static const struct code_case common_cases[] = {
    {"Throttling", 400, WD_ERR_THROTTLED},
    {"ThrottlingException", 400, WD_ERR_THROTTLED},
    {"ThrottledException", 400, WD_ERR_THROTTLED},
    {"RequestThrottledException", 400, WD_ERR_THROTTLED},
    {"TooManyRequestsException", 400, WD_ERR_THROTTLED},
    {"ProvisionedThroughputExceededException", 400, WD_ERR_THROTTLED},
    {"TransactionInProgressException", 400, WD_ERR_THROTTLED},
    {"RequestLimitExceeded", 400, WD_ERR_THROTTLED},
    {"BandwidthLimitExceeded", 400, WD_ERR_THROTTLED},
    {"LimitExceededException", 400, WD_ERR_THROTTLED},
    {"RequestThrottled", 400, WD_ERR_THROTTLED},
    {"SlowDown", 503, WD_ERR_THROTTLED},
    {"SlowDown", 200, WD_ERR_THROTTLED},
    {"PriorRequestNotComplete", 400, WD_ERR_THROTTLED},
    {"EC2ThrottledException", 400, WD_ERR_THROTTLED},
    {"RequestTimeout", 400, WD_ERR_TRANSIENT},
    {"RequestTimeoutException", 400, WD_ERR_TRANSIENT},
    {"InternalError", 500, WD_ERR_TRANSIENT},
    {"InternalError", 200, WD_ERR_TRANSIENT},
    {"InternalFailure", 500, WD_ERR_TRANSIENT},
    {"InternalServerError", 500, WD_ERR_TRANSIENT},
    {"ServiceUnavailable", 503, WD_ERR_TRANSIENT},
    /* Close to a throttling code is not one: the match is exact. */
    {"Throttled", 400, WD_ERR_CLIENT},
    {"slowdown", 400, WD_ERR_CLIENT},
    /* An unknown code falls back to its status. */
    {"SomethingNew", 500, WD_ERR_TRANSIENT},
    {"SomethingNew", 502, WD_ERR_TRANSIENT},
    {"SomethingNew", 503, WD_ERR_TRANSIENT},
    {"SomethingNew", 504, WD_ERR_TRANSIENT},
    {"SomethingNew", 429, WD_ERR_THROTTLED},
    {"SomethingNew", 403, WD_ERR_AUTH},
    {"SomethingNew", 401, WD_ERR_AUTH},
    {"SomethingNew", 400, WD_ERR_CLIENT},
    {"SomethingNew", 409, WD_ERR_CLIENT},
    {"SomethingNew", 413, WD_ERR_CLIENT},
};

static const struct code_case s3_cases[] = {
    {"AccessDenied", 403, WD_ERR_AUTH},
    {"InvalidAccessKeyId", 403, WD_ERR_AUTH},
    {"SignatureDoesNotMatch", 403, WD_ERR_AUTH},
    {"ExpiredToken", 400, WD_ERR_AUTH},
    {"RequestTimeTooSkewed", 403, WD_ERR_AUTH},
    {"InvalidToken", 400, WD_ERR_AUTH},
    {"AuthorizationHeaderMalformed", 400, WD_ERR_AUTH},
    {"MissingSecurityHeader", 400, WD_ERR_AUTH},
    {"TokenRefreshRequired", 400, WD_ERR_AUTH},
    {"AllAccessDisabled", 403, WD_ERR_AUTH},
    {"NoSuchBucket", 404, WD_ERR_MISSING},
    {"PermanentRedirect", 301, WD_ERR_MISSING},
    {"TemporaryRedirect", 307, WD_ERR_TRANSIENT},
    {"NoSuchKey", 404, WD_ERR_NOT_FOUND},
    {"NoSuchUpload", 404, WD_ERR_NOT_FOUND},
    {"PreconditionFailed", 412, WD_ERR_CONDITION},
    {"ConditionalRequestConflict", 409, WD_ERR_CONDITION},
    {"InvalidArgument", 400, WD_ERR_CLIENT},
    {"EntityTooLarge", 400, WD_ERR_CLIENT},
    {"KeyTooLongError", 400, WD_ERR_CLIENT},
    {"NotImplemented", 501, WD_ERR_TRANSIENT},
    /* A 200 carrying an <Error> (CopyObject) is a failure to retry, whatever the code. */
    {"SomethingNew", 200, WD_ERR_TRANSIENT},
    {"SomethingNew", 404, WD_ERR_NOT_FOUND},
    {"SomethingNew", 412, WD_ERR_CONDITION},
};

static const struct code_case ddb_cases[] = {
    {"UnrecognizedClientException", 400, WD_ERR_AUTH},
    {"InvalidSignatureException", 400, WD_ERR_AUTH},
    {"MissingAuthenticationToken", 403, WD_ERR_AUTH},
    {"MissingAuthenticationTokenException", 400, WD_ERR_AUTH},
    {"IncompleteSignatureException", 400, WD_ERR_AUTH},
    {"AccessDeniedException", 400, WD_ERR_AUTH},
    {"ExpiredTokenException", 400, WD_ERR_AUTH},
    {"ResourceNotFoundException", 400, WD_ERR_MISSING},
    {"ConditionalCheckFailedException", 400, WD_ERR_CONDITION},
    {"TransactionConflictException", 400, WD_ERR_TRANSIENT},
    {"ReplicatedWriteConflictException", 400, WD_ERR_TRANSIENT},
    {"ValidationException", 400, WD_ERR_CLIENT},
    {"ItemCollectionSizeLimitExceededException", 400, WD_ERR_CLIENT},
    {"SerializationException", 400, WD_ERR_CLIENT},
    /* S3's codes mean nothing to DynamoDB. */
    {"NoSuchKey", 400, WD_ERR_CLIENT},
    {"SomethingNew", 404, WD_ERR_MISSING},
    {"SomethingNew", 412, WD_ERR_CLIENT},
};

static char *s3_body(const char *code)
{
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_printf(&b,
                                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                                   "<Message>it went wrong</Message><RequestId>4442587FB7D0A2F9</RequestId>"
                                   "<HostId>abc=</HostId></Error>",
                                   code),
                     0);
    return wd_buf_steal(&b);
}

/* DynamoDB's three __type namespaces, and both spellings of the message key. */
static char *ddb_body(const char *code, size_t variant)
{
    static const char *const prefixes[] = {"com.amazonaws.dynamodb.v20120810#", "com.amazon.coral.validate#",
                                           "com.amazon.coral.service#"};
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_printf(&b, "{\"__type\":\"%s%s\",\"%s\":\"it went wrong\"}",
                                   prefixes[variant % 3], code, variant % 2 ? "Message" : "message"),
                     0);
    return wd_buf_steal(&b);
}

static void check_case(enum service svc, const struct code_case *c, size_t variant)
{
    char *body = svc == S3 ? s3_body(c->code) : ddb_body(c->code, variant);
    struct wd_error err = {0};
    int rc = svc == S3 ? wd_s3_error_from_response(c->status, body, strlen(body), &err)
                       : wd_ddb_error_from_response(c->status, body, strlen(body), &err);
    assert_int_equal(rc, -1);
    if (err.cls != c->cls)
        fail_msg("%s %ld %s: got %s, want %s", svc == S3 ? "S3" : "DynamoDB", c->status, c->code,
                 wd_error_class_name(err.cls), wd_error_class_name(c->cls));
    assert_string_equal(err.code, c->code);
    assert_int_equal(err.http_status, c->status);
    char want[256];
    snprintf(want, sizeof(want), "%s %ld %s: it went wrong", svc == S3 ? "S3" : "DynamoDB", c->status,
             c->code);
    assert_string_equal(err.message, want);
    free(body);
}

static void test_s3_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(common_cases) / sizeof(common_cases[0]); i++)
        check_case(S3, &common_cases[i], i);
    for (size_t i = 0; i < sizeof(s3_cases) / sizeof(s3_cases[0]); i++)
        check_case(S3, &s3_cases[i], i);
}

static void test_ddb_codes(void **state)
{
    (void)state;
    for (size_t v = 0; v < 6; v++) {
        for (size_t i = 0; i < sizeof(common_cases) / sizeof(common_cases[0]); i++)
            if (common_cases[i].status != 200)
                check_case(DDB, &common_cases[i], i + v);
        for (size_t i = 0; i < sizeof(ddb_cases) / sizeof(ddb_cases[0]); i++)
            check_case(DDB, &ddb_cases[i], i + v);
    }
}

struct body_case {
    long status;
    const char *body; /* NULL: no body at all */
    enum wd_error_class s3, ddb;
};

/* Statuses with bodies that carry no code: empty, whitespace, HTML from a proxy, the other service's format.
 */
static const struct body_case body_cases[] = {
    {500, NULL, WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {502, "", WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {503, " \r\n", WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {500, "Internal Server Error", WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {429, "Too Many Requests", WD_ERR_THROTTLED, WD_ERR_THROTTLED},
    {408, NULL, WD_ERR_TRANSIENT, WD_ERR_TRANSIENT},
    {403, NULL, WD_ERR_AUTH, WD_ERR_AUTH},
    {401, "", WD_ERR_AUTH, WD_ERR_AUTH},
    {404, NULL, WD_ERR_NOT_FOUND, WD_ERR_MISSING},
    {412, NULL, WD_ERR_CONDITION, WD_ERR_CLIENT},
    {400, "not xml, not json", WD_ERR_CLIENT, WD_ERR_CLIENT},
    {400, "{\"__type\":", WD_ERR_CLIENT, WD_ERR_CLIENT},
    {400, "[1,2,3]", WD_ERR_CLIENT, WD_ERR_CLIENT},
    {400, "{\"__type\":42}", WD_ERR_CLIENT, WD_ERR_CLIENT},
    {400, "<Error><Code>Unclosed", WD_ERR_CLIENT, WD_ERR_CLIENT},
    {301, NULL, WD_ERR_INTERNAL, WD_ERR_INTERNAL},
    {200, NULL, WD_ERR_INTERNAL, WD_ERR_INTERNAL},
    {200, "<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>", WD_ERR_INTERNAL, WD_ERR_INTERNAL},
    /* Each service ignores the other's format. */
    {503, "{\"__type\":\"ThrottlingException\"}", WD_ERR_TRANSIENT, WD_ERR_THROTTLED},
    {503, "<Error><Code>SlowDown</Code></Error>", WD_ERR_THROTTLED, WD_ERR_TRANSIENT},
    /* A refused DTD is not an error document. */
    {400, "<!DOCTYPE Error><Error><Code>SlowDown</Code></Error>", WD_ERR_CLIENT, WD_ERR_CLIENT},
};

static void test_bodies_without_code(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
        const struct body_case *c = &body_cases[i];
        size_t len = c->body ? strlen(c->body) : 0;
        struct wd_error err = {0};
        assert_int_equal(wd_s3_error_from_response(c->status, c->body, len, &err), -1);
        if (err.cls != c->s3)
            fail_msg("S3 %ld \"%s\": got %s", c->status, c->body ? c->body : "(null)",
                     wd_error_class_name(err.cls));
        assert_int_equal(err.http_status, c->status);
        assert_true(strncmp(err.message, "S3 ", 3) == 0);
        assert_int_equal(wd_ddb_error_from_response(c->status, c->body, len, &err), -1);
        if (err.cls != c->ddb)
            fail_msg("DynamoDB %ld \"%s\": got %s", c->status, c->body ? c->body : "(null)",
                     wd_error_class_name(err.cls));
        assert_true(strncmp(err.message, "DynamoDB ", 9) == 0);
    }
}

/* A huge body is not parsed, whatever it holds: the status decides and the message stays short. */
static void test_huge_bodies(void **state)
{
    (void)state;
    static const char *const heads[] = {"<Error><Code>SlowDown</Code><Message>",
                                        "{\"__type\":\"x#ThrottlingException\",\"message\":\"", "AAAA"};
    for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
        struct wd_buf b = {0};
        assert_int_equal(wd_buf_append_str(&b, heads[h]), 0);
        while (b.len < 4 * 1024 * 1024)
            assert_int_equal(wd_buf_append_str(&b, "0123456789abcdef\n"), 0);
        struct wd_error err = {0};
        assert_int_equal(wd_s3_error_from_response(503, b.data, b.len, &err), -1);
        assert_int_equal(err.cls, WD_ERR_TRANSIENT);
        assert_true(strlen(err.message) < 200);
        assert_int_equal(wd_ddb_error_from_response(400, b.data, b.len, &err), -1);
        assert_int_equal(err.cls, WD_ERR_CLIENT);
        assert_true(strlen(err.message) < 200);
        assert_int_equal(wd_s3_body_is_error(b.data, b.len), 0);
        wd_buf_free(&b);
    }
}

static void test_s3_message_reads_well(void **state)
{
    (void)state;
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The "
        "request "
        "signature we calculated does not match the signature you provided. Check your key and signing "
        "method.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</"
        "AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n"
        "20210202T225251Z</StringToSign><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    struct wd_error err = {0};
    assert_int_equal(wd_s3_error_from_response(403, body, strlen(body), &err), -1);
    assert_int_equal(err.cls, WD_ERR_AUTH);
    assert_string_equal(err.code, "SignatureDoesNotMatch");
    assert_string_equal(err.message,
                        "S3 403 SignatureDoesNotMatch: The request signature we calculated does not "
                        "match the signature you provided. Check your key and signing method.");

    assert_int_equal(wd_s3_error_from_response(404, NULL, 0, &err), -1);
    assert_string_equal(err.message, "S3 404 (empty body)");
    assert_string_equal(err.code, "");

    static const char nomsg[] = "<Error><Code>NoSuchKey</Code></Error>";
    assert_int_equal(wd_s3_error_from_response(404, nomsg, strlen(nomsg), &err), -1);
    assert_string_equal(err.message, "S3 404 NoSuchKey");

    static const char nocode[] = "<Error><Message>hmm</Message></Error>";
    assert_int_equal(wd_s3_error_from_response(500, nocode, strlen(nocode), &err), -1);
    assert_string_equal(err.message, "S3 500 (no code): hmm");

    static const char bare[] = "<Error/>";
    assert_int_equal(wd_s3_error_from_response(500, bare, strlen(bare), &err), -1);
    assert_string_equal(err.message, "S3 500 (an error document without a code or message)");
}

static void test_messages_are_printable_and_short(void **state)
{
    (void)state;
    /* Multi-line HTML from a proxy: one line, quotes and control characters escaped, cut with "...". */
    static const char html[] =
        "<html>\r\n<head><title>502 \"Bad\" Gateway</title></head>\n\t<body>\x01\xc3\xa9"
        "</body>\n</html>\n<!-- padding padding padding padding padding padding -->";
    struct wd_error err = {0};
    assert_int_equal(wd_s3_error_from_response(502, html, strlen(html), &err), -1);
    assert_string_equal(err.message,
                        "S3 502 (the body is not an error document: \"<html>\\x0D\\x0A<head><title>"
                        "502 \\\"Bad\\\" Gateway</title></head>\\x0A\\x09<body>\\x01...\")");

    /* A long message with control characters and non-ASCII. */
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                                           "\"message\":\"bad\\u0001\\n\\\\ z\\u00fcrich "),
                     0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(wd_buf_append_str(&b, "x"), 0);
    assert_int_equal(wd_buf_append_str(&b, "\"}"), 0);
    assert_int_equal(wd_ddb_error_from_response(400, b.data, b.len, &err), -1);
    wd_buf_free(&b);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_true(strncmp(err.message, "DynamoDB 400 ValidationException: bad\\x01\\x0A\\\\ z\xc3\xbcrich xxx",
                        59) == 0);
    size_t n = strlen(err.message);
    assert_true(n < 400);
    assert_string_equal(err.message + n - 3, "...");
    /* One line: printable UTF-8 kept, no control characters. */
    for (size_t i = 0; i < n; i++)
        assert_true((unsigned char)err.message[i] >= 0x20 && err.message[i] != 0x7f);

    /* A hostile code is escaped and cut to fit err->code. */
    assert_int_equal(wd_buf_append_str(&b, "{\"__type\":\"x#Evil\\u001b[31m"), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(wd_buf_append_str(&b, "C"), 0);
    assert_int_equal(wd_buf_append_str(&b, "\"}"), 0);
    assert_int_equal(wd_ddb_error_from_response(400, b.data, b.len, &err), -1);
    wd_buf_free(&b);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_true(strncmp(err.code, "Evil\\x1B[31mCCC", 15) == 0);
    assert_true(strlen(err.code) < sizeof(err.code));
    for (size_t i = 0; err.message[i]; i++)
        assert_true((unsigned char)err.message[i] >= 0x20 && err.message[i] != 0x7f);
}

static void test_ddb_type_forms(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *code;
        const char *message;
        enum wd_error_class cls;
    } cases[] = {
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\",\"message\":\"Requested "
         "resource "
         "not found\"}",
         "ResourceNotFoundException", "DynamoDB 400 ResourceNotFoundException: Requested resource not found",
         WD_ERR_MISSING},
        {"{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\",\"Message\":\"The security "
         "token "
         "included in the request is invalid.\"}",
         "UnrecognizedClientException",
         "DynamoDB 400 UnrecognizedClientException: The security token included in the request is invalid.",
         WD_ERR_AUTH},
        {"{\"__type\":\"ThrottlingException\"}", "ThrottlingException", "DynamoDB 400 ThrottlingException",
         WD_ERR_THROTTLED},
        /* Smithy's rules: "code" also names it, and a ':' suffix is dropped. */
        {"{\"code\":\"ProvisionedThroughputExceededException:http://internal.amazon.com/coral/x/\","
         "\"message\":\"slow\"}",
         "ProvisionedThroughputExceededException",
         "DynamoDB 400 ProvisionedThroughputExceededException: slow", WD_ERR_THROTTLED},
        {"{\"message\":\"only a message\"}", "", "DynamoDB 400 (no code): only a message", WD_ERR_CLIENT},
        {"{}", "", "DynamoDB 400 (the body is not an error document: \"{}\")", WD_ERR_CLIENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wd_error err = {0};
        assert_int_equal(wd_ddb_error_from_response(400, cases[i].body, strlen(cases[i].body), &err), -1);
        assert_string_equal(err.code, cases[i].code);
        assert_string_equal(err.message, cases[i].message);
        assert_int_equal(err.cls, cases[i].cls);
    }
}

/* A cancelled transaction is classed by its reasons: the most final one wins. */
static void test_ddb_transaction_canceled(void **state)
{
    (void)state;
    static const struct {
        const char *reasons;
        enum wd_error_class cls;
    } cases[] = {
        {"[{\"Code\":\"None\"},{\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The conditional request "
         "failed\"}]",
         WD_ERR_CONDITION},
        {"[{\"Code\":\"TransactionConflict\"},{\"Code\":\"None\"}]", WD_ERR_TRANSIENT},
        {"[{\"Code\":\"ThrottlingError\"},{\"Code\":\"TransactionConflict\"}]", WD_ERR_THROTTLED},
        {"[{\"Code\":\"ProvisionedThroughputExceeded\"}]", WD_ERR_THROTTLED},
        {"[{\"Code\":\"ConditionalCheckFailed\"},{\"Code\":\"ThrottlingError\"}]", WD_ERR_CONDITION},
        {"[{\"Code\":\"ValidationError\"},{\"Code\":\"ConditionalCheckFailed\"}]", WD_ERR_CLIENT},
        {"[{\"Code\":\"ItemCollectionSizeLimitExceeded\"}]", WD_ERR_CLIENT},
        {"[{\"Code\":\"None\"}]", WD_ERR_CLIENT},
        {"\"not a list\"", WD_ERR_CLIENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wd_buf b = {0};
        assert_int_equal(
            wd_buf_printf(&b,
                          "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                          "\"CancellationReasons\":%s,\"Message\":\"Transaction cancelled\"}",
                          cases[i].reasons),
            0);
        struct wd_error err = {0};
        assert_int_equal(wd_ddb_error_from_response(400, b.data, b.len, &err), -1);
        if (err.cls != cases[i].cls)
            fail_msg("%s: got %s", cases[i].reasons, wd_error_class_name(err.cls));
        assert_string_equal(err.code, "TransactionCanceledException");
        wd_buf_free(&b);
    }
}

static void test_s3_body_is_error(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int want;
    } cases[] = {
        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We "
         "encountered an "
         "internal error. Please try again.</Message></Error>",
         1},
        /* S3 pads a slow CopyObject with whitespace before the document. */
        {"      \n\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code></Error>", 1},
        {"<?xml version=\"1.0\" "
         "encoding=\"UTF-8\"?>\n<CopyObjectResult><LastModified>2021-02-02T22:52:51.000Z"
         "</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>",
         0},
        {"", 0},
        {"   ", 0},
        {"{\"id\":\"w1\"}", 0},
        {"<Error><Code>InternalError</Code>", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(wd_s3_body_is_error(cases[i].body, strlen(cases[i].body)), cases[i].want);
    assert_int_equal(wd_s3_body_is_error(NULL, 0), 0);
}

/* err may be NULL: the class is then simply not reported. */
/* An S3 error document with this code and message, as AWS writes it. */
static int s3_class_of(long status, const char *code, const char *message, const char *extra)
{
    struct wd_buf b = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_buf_printf(&b,
                                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                                   "<Message>%s</Message>%s<RequestId>4442587FB7D0A2F9</RequestId>"
                                   "<HostId>abc=</HostId></Error>",
                                   code, message, extra),
                     0);
    assert_int_equal(wd_s3_error_from_response(status, b.data, b.len, &err), -1);
    wd_buf_free(&b);
    return (int)err.cls;
}

/*
 * Objects unreadable for a reason of their own (SPEC 5) are neither auth failures nor other client
 * errors: they are set aside, and never hold up later requests.
 */
static void test_s3_unreadable(void **state)
{
    (void)state;
    /* GetObject of an archived object: a 403 that is not about credentials. */
    assert_int_equal(s3_class_of(403, "InvalidObjectState",
                                 "The operation is not valid for the object's storage class",
                                 "<StorageClass>GLACIER</StorageClass>"),
                     WD_ERR_UNREADABLE);
    assert_int_equal(s3_class_of(403, "InvalidObjectState", "Object is in an archive tier", ""),
                     WD_ERR_UNREADABLE);
    /* GetObject and CopyObject of an SSE-C object without its key. */
    assert_int_equal(s3_class_of(400, "InvalidRequest",
                                 "The object was stored using a form of Server Side Encryption. The correct "
                                 "parameters must be provided to retrieve the object.",
                                 ""),
                     WD_ERR_UNREADABLE);
    assert_int_equal(s3_class_of(400, "InvalidRequest",
                                 "The object was encrypted with a Customer-Provided Key; provide it", ""),
                     WD_ERR_UNREADABLE);
    /* CopyObject of a source over 5 GiB. */
    assert_int_equal(s3_class_of(400, "InvalidRequest",
                                 "The specified copy source is larger than the maximum allowable size for a "
                                 "copy source: 5368709120",
                                 ""),
                     WD_ERR_UNREADABLE);
    /* Other InvalidRequests and 403s keep their class. */
    assert_int_equal(s3_class_of(400, "InvalidRequest", "Missing required header for this request", ""),
                     WD_ERR_CLIENT);
    assert_int_equal(s3_class_of(403, "AccessDenied", "Access Denied", ""), WD_ERR_AUTH);
    assert_int_equal(s3_class_of(403, "SomethingNew", "Server Side Encryption", ""), WD_ERR_AUTH);
    /* A 403 without a body (a HEAD) says nothing of the object: auth, as before. */
    struct wd_error err = {0};
    assert_int_equal(wd_s3_error_from_response(403, "", 0, &err), -1);
    assert_int_equal(err.cls, WD_ERR_AUTH);
}

static void test_null_err(void **state)
{
    (void)state;
    assert_int_equal(wd_s3_error_from_response(500, NULL, 0, NULL), -1);
    assert_int_equal(wd_ddb_error_from_response(500, "{}", 2, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_codes),
        cmocka_unit_test(test_ddb_codes),
        cmocka_unit_test(test_bodies_without_code),
        cmocka_unit_test(test_huge_bodies),
        cmocka_unit_test(test_s3_message_reads_well),
        cmocka_unit_test(test_messages_are_printable_and_short),
        cmocka_unit_test(test_ddb_type_forms),
        cmocka_unit_test(test_ddb_transaction_canceled),
        cmocka_unit_test(test_s3_body_is_error),
        cmocka_unit_test(test_s3_unreadable),
        cmocka_unit_test(test_null_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
