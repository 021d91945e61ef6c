/* DynamoDB calls over its JSON 1.0 protocol. */
#include "dynamodb.h"

#include <stdio.h>

#include "aws_error.h"

int wd_ddb_call(struct wd_aws *aws, struct wd_http *http, const struct wd_endpoint *endpoint, enum wd_op op,
                const char *body, size_t len, struct wd_http_response *resp, struct wd_error *err)
{
    char target[64];
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", wd_op_name(op));
    struct wd_header h[] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", target},
    };
    struct wd_aws_call call = {
        .op = op,
        .service = "dynamodb",
        .s3_rules = false,
        .method = "POST",
        .endpoint = endpoint,
        .path = "/",
        .headers = h,
        .n_headers = 2,
        .body = body,
        .body_len = len,
        .classify = wd_ddb_error_from_response,
    };
    return wd_aws_call(aws, http, &call, resp, err);
}
