/* URI percent-encoding and decoding with the exact character set SigV4 and S3 sign. */
#include "uri.h"

#include <stdint.h>

static const char hex_upper[] = "0123456789ABCDEF";

/* Locale-free on purpose: isalnum() would keep bytes >= 0x80 in some locales and break signatures. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int wd_uri_encode(struct wd_buf *out, const char *src, size_t len, bool keep_slash)
{
    if (len > (SIZE_MAX - 1) / 3)
        return -1;
    /* Reserving the worst case up front keeps out unchanged if memory runs out. */
    if (wd_buf_reserve(out, len * 3) < 0)
        return -1;
    char *p = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex_upper[c >> 4];
            *p++ = hex_upper[c & 0x0f];
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int wd_uri_decode(struct wd_buf *out, const char *src, size_t len)
{
    /* Validate before writing so a malformed escape leaves out as it was. */
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%')
            continue;
        if (len - i < 3 || hex_value((unsigned char)src[i + 1]) < 0 ||
            hex_value((unsigned char)src[i + 2]) < 0)
            return -1;
        i += 2;
    }
    if (wd_buf_reserve(out, len) < 0)
        return -1;
    char *p = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '%') {
            *p++ = (char)(hex_value((unsigned char)src[i + 1]) << 4 | hex_value((unsigned char)src[i + 2]));
            i += 2;
        } else {
            *p++ = src[i];
        }
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}
