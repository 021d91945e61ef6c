/* DynamoDB's JSON protocol: one POST per operation, named by X-Amz-Target. */
#ifndef WD_DYNAMODB_H
#define WD_DYNAMODB_H

#include <stddef.h>

#include "aws.h"
#include "error.h"
#include "http.h"

/*
 * Calls DynamoDB_20120810.<operation> with the JSON body. On success resp holds the JSON answer.
 * Failures are classified by wd_ddb_error_from_response (ConditionalCheckFailedException ->
 * WD_ERR_CONDITION, ValidationException -> WD_ERR_CLIENT, ...).
 */
int wd_ddb_call(struct wd_aws *aws, struct wd_http *http, const struct wd_endpoint *endpoint, enum wd_op op,
                const char *body, size_t len, struct wd_http_response *resp, struct wd_error *err);

#endif
