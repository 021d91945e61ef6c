/* Fuzz target: DynamoDB's JSON error responses (wd_ddb_error_from_response) under several HTTP statuses. */
#include <string.h>

#include "aws_error.h"
#include "fuzz.h"

static void check_response(long status, const char *body, size_t len)
{
    struct wd_error err = {0};
    FUZZ_CHECK(wd_ddb_error_from_response(status, body, len, &err) == -1);
    FUZZ_CHECK(err.cls != WD_OK && err.cls != WD_ERR_BAD_INPUT && err.cls != WD_ERR_CONFIG);
    FUZZ_CHECK(err.http_status == status);
    FUZZ_CHECK(fuzz_terminated(err.code, sizeof(err.code)) && fuzz_one_line(err.code));
    FUZZ_CHECK(strchr(err.code, ':') == NULL); /* the code ends at the first ':' */
    FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && fuzz_one_line(err.message));
    FUZZ_CHECK(strncmp(err.message, "DynamoDB ", 9) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {400, 404, 500};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        check_response(statuses[i], (const char *)data, size);
    /* The same body always gets the same class and text. */
    struct wd_error a = {0}, b = {0};
    wd_ddb_error_from_response(400, (const char *)data, size, &a);
    wd_ddb_error_from_response(400, (const char *)data, size, &b);
    FUZZ_CHECK(a.cls == b.cls && strcmp(a.code, b.code) == 0 && strcmp(a.message, b.message) == 0);
    return 0;
}
