/* S3's XML responses (ListObjectsV2 pages, URL-encoded or not, and <Error> documents) read with expat,
 * refusing any DTD. */
#include "s3_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* S3 caps a key at 1024 bytes of UTF-8: a longer one did not come from S3. */
#define KEY_MAX 1024
/* A URL-encoded key spends up to three characters ("%XX") on each of its bytes. */
#define KEY_TEXT_MAX (3 * KEY_MAX)
/*
 * Tokens and messages are opaque and short in practice; the cap only bounds what a hostile or broken
 * peer can make us hold per field (the document as a whole is already in memory).
 */
#define TEXT_MAX (64 * 1024)
/* "true" / "false" / "url", with room for surrounding whitespace. */
#define WORD_MAX 16
/* A storage class name ("INTELLIGENT_TIERING", "EXPRESS_ONEZONE", ...), with room for what comes next. */
#define CLASS_MAX 64
/* XML_Parse takes an int length: feed larger documents in slices. */
#define SLICE_MAX (1 << 30)
/*
 * Namespace-aware parsing hands us "URI|local"; we match local names, as the AWS SDKs do, so a
 * stand-in that omits S3's xmlns or uses a prefix still parses. Expat refuses URIs that contain
 * the separator, so the last '|' always starts the local name.
 */
#define NS_SEP '|'

enum xml_fail {
    FAIL_NONE,
    FAIL_SYNTAX,  /* expat says the document is not well-formed */
    FAIL_DOCTYPE, /* a DTD: refused before any entity is declared or expanded */
    FAIL_SHAPE,   /* well-formed, but not the document we expected */
    FAIL_NOMEM,
};

/* What both documents share: the parser, where we are, the text being collected and why we stopped. */
struct xml_ctx {
    XML_Parser parser;
    int depth;            /* depth of the innermost open element; the root is 1 */
    int field;            /* which leaf's text is being collected; 0: none */
    size_t field_max;     /* the most bytes that leaf may hold */
    const char *too_long; /* the complaint when it holds more; NULL: keep the first field_max bytes */
    struct wd_buf text;
    XML_Index field_start; /* where the element whose text is collected starts */
    /* Offsets (ascending) in the parsed document where xml_sanitize replaced a character. */
    const size_t *marks;
    size_t n_marks;
    enum xml_fail fail;
    const char *why; /* FAIL_SHAPE: a static description */
    enum XML_Error xml_code;
    unsigned long line, column;
};

static const char *local_name(const XML_Char *name)
{
    const char *sep = strrchr(name, NS_SEP);
    return sep ? sep + 1 : name;
}

/* Records the first failure only and aborts the parse (not resumable). */
static void xml_stop(struct xml_ctx *x, enum xml_fail fail, const char *why)
{
    if (x->fail == FAIL_NONE) {
        x->fail = fail;
        x->why = why;
    }
    XML_StopParser(x->parser, XML_FALSE);
}

static void xml_begin_field(struct xml_ctx *x, int field, size_t max, const char *too_long)
{
    x->field = field;
    x->field_start = XML_GetCurrentByteIndex(x->parser);
    x->field_max = max;
    x->too_long = too_long;
    wd_buf_reset(&x->text);
}

/*
 * True when the field just closed (called from the end handler) held a character that xml_sanitize
 * replaced: its text is not what the server meant.
 */
