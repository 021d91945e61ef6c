/* Each service's error responses mapped to error classes, in one function per service. */
#ifndef WD_AWS_ERROR_H
#define WD_AWS_ERROR_H

#include <stddef.h>

#include "error.h"

/*
 * S3: reads the XML <Error><Code>/<Message> in body (may be empty, e.g. for HEAD) and the HTTP status,
 * and fills err with its class. Used for any status >= 300, and for a 200 whose body is an <Error>
 * document (CopyObject can fail that way). Returns -1 (always: it describes a failure).
 * Classes: 5xx, RequestTimeout, InternalError -> transient; 503 SlowDown, 429, throttling codes ->
 * throttled; 403, AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken,
 * RequestTimeTooSkewed, InvalidToken -> auth; NoSuchBucket -> missing; NoSuchKey, 404 -> not found;
 * PreconditionFailed/412 -> condition; other 4xx -> client.
 */
int wd_s3_error_from_response(long status, const char *body, size_t len, struct wd_error *err);

/* True when body (a 200 response) is an S3 <Error> document. */
int wd_s3_body_is_error(const char *body, size_t len);

/*
 * DynamoDB: reads the JSON {"__type": "com.amazonaws.dynamodb.v20120810#Code", "message"/"Message"}.
 * ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded -> throttled;
 * 5xx, InternalServerError, ServiceUnavailable -> transient; UnrecognizedClientException,
 * InvalidSignatureException, MissingAuthenticationToken, AccessDeniedException, ExpiredTokenException,
 * 403 -> auth; ResourceNotFoundException -> missing; ConditionalCheckFailedException -> condition;
 * ValidationException, other 4xx -> client. Returns -1.
 */
int wd_ddb_error_from_response(long status, const char *body, size_t len, struct wd_error *err);

#endif
