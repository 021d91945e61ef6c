/* S3's XML and DynamoDB's JSON error responses mapped to error classes and log-ready messages. */
#include "aws_error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "s3_xml.h"

/* Error documents are small: a larger body is not one, and is not worth parsing to find out. */
#define ERROR_BODY_MAX (256 * 1024)
/* How much of the service's message, and of a body that is not an error document, goes into a log line. */
#define MESSAGE_MAX 300
#define SNIPPET_MAX 80

struct code_class {
    const char *code;
    enum wd_error_class cls;
};

/*
 * Throttling codes: the list the AWS SDKs' standard retry mode treats as throttling, for every service
 * (a service only ever sends its own, so one list serves both).
 */
static const struct code_class common_codes[] = {
    {"Throttling", WD_ERR_THROTTLED},
    {"ThrottlingException", WD_ERR_THROTTLED},
    {"ThrottledException", WD_ERR_THROTTLED},
    {"RequestThrottledException", WD_ERR_THROTTLED},
    {"TooManyRequestsException", WD_ERR_THROTTLED},
    {"ProvisionedThroughputExceededException", WD_ERR_THROTTLED},
    {"TransactionInProgressException", WD_ERR_THROTTLED},
    {"RequestLimitExceeded", WD_ERR_THROTTLED},
    {"BandwidthLimitExceeded", WD_ERR_THROTTLED},
    {"LimitExceededException", WD_ERR_THROTTLED},
    {"RequestThrottled", WD_ERR_THROTTLED},
    {"SlowDown", WD_ERR_THROTTLED},
    {"PriorRequestNotComplete", WD_ERR_THROTTLED},
    {"EC2ThrottledException", WD_ERR_THROTTLED},
    /* Transient codes, likewise from the SDKs' retry lists. */
    {"RequestTimeout", WD_ERR_TRANSIENT},
    {"RequestTimeoutException", WD_ERR_TRANSIENT},
    {"InternalError", WD_ERR_TRANSIENT},
    {"InternalFailure", WD_ERR_TRANSIENT},
    {"InternalServerError", WD_ERR_TRANSIENT},
    {"ServiceUnavailable", WD_ERR_TRANSIENT},
};

static const struct code_class s3_codes[] = {
    {"AccessDenied", WD_ERR_AUTH},
    {"InvalidAccessKeyId", WD_ERR_AUTH},
    {"SignatureDoesNotMatch", WD_ERR_AUTH},
    {"ExpiredToken", WD_ERR_AUTH},
    {"RequestTimeTooSkewed", WD_ERR_AUTH},
    {"InvalidToken", WD_ERR_AUTH},
    /*
     * The deployment's fault although S3 sends them with a 400 or 301 (a wrong region, no credentials):
     * as "other 4xx" they would count as the request's fault and dead-letter valid requests.
     */
    {"AuthorizationHeaderMalformed", WD_ERR_AUTH},
    {"MissingSecurityHeader", WD_ERR_AUTH},
    {"TokenRefreshRequired", WD_ERR_AUTH},
    {"NoSuchBucket", WD_ERR_MISSING},
    {"PermanentRedirect", WD_ERR_MISSING},   /* the bucket lives in another region */
    {"TemporaryRedirect", WD_ERR_TRANSIENT}, /* a new bucket's DNS is still propagating */
    {"NoSuchKey", WD_ERR_NOT_FOUND},
    {"PreconditionFailed", WD_ERR_CONDITION},
    /* A concurrent conditional write on the same key: the caller re-reads and retries, as for 412. */
    {"ConditionalRequestConflict", WD_ERR_CONDITION},
};

static const struct code_class ddb_codes[] = {
    {"UnrecognizedClientException", WD_ERR_AUTH},
    {"InvalidSignatureException", WD_ERR_AUTH},
    {"MissingAuthenticationToken", WD_ERR_AUTH},
    {"MissingAuthenticationTokenException", WD_ERR_AUTH},
    {"IncompleteSignatureException", WD_ERR_AUTH},
    {"AccessDeniedException", WD_ERR_AUTH},
    {"ExpiredTokenException", WD_ERR_AUTH},
    {"ResourceNotFoundException", WD_ERR_MISSING},
    {"ConditionalCheckFailedException", WD_ERR_CONDITION},
    /* Another writer's transaction touched the item: nothing is wrong with this request; try again. */
    {"TransactionConflictException", WD_ERR_TRANSIENT},
    {"ReplicatedWriteConflictException", WD_ERR_TRANSIENT},
    {"ValidationException", WD_ERR_CLIENT},
    {"ItemCollectionSizeLimitExceededException", WD_ERR_CLIENT},
};