static bool xml_field_lossy(const struct xml_ctx *x)
{
    XML_Index end = XML_GetCurrentByteIndex(x->parser);
    size_t lo = 0, hi = x->n_marks;
    while (lo < hi) { /* the first mark after the field's start tag begins */
        size_t mid = lo + (hi - lo) / 2;
        if ((XML_Index)x->marks[mid] <= x->field_start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n_marks && (XML_Index)x->marks[lo] < end;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_ctx *x = ud;
    if (x->fail != FAIL_NONE || x->field == 0 || len <= 0)
        return;
    size_t n = (size_t)len;
    if (n > x->field_max - x->text.len) {
        if (x->too_long != NULL) {
            xml_stop(x, FAIL_SHAPE, x->too_long);
            return;
        }
        n = x->field_max - x->text.len;
    }
    if (wd_buf_append(&x->text, s, n) < 0)
        xml_stop(x, FAIL_NOMEM, NULL);
}

/*
 * S3 never sends a DTD, and a DTD is how entity-expansion ("billion laughs") and external-entity
 * attacks get in: stop at the DOCTYPE, before its internal subset is read.
 */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    xml_stop(ud, FAIL_DOCTYPE, NULL);
}

/* Belt and braces: entity declarations only occur inside a DTD, which on_doctype already refused. */
static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                                   int value_len, const XML_Char *base, const XML_Char *sysid,
                                   const XML_Char *pubid, const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    xml_stop(ud, FAIL_DOCTYPE, NULL);
}

/* Never fetch anything an external entity names. */
static int XMLCALL on_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid)
{
    (void)p;
    (void)context;
    (void)base;
    (void)sysid;
    (void)pubid;
    return XML_STATUS_ERROR;
}

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True for a code point that XML 1.0 allows as a character (its production Char). */
static bool xml_char_ok(unsigned long c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) starts with "&#": the length of that character reference when it names a character XML
 * cannot carry, else 0 (a good reference, or a malformed one, which expat then refuses). */
static size_t bad_char_ref(const char *s, size_t n)
{
    size_t i = 2;
    bool hex = i < n && s[i] == 'x';
    if (hex)
        i++;
    size_t first = i;
    unsigned long v = 0;
    for (; i < n; i++) {
        int d = hex ? hex_value((unsigned char)s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0)
            break;
        if (v <= 0x10FFFF) /* past it the value only has to stay invalid */
            v = v * (hex ? 16 : 10) + (unsigned long)d;
    }
    if (i == first || i >= n || s[i] != ';')
        return 0;
    return xml_char_ok(v) ? 0 : i + 1;
}

/* The length of a raw character XML cannot carry at s[0..n) (a C0 control but TAB, LF, CR; U+FFFE,
 * U+FFFF), else 0. Other bad UTF-8 is left to expat to refuse. */
static size_t bad_raw_char(const unsigned char *s, size_t n)
{
    if (s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' && s[0] != '\r')
        return 1;
    if (s[0] == 0xEF && n >= 3 && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 3;
    return 0;
}

static bool at(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s, lit, l) == 0;
}

struct sanitized {
    struct wd_buf doc; /* empty when nothing needed replacing: parse the original */
    size_t *marks;     /* where in doc each replacement is, ascending */
    size_t n_marks, cap_marks;
};

/*
 * XML 1.0 cannot carry U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE or U+FFFF, neither raw nor
 * as a character reference, and expat refuses a whole document holding one. S3 URL-encodes keys when
 * asked, but Ceph RGW writes the raw key, XML-escaped only, into NextContinuationToken, StartAfter and
 * Prefix (and <Error><Key>) all the same: one such key at the end of a page would make that page, and so
 * every poll, fail. So a copy of the document gets U+FFFD in place of each, and the places are
 * remembered: a field that held one is not what the server meant (xml_field_lossy), and a Key that did
 * fails the page. Character references in comments, CDATA sections and processing instructions are
 * text, not references: those are left alone. Returns 0, or -1 when out of memory.
 */
static int xml_sanitize(const char *xml, size_t len, struct sanitized *out)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    const char *literal_end = NULL; /* inside a comment, CDATA section or PI: where it ends */
    size_t copied = 0, i = 0;
    while (i < len) {
        const char *s = xml + i;
        size_t n = len - i;
        if (literal_end != NULL && at(s, n, literal_end)) {
            i += strlen(literal_end);
            literal_end = NULL;
            continue;
        }
        if (literal_end == NULL && s[0] == '<') {
            static const char *const opens[][2] = {{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}};
            for (size_t k = 0; k < sizeof(opens) / sizeof(opens[0]) && literal_end == NULL; k++)
                if (at(s, n, opens[k][0])) {
                    literal_end = opens[k][1];
                    i += strlen(opens[k][0]);
                }
            if (literal_end != NULL)
                continue;
        }
        size_t bad = bad_raw_char((const unsigned char *)s, n);
        if (bad == 0 && literal_end == NULL && at(s, n, "&#"))
            bad = bad_char_ref(s, n);
        if (bad == 0) {
            i++;
            continue;
        }
        if (out->n_marks == out->cap_marks) {
            size_t cap = out->cap_marks ? out->cap_marks * 2 : 8;
            size_t *m = realloc(out->marks, cap * sizeof(*m));
            if (m == NULL)
                return -1;
            out->marks = m;
            out->cap_marks = cap;
        }
        if (wd_buf_append(&out->doc, xml + copied, i - copied) < 0)
            return -1;
        out->marks[out->n_marks++] = out->doc.len;
        if (wd_buf_append(&out->doc, replacement, sizeof(replacement) - 1) < 0)
            return -1;
        i += bad;
        copied = i;
    }
    if (out->n_marks > 0 && wd_buf_append(&out->doc, xml + copied, len - copied) < 0)
        return -1;
    return 0;
}

