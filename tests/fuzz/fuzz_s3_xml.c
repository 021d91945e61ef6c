/* Fuzz target: S3's XML responses (wd_s3_list_parse, wd_s3_error_parse, wd_s3_error_from_response). */
#include <string.h>

#include "aws_error.h"
#include "fuzz.h"
#include "s3_xml.h"

static void check_list(const char *xml, size_t len)
{
    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    if (wd_s3_list_parse(xml, len, &l, &err) == 0) {
        FUZZ_CHECK(l.n_keys == 0 || l.keys != NULL);
        for (size_t i = 0; i < l.n_keys; i++) {
            size_t n = strlen(l.keys[i]);
            FUZZ_CHECK(n >= 1 && n <= 1024);
            FUZZ_CHECK(fuzz_utf8_valid(l.keys[i], n)); /* expat hands out UTF-8 */
        }
        /* next_token is there exactly when there is more to list */
        FUZZ_CHECK(l.truncated == (l.next_token != NULL));
        FUZZ_CHECK(l.next_token == NULL || (l.next_token[0] != '\0' && strlen(l.next_token) <= 64 * 1024));
        wd_s3_list_clear(&l);
        FUZZ_CHECK(l.keys == NULL && l.n_keys == 0 && l.next_token == NULL);
    } else {
        FUZZ_CHECK(err.cls == WD_ERR_INTERNAL || err.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && err.message[0] != '\0');
        FUZZ_CHECK(l.keys == NULL && l.n_keys == 0 && l.next_token == NULL);
    }
    wd_s3_list_clear(&l); /* a cleared list clears again */
}

/* Code and message, into buffers of the given sizes: terminated, and never a UTF-8 sequence cut in two. */
static int check_error_doc(const char *xml, size_t len, size_t code_size, size_t message_size)
{
    char code[128], message[512];
    memset(code, 'C', sizeof(code));
    memset(message, 'M', sizeof(message));
    int rc = wd_s3_error_parse(xml, len, code, code_size, message, message_size);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(fuzz_terminated(code, code_size) && fuzz_terminated(message, message_size));
        FUZZ_CHECK(fuzz_utf8_valid(code, strlen(code)) && fuzz_utf8_valid(message, strlen(message)));
    }
    /* Nothing past the size given is written. */
    for (size_t i = code_size; i < sizeof(code); i++)
        FUZZ_CHECK(code[i] == 'C');
    for (size_t i = message_size; i < sizeof(message); i++)
        FUZZ_CHECK(message[i] == 'M');
    return rc;
}

static void check_error_response(long status, const char *body, size_t len)
{
    struct wd_error err = {0};
    FUZZ_CHECK(wd_s3_error_from_response(status, body, len, &err) == -1);
    FUZZ_CHECK(err.cls != WD_OK && err.cls != WD_ERR_BAD_INPUT && err.cls != WD_ERR_CONFIG);
    FUZZ_CHECK(err.http_status == status);
    FUZZ_CHECK(fuzz_terminated(err.code, sizeof(err.code)) && fuzz_one_line(err.code));
    FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && fuzz_one_line(err.message));
    FUZZ_CHECK(strncmp(err.message, "S3 ", 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    check_list(xml, size);

    int full = check_error_doc(xml, size, 128, 512);
    int small = check_error_doc(xml, size, 5, 9);
    FUZZ_CHECK(full == small);
    FUZZ_CHECK(check_error_doc(xml, size, 1, 1) == full);
    int is_error = wd_s3_body_is_error(xml, size);
    FUZZ_CHECK(!is_error || full == 0);

    check_error_response(403, xml, size);
    check_error_response(200, xml, size);
    return 0;
}
