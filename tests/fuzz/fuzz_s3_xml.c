/* Fuzz target: S3's XML responses (wd_s3_list_parse, wd_s3_error_parse, wd_s3_error_from_response), and
 * URL-encoded listings built from the input's bytes, which must come back byte-exact. */
#include <string.h>

#include "aws_error.h"
#include "buf.h"
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
            FUZZ_CHECK(fuzz_utf8_valid(l.keys[i], n)); /* what S3 allows in a key */
        }
        /* next_token is there exactly when there is more to list */
        FUZZ_CHECK(l.truncated == (l.next_token != NULL));
        if (l.next_token != NULL && l.n_keys > 0) {
            /* the next page starts after the last key */
            FUZZ_CHECK(l.next_token[0] == WD_S3_TOKEN_AFTER_KEY);
            FUZZ_CHECK(strcmp(l.next_token + 1, l.keys[l.n_keys - 1]) == 0);
        } else if (l.next_token != NULL) {
            FUZZ_CHECK(l.next_token[0] == WD_S3_TOKEN_SERVER);
            FUZZ_CHECK(l.next_token[1] != '\0' && strlen(l.next_token + 1) <= 64 * 1024);
        }
        wd_s3_list_clear(&l);
        FUZZ_CHECK(l.keys == NULL && l.n_keys == 0 && l.next_token == NULL);
    } else {
        FUZZ_CHECK(err.cls == WD_ERR_TRANSIENT || err.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && err.message[0] != '\0');
        FUZZ_CHECK(l.keys == NULL && l.n_keys == 0 && l.next_token == NULL);
    }
    wd_s3_list_clear(&l); /* a cleared list clears again */
}

/* ---- URL-encoded listings of keys taken from the input ---- */

#define MAX_KEYS 64

/* How the listing built from the input is written: the first input byte. */
enum {
    F_TRUNCATED = 1,    /* IsTruncated true */
    F_PLUS = 2,         /* a space as "+" (AWS), else "%20" (RGW) */
    F_LOWER_HEX = 4,    /* "%e2", else "%E2" */
    F_RAW_ECHOES = 8,   /* NextContinuationToken, StartAfter and Prefix hold raw keys, as RGW writes them */
    F_ENC_LAST = 16,    /* <EncodingType> after the Contents (S3 puts it first; the order is not fixed) */
    F_ENC_ALL = 32,     /* %-encode unreserved characters too */
    F_MARKS_RAW = 64,   /* leave !*'() unencoded, as RGW does */
    F_APOS_ENTITY = 128 /* ... with ' written as &apos; */
};

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void put_encoded_key(struct wd_buf *b, const unsigned char *k, size_t n, unsigned flags)
{
    static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
    const char *hex = flags & F_LOWER_HEX ? lower : upper;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = k[i];
        if (unreserved(c) && !(flags & F_ENC_ALL)) {
            wd_buf_append_char(b, (char)c);
        } else if (c == ' ' && (flags & F_PLUS)) {
            wd_buf_append_char(b, '+');
        } else if ((flags & F_MARKS_RAW) && c != '\0' && strchr("!*'()", c) != NULL) {
            wd_buf_append_str(b, c == '\'' && (flags & F_APOS_ENTITY) ? "&apos;" : (char[]){(char)c, '\0'});
        } else {
            char e[4] = {'%', hex[c >> 4], hex[c & 15], '\0'};
            wd_buf_append_str(b, e);
        }
    }
}

/* A raw key the way RGW escapes it: the XML entities, and controls as character references. */
static void put_raw_key(struct wd_buf *b, const unsigned char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = k[i];
        if (c == '&')
            wd_buf_append_str(b, "&amp;");
        else if (c == '<')
            wd_buf_append_str(b, "&lt;");
        else if (c == '>')
            wd_buf_append_str(b, "&gt;");
        else if (c < 0x20 || c == 0x7f)
            wd_buf_printf(b, "&#x%02x;", c);
        else
            wd_buf_append_char(b, (char)c);
    }
}

/*
 * The input after its first byte is a run of keys, each a 2-byte length (mod 1100, so some pass S3's 1024)
 * and that many bytes, any values. Written as a URL-encoded listing, the page must list exactly those keys
 * when every one is a key S3 allows (1 to 1024 bytes of UTF-8, no NUL), and be refused as transient
 * otherwise.
 */