static void sanitized_free(struct sanitized *s)
{
    wd_buf_free(&s->doc);
    free(s->marks);
    memset(s, 0, sizeof(*s));
}

/*
 * Runs expat over the whole document with x (the first member of the caller's context) as user data.
 * Returns 0, or -1 with x->fail set.
 */
static int xml_run(struct xml_ctx *x, const char *xml, size_t len, XML_StartElementHandler start,
                   XML_EndElementHandler end)
{
    /*
     * S3 may send whitespace ahead of a slow CopyObject's document to keep the connection alive, but an
     * XML declaration must be the very first thing in a document: skip it.
     */
    if (xml == NULL) {
        xml = "";
        len = 0;
    }
    while (len > 0 && is_xml_space(*xml)) {
        xml++;
        len--;
    }
    struct sanitized clean = {0};
    if (xml_sanitize(xml, len, &clean) < 0) {
        sanitized_free(&clean);
        x->fail = FAIL_NOMEM;
        return -1;
    }
    if (clean.n_marks > 0) {
        xml = clean.doc.data;
        len = clean.doc.len;
    }
    x->marks = clean.marks;
    x->n_marks = clean.n_marks;

    x->parser = XML_ParserCreateNS(NULL, NS_SEP);
    if (x->parser == NULL) {
        sanitized_free(&clean);
        x->fail = FAIL_NOMEM;
        return -1;
    }
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, start, end);
    XML_SetCharacterDataHandler(x->parser, on_text);
    XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
    XML_SetEntityDeclHandler(x->parser, on_entity_decl);
    XML_SetExternalEntityRefHandler(x->parser, on_external_entity);
    XML_SetParamEntityParsing(x->parser, XML_PARAM_ENTITY_PARSING_NEVER);

    enum XML_Status st;
    do {
        int n = len > SLICE_MAX ? SLICE_MAX : (int)len;
        st = XML_Parse(x->parser, xml, n, (size_t)n == len);
        xml += n;
        len -= (size_t)n;
    } while (st == XML_STATUS_OK && len > 0);

    if (st != XML_STATUS_OK && x->fail == FAIL_NONE) {
        x->xml_code = XML_GetErrorCode(x->parser);
        x->fail = x->xml_code == XML_ERROR_NO_MEMORY ? FAIL_NOMEM : FAIL_SYNTAX;
        x->line = XML_GetCurrentLineNumber(x->parser);
        x->column = XML_GetCurrentColumnNumber(x->parser);
    }
    XML_ParserFree(x->parser);
    x->parser = NULL;
    x->marks = NULL;
    x->n_marks = 0;
    sanitized_free(&clean);
    wd_buf_free(&x->text);
    return x->fail == FAIL_NONE ? 0 : -1;
}