/* TransactionCanceledException's CancellationReasons[].Code values (they drop "Exception"). */
static const struct code_class ddb_cancel_reasons[] = {
    {"ValidationError", WD_ERR_CLIENT},           {"ItemCollectionSizeLimitExceeded", WD_ERR_CLIENT},
    {"ConditionalCheckFailed", WD_ERR_CONDITION}, {"ProvisionedThroughputExceeded", WD_ERR_THROTTLED},
    {"ThrottlingError", WD_ERR_THROTTLED},        {"RequestLimitExceeded", WD_ERR_THROTTLED},
    {"TransactionConflict", WD_ERR_TRANSIENT},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static enum wd_error_class lookup(const struct code_class *t, size_t n, const char *code)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].code, code) == 0)
            return t[i].cls;
    return WD_OK;
}

static enum wd_error_class class_from_code(const struct code_class *t, size_t n, const char *code)
{
    if (code[0] == '\0')
        return WD_OK;
    enum wd_error_class cls = lookup(common_codes, N_ELEMS(common_codes), code);
    return cls != WD_OK ? cls : lookup(t, n, code);
}

/* What a status says when the code says nothing; each service handles its own statuses first. */
static enum wd_error_class class_from_status(long status)
{
    if (status == 429)
        return WD_ERR_THROTTLED;
    if (status == 408 || (status >= 500 && status <= 599))
        return WD_ERR_TRANSIENT;
    if (status == 401 || status == 403)
        return WD_ERR_AUTH;
    if (status >= 400 && status <= 499)
        return WD_ERR_CLIENT;
    return WD_ERR_INTERNAL; /* a 1xx/3xx, or a caller that passed a success */
}

static bool is_blank(const char *s, size_t len)
{
    if (s == NULL)
        return true;
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

enum body_kind { BODY_EMPTY, BODY_OTHER, BODY_ERROR };

/* Fills err: "S3 403 SignatureDoesNotMatch: The request signature ...". Returns -1. */
static int describe(struct wd_error *err, enum wd_error_class cls, const char *service, long status,
                    enum body_kind kind, const char *code, const char *message, const char *body, size_t len)
{
    char pcode[sizeof(err->code)], text[MESSAGE_MAX + 4];
    wd_escape_fixed(pcode, sizeof(pcode), WD_ESCAPE_REASON, code, strlen(code));

    if (kind == BODY_EMPTY)
        return wd_error_set(err, cls, status, pcode, "%s %ld (empty body)", service, status);
    if (kind == BODY_OTHER) {
        char snippet[SNIPPET_MAX + 4];
        wd_escape_fixed(snippet, sizeof(snippet), WD_ESCAPE_REASON, body, len);
        return wd_error_set(err, cls, status, pcode, "%s %ld (the body is not an error document: \"%s\")",
                            service, status, snippet);
    }
    wd_escape_fixed(text, sizeof(text), WD_ESCAPE_REASON, message, strlen(message));
    if (pcode[0] == '\0' && text[0] == '\0')
        return wd_error_set(err, cls, status, pcode, "%s %ld (an error document without a code or message)",
                            service, status);
    return wd_error_set(err, cls, status, pcode, "%s %ld %s%s%s", service, status,
                        pcode[0] ? pcode : "(no code)", text[0] ? ": " : "", text);
}

/* Case-insensitive: S3 and its look-alikes do not agree on the case of their messages. */
static bool mentions(const char *text, const char *what)
{
    size_t n = strlen(what);
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, what, n) == 0)
            return true;
    return false;
}

/*
 * An object that cannot be read or copied for a reason of its own (SPEC 5), as S3 answers a GET or a
 * CopyObject: an archived storage class (InvalidObjectState, a 403 that must not pass for an auth
 * failure); encryption with a customer-provided key, or a copy source over 5 GiB (both a 400
 * InvalidRequest, told apart from other InvalidRequests only by the message).
 */
static bool s3_unreadable(const char *code, const char *message)
{
    if (strcmp(code, "InvalidObjectState") == 0)
        return true;
    if (strcmp(code, "InvalidRequest") != 0)
        return false;
    return mentions(message, "Server Side Encryption") || mentions(message, "customer provided key") ||
           mentions(message, "customer-provided key") || mentions(message, "copy source is larger");
}

