/* S3's XML responses (ListObjectsV2 pages and <Error> documents) read with expat, refusing any DTD. */
#include "s3_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* S3 caps a key at 1024 bytes of UTF-8: a longer one did not come from S3. */
#define KEY_MAX 1024
/*
 * Tokens and messages are opaque and short in practice; the cap only bounds what a hostile or broken
 * peer can make us hold per field (the document as a whole is already in memory).
 */
#define TEXT_MAX (64 * 1024)
/* "true" / "false", with room for surrounding whitespace. */
#define TRUTH_MAX 16
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
    x->field_max = max;
    x->too_long = too_long;
    wd_buf_reset(&x->text);
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

    x->parser = XML_ParserCreateNS(NULL, NS_SEP);
    if (x->parser == NULL) {
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
    wd_buf_free(&x->text);
    return x->fail == FAIL_NONE ? 0 : -1;
}

/* Turns a failed xml_run into err, naming the document. Returns -1. */
static int xml_fail_to_error(const struct xml_ctx *x, const char *what, struct wd_error *err)
{
    switch (x->fail) {
    case FAIL_NOMEM:
        return wd_error_nomem(err);
    case FAIL_DOCTYPE:
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "%s refused: it declares a DTD (<!DOCTYPE>), which S3 never sends", what);
    case FAIL_SHAPE:
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: %s", what, x->why);
    case FAIL_SYNTAX:
    case FAIL_NONE:
        break;
    }
    return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s is not well-formed XML (line %lu, column %lu: %s)",
                        what, x->line, x->column, XML_ErrorString(x->xml_code));
}

/* ---- ListObjectsV2 ---- */

enum list_field { LF_NONE, LF_KEY, LF_TRUNCATED, LF_TOKEN };

struct list_ctx {
    struct xml_ctx x; /* first: handlers receive a pointer to it */
    bool in_contents; /* inside a <Contents> child of the root */
    int keys_in_contents;
    bool seen_truncated, seen_token;
    struct wd_s3_list out;
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
        c->cap = cap;
    }
    c->out.keys[c->out.n_keys++] = key;
    return 0;
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
        } else if (strcmp(local, "IsTruncated") == 0) {
            if (c->seen_truncated) {
                xml_stop(&c->x, FAIL_SHAPE, "IsTruncated appears twice");
                return;
            }
            c->seen_truncated = true;
            xml_begin_field(&c->x, LF_TRUNCATED, TRUTH_MAX, "IsTruncated is neither true nor false");
        } else if (strcmp(local, "NextContinuationToken") == 0) {
            if (c->seen_token) {
                xml_stop(&c->x, FAIL_SHAPE, "NextContinuationToken appears twice");
                return;
            }
            c->seen_token = true;
            xml_begin_field(&c->x, LF_TOKEN, TEXT_MAX, "NextContinuationToken is longer than 64 KiB");
        }
    } else if (depth == 3 && c->in_contents && strcmp(local, "Key") == 0) {
        if (++c->keys_in_contents > 1) {
            xml_stop(&c->x, FAIL_SHAPE, "a Contents element has two Keys");
            return;
        }
        xml_begin_field(&c->x, LF_KEY, KEY_MAX, "a Key is longer than S3's limit of 1024 bytes");
    }
}

static bool parse_bool(const struct wd_buf *t, bool *out)
{
    const char *s = t->data ? t->data : "";
    size_t n = t->len;
    while (n > 0 && is_xml_space(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_xml_space(s[n - 1]))
        n--;
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
        char *s = wd_buf_steal(&c->x.text);
        if (s == NULL) {
            xml_stop(&c->x, FAIL_NOMEM, NULL);
            return;
        }
        if (field == LF_TOKEN) {
            c->out.next_token = s;
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
    }
}

int wd_s3_list_parse(const char *xml, size_t len, struct wd_s3_list *out, struct wd_error *err)
{
    static const char what[] = "ListObjectsV2 response";
    struct list_ctx c = {0};

    if (xml_run(&c.x, xml, len, list_start, list_end) < 0)
        goto fail;
    /*
     * A truncated page without a usable token would make the caller list from the start again
     * forever; a token on a complete page contradicts it. Keep next_token non-NULL exactly when
     * there is more to list.
     */
    if (c.out.truncated && (c.out.next_token == NULL || c.out.next_token[0] == '\0')) {
        c.x.fail = FAIL_SHAPE;
        c.x.why = "IsTruncated is true but there is no NextContinuationToken";
        goto fail;
    }
    if (!c.out.truncated) {
        free(c.out.next_token);
        c.out.next_token = NULL;
    }
    *out = c.out;
    return 0;

fail:
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