/*
 * Turns a failed xml_run into err, naming the document. Returns -1. A document we cannot use is the
 * server's fault (or a proxy's), like a 500: transient, so the caller retries and never acts on it.
 */
static int xml_fail_to_error(const struct xml_ctx *x, const char *what, struct wd_error *err)
{
    switch (x->fail) {
    case FAIL_NOMEM:
        return wd_error_nomem(err);
    case FAIL_DOCTYPE:
        return wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL,
                            "%s refused: it declares a DTD (<!DOCTYPE>), which S3 never sends", what);
    case FAIL_SHAPE:
        return wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL, "%s: %s", what, x->why);
    case FAIL_SYNTAX:
    case FAIL_NONE:
        break;
    }
    return wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL,
                        "%s is not well-formed XML (line %lu, column %lu: %s)", what, x->line, x->column,
                        XML_ErrorString(x->xml_code));
}

/* ---- ListObjectsV2 ---- */

enum list_field { LF_NONE, LF_KEY, LF_TRUNCATED, LF_TOKEN, LF_ENCODING, LF_CLASS };

struct list_ctx {
    struct xml_ctx x; /* first: handlers receive a pointer to it */
    bool in_contents; /* inside a <Contents> child of the root */
    int keys_in_contents;
    const char *contents_archived; /* its <StorageClass> when an archived one */
    bool seen_truncated, seen_token, seen_encoding;
    bool url_encoded;      /* <EncodingType>url</EncodingType> */
    char *token;           /* NextContinuationToken as sent */
    bool token_lossy;      /* ... holding a character XML cannot carry */
    struct wd_s3_list out; /* keys as sent until list_decode_keys */
    size_t cap;
};

static int list_push_key(struct list_ctx *c, char *key)
{
    if (c->out.n_keys == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        if (cap > SIZE_MAX / sizeof(*c->out.keys))
            return -1;
        char **keys = realloc(c->out.keys, cap * sizeof(*keys));
        if (keys == NULL)
            return -1;
        c->out.keys = keys;
        const char **archived = realloc(c->out.archived, cap * sizeof(*archived));
        if (archived == NULL)
            return -1;
        c->out.archived = archived;
        c->cap = cap;
    }
    c->out.archived[c->out.n_keys] = NULL; /* set when its Contents ends */
    c->out.keys[c->out.n_keys++] = key;
    return 0;
}

/* Starts collecting a depth-2 leaf that may appear once; stops the parse when it appears again. */
static void list_begin_once(struct list_ctx *c, bool *seen, int field, size_t max, const char *twice,
                            const char *too_long)
{
    if (*seen) {
        xml_stop(&c->x, FAIL_SHAPE, twice);
        return;
    }
    *seen = true;
    xml_begin_field(&c->x, field, max, too_long);
}