int wd_s3_error_from_response(long status, const char *body, size_t len, struct wd_error *err)
{
    char code[128] = "", message[512] = "";
    enum body_kind kind = BODY_OTHER;
    if (is_blank(body, len))
        kind = BODY_EMPTY;
    else if (len <= ERROR_BODY_MAX &&
             wd_s3_error_parse(body, len, code, sizeof(code), message, sizeof(message)) == 0)
        kind = BODY_ERROR;

    enum wd_error_class cls = class_from_code(s3_codes, N_ELEMS(s3_codes), code);
    if (cls == WD_OK && kind == BODY_ERROR && s3_unreadable(code, message))
        cls = WD_ERR_UNREADABLE;
    if (cls == WD_OK) {
        if (status >= 200 && status <= 299 && kind == BODY_ERROR)
            cls = WD_ERR_TRANSIENT; /* S3 documents a 200 with an <Error> as a failure to retry */
        else if (status == 404)
            cls = WD_ERR_NOT_FOUND; /* HEAD has no body to say NoSuchKey */
        else if (status == 412)
            cls = WD_ERR_CONDITION;
        else
            cls = class_from_status(status);
    }
    return describe(err, cls, "S3", status, kind, code, message, body, len);
}

int wd_s3_body_is_error(const char *body, size_t len)
{
    /* The parse stops at the root element when it is not <Error>, so a real result costs little. */
    if (is_blank(body, len) || len > ERROR_BODY_MAX)
        return 0;
    return wd_s3_error_parse(body, len, NULL, 0, NULL, 0) == 0;
}

/*
 * The error code from a JSON-protocol "__type" (or "code"), as the Smithy awsJson1_0 rules give it:
 * drop anything from the first ':', then anything up to the first '#'.
 */
static void ddb_code(const char *type, char *code, size_t size)
{
    size_t n = strcspn(type, ":");
    const char *hash = memchr(type, '#', n);
    if (hash != NULL) {
        n -= (size_t)(hash + 1 - type);
        type = hash + 1;
    }
    snprintf(code, size, "%.*s", (int)(n < size ? n : size - 1), type);
}

/*
 * A cancelled transaction says why per item. The most final reason wins: content the store will never
 * accept, then a failed condition, then throttling, then a conflict with another writer.
 */
static enum wd_error_class ddb_cancel_class(json_t *root)
{
    static const enum wd_error_class order[] = {WD_ERR_CLIENT, WD_ERR_CONDITION, WD_ERR_THROTTLED,
                                                WD_ERR_TRANSIENT};
    json_t *reasons = json_object_get(root, "CancellationReasons");
    bool seen[N_ELEMS(order)] = {false};
    size_t i;
    json_t *r;
    json_array_foreach(reasons, i, r)
    {
        const char *c = json_string_value(json_object_get(r, "Code"));
        enum wd_error_class cls = c ? lookup(ddb_cancel_reasons, N_ELEMS(ddb_cancel_reasons), c) : WD_OK;
        for (size_t k = 0; k < N_ELEMS(order); k++)
            if (order[k] == cls)
                seen[k] = true;
    }
    for (size_t k = 0; k < N_ELEMS(order); k++)
        if (seen[k])
            return order[k];
    return WD_OK;
}

int wd_ddb_error_from_response(long status, const char *body, size_t len, struct wd_error *err)
{
    char code[128] = "";
    const char *message = "";
    json_t *root = NULL;
    enum body_kind kind = BODY_OTHER;

    if (is_blank(body, len)) {
        kind = BODY_EMPTY;
    } else if (len <= ERROR_BODY_MAX) {
        json_error_t jerr;
        root = json_loadb(body, len, 0, &jerr);
        const char *type = json_string_value(json_object_get(root, "__type"));
        if (type == NULL)
            type = json_string_value(json_object_get(root, "code"));
        const char *msg = json_string_value(json_object_get(root, "message"));
        if (msg == NULL)
            msg = json_string_value(json_object_get(root, "Message"));
        if (type != NULL || msg != NULL) {
            kind = BODY_ERROR;
            ddb_code(type ? type : "", code, sizeof(code));
            message = msg ? msg : "";
        }
    }

    enum wd_error_class cls = WD_OK;
    if (strcmp(code, "TransactionCanceledException") == 0)
        cls = ddb_cancel_class(root);
    if (cls == WD_OK)
        cls = class_from_code(ddb_codes, N_ELEMS(ddb_codes), code);
    if (cls == WD_OK) {
        if (status == 404)
            cls = WD_ERR_MISSING; /* DynamoDB has no 404s: the endpoint is not DynamoDB */
        else
            cls = class_from_status(status);
    }
    int rc = describe(err, cls, "DynamoDB", status, kind, code, message, body, len);
    json_decref(root); /* message points into it */
    return rc;
}