static void check_encoded_listing(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    unsigned flags = data[0];
    const unsigned char *keys[MAX_KEYS];
    size_t lens[MAX_KEYS], n_keys = 0;
    bool allowed = true;
    size_t i = 1;
    while (i + 2 <= size && n_keys < MAX_KEYS) {
        size_t n = ((size_t)data[i] << 8 | data[i + 1]) % 1100;
        i += 2;
        if (n > size - i)
            n = size - i;
        keys[n_keys] = data + i;
        lens[n_keys] = n;
        allowed = allowed && n >= 1 && n <= 1024 && memchr(data + i, '\0', n) == NULL &&
                  fuzz_utf8_valid((const char *)data + i, n);
        n_keys++;
        i += n;
    }
    bool truncated = flags & F_TRUNCATED;
    /* A raw key in XML must at least be UTF-8: RGW only ever holds such keys. */
    bool raw_echoes = (flags & F_RAW_ECHOES) && allowed && n_keys > 0;

    struct wd_buf b = {0};
    wd_buf_append_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                          "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    if (!(flags & F_ENC_LAST))
        wd_buf_append_str(&b, "<EncodingType>url</EncodingType>");
    wd_buf_append_str(&b, "<Name>b</Name><Prefix>");
    if (raw_echoes)
        put_raw_key(&b, keys[0], lens[0]);
    wd_buf_printf(&b, "</Prefix><MaxKeys>%zu</MaxKeys><IsTruncated>%s</IsTruncated>", n_keys,
                  truncated ? "true" : "false");
    for (size_t k = 0; k < n_keys; k++) {
        wd_buf_append_str(&b, "<Contents><Key>");
        put_encoded_key(&b, keys[k], lens[k], flags);
        wd_buf_append_str(&b, "</Key><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>");
    }
    if (truncated) {
        wd_buf_append_str(&b, "<NextContinuationToken>");
        if (raw_echoes)
            put_raw_key(&b, keys[n_keys - 1], lens[n_keys - 1]);
        else
            wd_buf_append_str(&b, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J+wm36Hy4vbOwM=");
        wd_buf_append_str(&b, "</NextContinuationToken>");
    }
    if (raw_echoes) {
        wd_buf_append_str(&b, "<StartAfter>");
        put_raw_key(&b, keys[0], lens[0]);
        wd_buf_append_str(&b, "</StartAfter>");
    }
    if (flags & F_ENC_LAST)
        wd_buf_append_str(&b, "<EncodingType>url</EncodingType>");
    wd_buf_append_str(&b, "</ListBucketResult>");
    FUZZ_CHECK(b.data != NULL);

    struct wd_s3_list l = {0};
    struct wd_error err = {0};
    int rc = wd_s3_list_parse(b.data, b.len, &l, &err);
    if (!allowed) {
        FUZZ_CHECK(rc == -1 && (err.cls == WD_ERR_TRANSIENT || err.cls == WD_ERR_NOMEM));
    } else if (rc == 0) {
        FUZZ_CHECK(l.n_keys == n_keys);
        for (size_t k = 0; k < n_keys; k++)
            FUZZ_CHECK(strlen(l.keys[k]) == lens[k] && memcmp(l.keys[k], keys[k], lens[k]) == 0);
        FUZZ_CHECK(l.truncated == truncated);
        if (truncated && n_keys > 0)
            FUZZ_CHECK(l.next_token[0] == WD_S3_TOKEN_AFTER_KEY &&
                       strcmp(l.next_token + 1, (const char *)l.keys[n_keys - 1]) == 0);
        else if (truncated)
            FUZZ_CHECK(strcmp(l.next_token, "t1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J+wm36Hy4vbOwM=") == 0);
        else
            FUZZ_CHECK(l.next_token == NULL);
    } else {
        FUZZ_CHECK(err.cls == WD_ERR_NOMEM); /* nothing else may refuse a page of allowed keys */
    }
    wd_s3_list_clear(&l);
    wd_buf_free(&b);
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
    check_encoded_listing(data, size);

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