static void XMLCALL list_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct list_ctx *c = ud;
    (void)atts;
    if (c->x.fail != FAIL_NONE)
        return;
    const char *local = local_name(name);
    int depth = ++c->x.depth;
    if (c->x.field != LF_NONE) {
        xml_stop(&c->x, FAIL_SHAPE, "an element inside a text field");
        return;
    }
    if (depth == 1) {
        /* Stop at once on anything else, e.g. an <Error> document sent with a 200. */
        if (strcmp(local, "ListBucketResult") != 0)
            xml_stop(&c->x, FAIL_SHAPE, "the document is not a ListBucketResult");
    } else if (depth == 2) {
        if (strcmp(local, "Contents") == 0) {
            c->in_contents = true;
            c->keys_in_contents = 0;
            c->contents_archived = NULL;
        } else if (strcmp(local, "IsTruncated") == 0) {
            list_begin_once(c, &c->seen_truncated, LF_TRUNCATED, WORD_MAX, "IsTruncated appears twice",
                            "IsTruncated is neither true nor false");
        } else if (strcmp(local, "NextContinuationToken") == 0) {
            list_begin_once(c, &c->seen_token, LF_TOKEN, TEXT_MAX, "NextContinuationToken appears twice",
                            "NextContinuationToken is longer than 64 KiB");
        } else if (strcmp(local, "EncodingType") == 0) {
            list_begin_once(c, &c->seen_encoding, LF_ENCODING, WORD_MAX, "EncodingType appears twice",
                            "EncodingType is not url");
        }
    } else if (depth == 3 && c->in_contents && strcmp(local, "StorageClass") == 0) {
        xml_begin_field(&c->x, LF_CLASS, CLASS_MAX, "a StorageClass is longer than 64 bytes");
    } else if (depth == 3 && c->in_contents && strcmp(local, "Key") == 0) {
        if (++c->keys_in_contents > 1) {
            xml_stop(&c->x, FAIL_SHAPE, "a Contents element has two Keys");
            return;
        }
        /* The limit is checked again once we know whether the key is URL-encoded. */
        xml_begin_field(&c->x, LF_KEY, KEY_TEXT_MAX,
                        "a Key is longer than S3's limit of 1024 bytes (3072 characters URL-encoded)");
    }
}

/* The text of t without leading and trailing XML whitespace: sets *s and *n. */
static void trimmed(const struct wd_buf *t, const char **s, size_t *n)
{
    *s = t->data ? t->data : "";
    *n = t->len;
    while (*n > 0 && is_xml_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_xml_space((*s)[*n - 1]))
        (*n)--;
}

static bool parse_bool(const struct wd_buf *t, bool *out)
{
    const char *s;
    size_t n;
    trimmed(t, &s, &n);
    if (n == 4 && memcmp(s, "true", 4) == 0)
        *out = true;
    else if (n == 5 && memcmp(s, "false", 5) == 0)
        *out = false;
    else
        return false;
    return true;
}

