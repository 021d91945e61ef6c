/* Fuzz target: URI percent-encoding (wd_uri_encode, wd_uri_decode): round trips and the output alphabet. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "uri.h"

#define PREFIX "pre:"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_upper_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static bool is_hex(unsigned char c)
{
    return is_upper_hex(c) || (c >= 'a' && c <= 'f');
}

/* A buffer that already holds PREFIX: both functions append. */
static void start(struct wd_buf *b)
{
    FUZZ_CHECK(wd_buf_append_str(b, PREFIX) == 0);
}

/* encode(x) keeps exactly the unreserved bytes (and '/' when asked), escapes the rest as %XX, decodes back to
 * x. */
static void check_encode(const char *src, size_t len, bool keep_slash)
{
    struct wd_buf enc = {0}, dec = {0};
    start(&enc);
    start(&dec);
    FUZZ_CHECK(wd_uri_encode(&enc, src, len, keep_slash) == 0);
    FUZZ_CHECK(memcmp(enc.data, PREFIX, PREFIX_LEN) == 0);
    const unsigned char *e = (const unsigned char *)enc.data + PREFIX_LEN;
    size_t elen = enc.len - PREFIX_LEN, kept = 0;
    FUZZ_CHECK(enc.data[enc.len] == '\0');
    for (size_t i = 0; i < elen; i++) {
        if (e[i] == '%') {
            FUZZ_CHECK(i + 2 < elen && is_upper_hex(e[i + 1]) && is_upper_hex(e[i + 2]));
            i += 2;
        } else {
            FUZZ_CHECK(is_unreserved(e[i]) || (keep_slash && e[i] == '/'));
            kept++;
        }
    }
    FUZZ_CHECK(elen == kept + 3 * (len - kept));
    FUZZ_CHECK(wd_uri_decode(&dec, enc.data + PREFIX_LEN, elen) == 0);
    FUZZ_CHECK(dec.len == PREFIX_LEN + len && memcmp(dec.data, PREFIX, PREFIX_LEN) == 0);
    FUZZ_CHECK(len == 0 || memcmp(dec.data + PREFIX_LEN, src, len) == 0);
    wd_buf_free(&enc);
    wd_buf_free(&dec);
}

/* decode(x) succeeds exactly when every '%' starts a two-hex-digit escape; a failure leaves the buffer alone.
 */
static void check_decode(const char *src, size_t len)
{
    bool well_formed = true;
    size_t escapes = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%')
            continue;
        if (len - i < 3 || !is_hex((unsigned char)src[i + 1]) || !is_hex((unsigned char)src[i + 2])) {
            well_formed = false;
            break;
        }
        escapes++;
        i += 2;
    }
    struct wd_buf dec = {0};
    start(&dec);
    int rc = wd_uri_decode(&dec, src, len);
    FUZZ_CHECK((rc == 0) == well_formed);
    FUZZ_CHECK(memcmp(dec.data, PREFIX, PREFIX_LEN) == 0 && dec.data[dec.len] == '\0');
    if (rc == 0) {
        FUZZ_CHECK(dec.len == PREFIX_LEN + len - 2 * escapes);
        /* and the decoded bytes survive their own round trip */
        check_encode(dec.data + PREFIX_LEN, dec.len - PREFIX_LEN, false);
    } else {
        FUZZ_CHECK(dec.len == PREFIX_LEN);
    }
    wd_buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_encode(s, size, false);
    check_encode(s, size, true);
    check_decode(s, size);
    return 0;
}