static void XMLCALL list_end(void *ud, const XML_Char *name)
{
    struct list_ctx *c = ud;
    (void)name;
    if (c->x.fail != FAIL_NONE)
        return;
    int depth = c->x.depth--;
    if (c->x.field != LF_NONE) {
        int field = c->x.field;
        c->x.field = LF_NONE;
        if (field == LF_TRUNCATED) {
            if (!parse_bool(&c->x.text, &c->out.truncated))
                xml_stop(&c->x, FAIL_SHAPE, "IsTruncated is neither true nor false");
            return;
        }
        if (field == LF_CLASS) {
            const char *s;
            size_t n;
            trimmed(&c->x.text, &s, &n);
            c->contents_archived = n == 7 && memcmp(s, "GLACIER", 7) == 0          ? "GLACIER"
                                   : n == 12 && memcmp(s, "DEEP_ARCHIVE", 12) == 0 ? "DEEP_ARCHIVE"
                                                                                   : NULL;
            return;
        }
        if (field == LF_ENCODING) {
            const char *s;
            size_t n;
            trimmed(&c->x.text, &s, &n);
            /* "url" is the only encoding S3 has; keys in another we could not read. */
            if (n != 3 || memcmp(s, "url", 3) != 0)
                xml_stop(&c->x, FAIL_SHAPE, "EncodingType is not url");
            else
                c->url_encoded = true;
            return;
        }
        bool lossy = xml_field_lossy(&c->x);
        if (field == LF_KEY && lossy) {
            xml_stop(&c->x, FAIL_SHAPE,
                     "a Key holds a character XML 1.0 cannot carry (the server did not URL-encode it)");
            return;
        }
        char *s = wd_buf_steal(&c->x.text);
        if (s == NULL) {
            xml_stop(&c->x, FAIL_NOMEM, NULL);
            return;
        }
        if (field == LF_TOKEN) {
            c->token = s;
            c->token_lossy = lossy;
        } else if (s[0] == '\0') {
            free(s);
            xml_stop(&c->x, FAIL_SHAPE, "a Key is empty");
        } else if (list_push_key(c, s) < 0) {
            free(s);
            xml_stop(&c->x, FAIL_NOMEM, NULL);
        }
        return;
    }
    if (depth == 2 && c->in_contents) {
        c->in_contents = false;
        if (c->keys_in_contents == 0)
            xml_stop(&c->x, FAIL_SHAPE, "a Contents element has no Key");
        else /* the StorageClass may come before or after the Key */
            c->out.archived[c->out.n_keys - 1] = c->contents_archived;
    }
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (no overlong form, surrogate or code point past
 * U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned long cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/*
 * Decodes one URL-encoded key in place: "%XX" is the byte XX, "+" a space (AWS encodes a space as "+"
 * and "+" as "%2B"; RGW a space as "%20"), anything else itself. Returns NULL, or why the result is not
 * a key S3 could have stored.
 */
static const char *url_decode_key(char *key)
{
    const char *in = key;
    char *out = key;
    while (*in) {
        if (*in == '%') {
            int hi = hex_value((unsigned char)in[1]), lo = hi < 0 ? -1 : hex_value((unsigned char)in[2]);
            if (hi < 0 || lo < 0)
                return "a URL-encoded Key holds a '%' that is not followed by two hex digits";
            if (hi == 0 && lo == 0)
                return "a URL-encoded Key holds a NUL byte (%00), which S3 does not allow in keys";
            *out++ = (char)(hi << 4 | lo);
            in += 3;
        } else {
            *out++ = *in == '+' ? ' ' : *in;
            in++;
        }
    }
    *out = '\0';
    size_t n = (size_t)(out - key);
    if (n > KEY_MAX)
        return "a URL-encoded Key decodes to more than S3's limit of 1024 bytes";
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq((const unsigned char *)key + i, n - i);
        if (l == 0)
            return "a URL-encoded Key decodes to invalid UTF-8, which S3 does not allow in keys";
        i += l;
    }
    return NULL;
}

/* Turns the keys as sent into the keys as stored. Returns NULL, or why the page cannot be used. */
static const char *list_decode_keys(struct list_ctx *c)
{
    for (size_t i = 0; i < c->out.n_keys; i++) {
        if (!c->url_encoded) {
            if (strlen(c->out.keys[i]) > KEY_MAX)
                return "a Key is longer than S3's limit of 1024 bytes";
            continue;
        }
        const char *why = url_decode_key(c->out.keys[i]);
        if (why != NULL)
            return why;
        /* Only an empty text decodes to an empty key, and list_end refused that already. */
    }
    return NULL;
}

/* Sets out.next_token (see s3_xml.h). Returns 0, with *why set when a truncated page gives no way on, or
 * -1 when out of memory. */
static int list_continuation(struct list_ctx *c, const char **why)
{
    *why = NULL;
    if (!c->out.truncated)
        return 0;
    const char *rest;
    char tag;
    if (c->out.n_keys > 0) {
        tag = WD_S3_TOKEN_AFTER_KEY;
        rest = c->out.keys[c->out.n_keys - 1];
    } else if (c->token != NULL && c->token[0] != '\0' && !c->token_lossy) {
        tag = WD_S3_TOKEN_SERVER;
        rest = c->token;
    } else {
        /* Listing from the start again would loop forever. */
        *why = c->token_lossy ? "IsTruncated is true, no Key is listed and NextContinuationToken holds a "
                                "character XML 1.0 cannot carry"
                              : "IsTruncated is true but there is no NextContinuationToken";
        return 0;
    }
    size_t n = strlen(rest);
    char *t = malloc(n + 2);
    if (t == NULL)
        return -1;
    t[0] = tag;
    memcpy(t + 1, rest, n + 1);
    c->out.next_token = t;
    return 0;
}

int wd_s3_list_parse(const char *xml, size_t len, struct wd_s3_list *out, struct wd_error *err)
{
    static const char what[] = "ListObjectsV2 response";
    struct list_ctx c = {0};
    const char *why = NULL;

    if (xml_run(&c.x, xml, len, list_start, list_end) < 0)
        goto fail;
    if ((why = list_decode_keys(&c)) != NULL)
        goto shape;
    if (list_continuation(&c, &why) < 0) {
        c.x.fail = FAIL_NOMEM;
        goto fail;
    }
    if (why != NULL)
        goto shape;
    free(c.token);
    *out = c.out;
    return 0;

shape:
    c.x.fail = FAIL_SHAPE;
    c.x.why = why;
fail:
    free(c.token);
    wd_s3_list_clear(&c.out);
    return xml_fail_to_error(&c.x, what, err);
}

void wd_s3_list_clear(struct wd_s3_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n_keys; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->archived);
    free(l->next_token);
    memset(l, 0, sizeof(*l));
}

/* ---- <Error> ---- */

enum err_field { EF_NONE, EF_CODE, EF_MESSAGE };

struct err_ctx {
    struct xml_ctx x; /* first: handlers receive a pointer to it */
    struct wd_buf code, message;
};

static void XMLCALL err_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct err_ctx *c = ud;
    (void)atts;
    if (c->x.fail != FAIL_NONE)
        return;
    const char *local = local_name(name);
    int depth = ++c->x.depth;
    if (c->x.field != EF_NONE) {
        xml_stop(&c->x, FAIL_SHAPE, "an element inside a text field");
        return;
    }
    if (depth == 1) {
        /* Stops at the root of any other document, so checking a large 200 body costs little. */
        if (strcmp(local, "Error") != 0)
            xml_stop(&c->x, FAIL_SHAPE, "the document is not an Error");
    } else if (depth == 2) {
        if (strcmp(local, "Code") == 0)
            xml_begin_field(&c->x, EF_CODE, TEXT_MAX, NULL);
        else if (strcmp(local, "Message") == 0)
            xml_begin_field(&c->x, EF_MESSAGE, TEXT_MAX, NULL);
    }
}

static void XMLCALL err_end(void *ud, const XML_Char *name)
{
    struct err_ctx *c = ud;
    (void)name;
    if (c->x.fail != FAIL_NONE)
        return;
    c->x.depth--;
    if (c->x.field == EF_NONE)
        return;
    struct wd_buf *dst = c->x.field == EF_CODE ? &c->code : &c->message;
    c->x.field = EF_NONE;
    /* A repeated element replaces the earlier one. */
    wd_buf_reset(dst);
    if (wd_buf_append(dst, c->x.text.data ? c->x.text.data : "", c->x.text.len) < 0)
        xml_stop(&c->x, FAIL_NOMEM, NULL);
}

/* Copies into dst[size] without cutting a UTF-8 sequence in two. */
static void copy_utf8(char *dst, size_t size, const struct wd_buf *src)
{
    if (dst == NULL || size == 0)
        return;
    const char *s = src->data ? src->data : "";
    size_t n = src->len < size - 1 ? src->len : size - 1;
    if (n < src->len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

int wd_s3_error_parse(const char *xml, size_t len, char *code, size_t code_size, char *message,
                      size_t message_size)
{
    struct err_ctx c = {0};
    int rc = xml_run(&c.x, xml, len, err_start, err_end);
    if (rc == 0) {
        copy_utf8(code, code_size, &c.code);
        copy_utf8(message, message_size, &c.message);
    }
    wd_buf_free(&c.code);
    wd_buf_free(&c.message);
    return rc;
}
