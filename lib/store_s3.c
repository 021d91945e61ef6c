/*
 * The S3 widget store (SPEC 3): the object key, the object body of a create and of an update, and
 * applying a request with GET/PUT/HEAD/DELETE on the store bucket, each write conditional on the object
 * being as it was read when the store is fenced (SPEC 9).
 */
#include "store_s3.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "json.h"
#include "s3.h"
#include "store.h"

int wd_store_s3_owner_slug(const char *owner, struct wd_buf *out)
{
    size_t len = strlen(owner), start = out->len;
    if (wd_buf_reserve(out, len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = owner[i];
        /* ASCII only on purpose: a validated owner is [A-Za-z ]+ and tolower() would follow the locale. */
        out->data[start + i] = c == ' ' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->len = start + len;
    out->data[out->len] = '\0';
    return 0;
}

int wd_store_s3_key(const struct wd_request *req, struct wd_buf *out)
{
    size_t start = out->len;
    if (wd_buf_append_str(out, "widgets/") < 0 || wd_store_s3_owner_slug(req->owner, out) < 0 ||
        wd_buf_append_char(out, '/') < 0 || wd_buf_append_str(out, req->widget_id) < 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return -1;
    }
    return 0;
}

/*
 * A widget as the S3 store keeps it. Strings are borrowed (from the request or the parsed stored body);
 * attrs keep their order, a removed one is a NULL value left in place, and `index` (name -> position)
 * finds a name without a scan.
 */
struct s3_widget {
    const char *widget_id, *owner, *label, *description;
    struct s3_attr {
        const char *name, *value;
    } * attrs;
    size_t n, cap;
    json_t *index;
};

static void s3_widget_clear(struct s3_widget *w)
{
    free(w->attrs);
    json_decref(w->index);
}

/* Sets (value non-empty) or removes (value "") one attribute: a known name keeps its place. -1: OOM. */
static int s3_widget_apply_attr(struct s3_widget *w, const char *name, const char *value)
{
    if (w->index == NULL && (w->index = json_object()) == NULL)
        return -1;
    json_t *pos = json_object_get(w->index, name);
    if (pos != NULL) {
        size_t i = (size_t)json_integer_value(pos);
        if (value[0] != '\0') {
            w->attrs[i].value = value;
        } else {
            w->attrs[i].value = NULL;
            json_object_del(w->index, name); /* so that a later set goes last, as a new attribute */
        }
        return 0;
    }
    if (value[0] == '\0')
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        struct s3_attr *p = realloc(w->attrs, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        w->attrs = p;
        w->cap = cap;
    }
    if (json_object_set_new(w->index, name, json_integer((json_int_t)w->n)) < 0)
        return -1;
    w->attrs[w->n++] = (struct s3_attr){name, value};
    return 0;
}

/* label/description of an update: NULL keeps the current value, "" removes it, anything else sets it. */
static const char *updated_field(const char *current, const char *update)
{
    if (update == NULL)
        return current;
    return update[0] != '\0' ? update : NULL;
}

static int s3_widget_render(const struct s3_widget *w, struct wd_buf *out, struct wd_error *err)
{
    json_t *o = json_object(), *arr = NULL;
    int rc = -1;
    if (o == NULL || !wd_json_set_string(o, "widgetId", w->widget_id) ||
        !wd_json_set_string(o, "owner", w->owner))
        goto nomem;
    if (w->label != NULL && w->label[0] != '\0' && !wd_json_set_string(o, "label", w->label))
        goto nomem;
    if (w->description != NULL && w->description[0] != '\0' &&
        !wd_json_set_string(o, "description", w->description))
        goto nomem;
    for (size_t i = 0; i < w->n; i++) {
        if (w->attrs[i].value == NULL || w->attrs[i].value[0] == '\0')
            continue;
        if (arr == NULL && ((arr = json_array()) == NULL || json_object_set(o, "otherAttributes", arr) < 0))
            goto nomem;
        if (json_array_append_new(
                arr, json_pack("{s:s,s:s}", "name", w->attrs[i].name, "value", w->attrs[i].value)) < 0)
            goto nomem;
    }
    rc = wd_json_append(o, out, err);
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(arr);
    json_decref(o);
    return rc;
}

int wd_store_s3_create_body(const struct wd_request *req, struct wd_buf *out, struct wd_error *err)
{
    struct s3_widget w = {.widget_id = req->widget_id,
                          .owner = req->owner,
                          .label = req->label,
                          .description = req->description};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < req->n_attrs; i++)
        if (s3_widget_apply_attr(&w, req->attrs[i].name, req->attrs[i].value) < 0)
            rc = wd_error_nomem(err);
    if (rc == 0)
        rc = s3_widget_render(&w, out, err);
    s3_widget_clear(&w);
    return rc;
}

/* Reads a stored body into w (borrowing from root). 1 when it is not a widget, -1 on OOM. */
static int s3_widget_load(json_t *root, struct s3_widget *w)
{
    json_t *id = json_object_get(root, "widgetId"), *owner = json_object_get(root, "owner");
    json_t *label = json_object_get(root, "label"), *desc = json_object_get(root, "description");
    json_t *attrs = json_object_get(root, "otherAttributes");
    /* null counts as absent, as in a request */
    if (!json_is_string(id) || !json_is_string(owner) ||
        (label != NULL && !json_is_string(label) && !json_is_null(label)) ||
        (desc != NULL && !json_is_string(desc) && !json_is_null(desc)) ||
        (attrs != NULL && !json_is_array(attrs) && !json_is_null(attrs)))
        return 1;
    w->widget_id = json_string_value(id);
    w->owner = json_string_value(owner);
    w->label = json_string_value(label); /* NULL when absent */
    w->description = json_string_value(desc);
    size_t i;
    json_t *e;
    json_array_foreach(attrs, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *value = json_string_value(json_object_get(e, "value"));
        if (name == NULL || value == NULL)
            return 1;
        if (s3_widget_apply_attr(w, name, value) < 0)
            return -1;
    }
    return 0;
}

int wd_store_s3_update_body(const char *stored, size_t len, const struct wd_request *req, struct wd_buf *out,
                            struct wd_error *err)
{
    json_error_t jerr;
    struct s3_widget w = {0};
    int rc = -1;
    json_t *root = json_loadb(stored != NULL ? stored : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return wd_json_load_error(err, WD_ERR_INTERNAL, "stored widget is not JSON", &jerr);
    }
    int loaded = json_is_object(root) ? s3_widget_load(root, &w) : 1;
    if (loaded < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (loaded > 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "stored widget is not a widget object");
        goto out;
    }
    /* widgetId and owner stay the stored ones: an update never moves or renames a widget. */
    w.label = updated_field(w.label, req->label);
    w.description = updated_field(w.description, req->description);
    for (size_t i = 0; i < req->n_attrs; i++)
        if (s3_widget_apply_attr(&w, req->attrs[i].name, req->attrs[i].value) < 0) {
            wd_error_nomem(err);
            goto out;
        }
    rc = s3_widget_render(&w, out, err);
out:
    s3_widget_clear(&w);
    json_decref(root);
    return rc;
}

/*
 * The ETag as the condition of a write: without its quotes. S3 takes both forms (its own CLI examples send
 * it bare); Ceph RGW 16.2 compares If-Match on PUT with the bare form only, and refuses the quoted one
 * even when it matches (../shared/STANDINS.md).
 */
static void bare_etag(const char etag[WD_S3_ETAG_SIZE], char out[WD_S3_ETAG_SIZE])
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
        snprintf(out, WD_S3_ETAG_SIZE, "%.*s", (int)(len - 2), etag + 1);
    else
        snprintf(out, WD_S3_ETAG_SIZE, "%s", etag);
}

/*
 * A conditional write that failed because the object is no longer as this instance read it (412
 * PreconditionFailed; 409 ConditionalRequestConflict, a concurrent write of the key; 404, deleted since):
 * only another writer, in practice another leader, changes widget objects. Anything else is left as is.
 */
static int fenced_outcome(const char *key, struct wd_error *err)
{
    if (err->cls != WD_ERR_CONDITION && err->cls != WD_ERR_NOT_FOUND)
        return -1;
    char quoted[160];
    struct wd_error cause = *err;
    wd_escape_quoted(quoted, sizeof(quoted), key, strlen(key));
    return wd_error_set(
        err, WD_ERR_FENCED, cause.http_status, cause.code,
        "object %s changed since this instance read it (another leader wrote it), nothing was "
        "written: %s",
        quoted, cause.message);
}

static int no_etag(const char *key, struct wd_error *err)
{
    char quoted[160];
    wd_escape_quoted(quoted, sizeof(quoted), key, strlen(key));
    return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                        "object %s: the server sent no usable ETag, so the write cannot be made conditional",
                        quoted);
}

/*
 * Fenced (SPEC 9): every write names the object as this instance read it, If-Match with its ETag, or
 * If-None-Match: * when it found none, so that a write made after another leader changed the object is
 * refused (WD_ERR_FENCED). What these conditions cannot catch is in README ("Running two instances").
 */
static int apply_fenced(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                        const struct wd_request *req, const char *key, struct wd_apply_result *res,
                        struct wd_error *err)
{
    struct wd_buf stored = {0}, body = {0};
    char etag[WD_S3_ETAG_SIZE] = "", bare[WD_S3_ETAG_SIZE];
    bool exists = true;
    int rc = -1;
    if (req->type == WD_REQ_UPDATE) {
        if (wd_s3_get(aws, http, store->s3, store->name, key, 0, &stored, etag, err) < 0)
            exists = false;
    } else if (wd_s3_head_etag(aws, http, store->s3, store->name, key, etag, err) < 0) {
        exists = false;
    }
    if (!exists) {
        if (err->cls != WD_ERR_NOT_FOUND)
            goto out;
        if (req->type != WD_REQ_CREATE) {
            res->not_found = true;
            rc = 0;
            goto out;
        }
    } else if (etag[0] == '\0') {
        rc = no_etag(key, err);
        goto out;
    }
    bare_etag(etag, bare);
    switch (req->type) {
    case WD_REQ_CREATE:
        if (wd_store_s3_create_body(req, &body, err) < 0)
            goto out;
        rc = wd_s3_put_if(aws, http, store->s3, store->name, key, body.data, body.len, "application/json",
                          exists ? bare : NULL, !exists, err);
        break;
    case WD_REQ_UPDATE:
        if (wd_store_s3_update_body(stored.data ? stored.data : "", stored.len, req, &body, err) < 0)
            goto out;
        rc = wd_s3_put_if(aws, http, store->s3, store->name, key, body.data, body.len, "application/json",
                          bare, false, err);
        break;
    case WD_REQ_DELETE:
        rc = wd_s3_delete(aws, http, store->s3, store->name, key, bare, err);
        break;
    }
    if (rc < 0)
        rc = fenced_outcome(key, err);
out:
    wd_buf_free(&stored);
    wd_buf_free(&body);
    return rc;
}

static int apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                 const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_buf key = {0}, stored = {0}, body = {0};
    int rc = -1;
    *res = (struct wd_apply_result){0};
    if (wd_store_s3_key(req, &key) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (store->fence != NULL && store->fence->s3_conditions) {
        rc = apply_fenced(store, aws, http, req, key.data, res, err);
        goto out;
    }
    switch (req->type) {
    case WD_REQ_CREATE:
        if (wd_store_s3_create_body(req, &body, err) < 0)
            goto out;
        rc = wd_s3_put(aws, http, store->s3, store->name, key.data, body.data, body.len, "application/json",
                       NULL, 0, err);
        break;
    case WD_REQ_UPDATE:
        /* Requests of one widget run one at a time (consumer.c), so read-modify-write is safe here. */
        if (wd_s3_get(aws, http, store->s3, store->name, key.data, 0, &stored, NULL, err) < 0) {
            if (err->cls == WD_ERR_NOT_FOUND) {
                res->not_found = true;
                rc = 0;
            }
            goto out;
        }
        if (wd_store_s3_update_body(stored.data ? stored.data : "", stored.len, req, &body, err) < 0)
            goto out;
        rc = wd_s3_put(aws, http, store->s3, store->name, key.data, body.data, body.len, "application/json",
                       NULL, 0, err);
        break;
    case WD_REQ_DELETE:
        /* S3 answers 204 to a DELETE of a missing key; only a HEAD can tell us to warn. */
        if (wd_s3_head(aws, http, store->s3, store->name, key.data, err) < 0) {
            if (err->cls == WD_ERR_NOT_FOUND) {
                res->not_found = true;
                rc = 0;
            }
            goto out;
        }
        rc = wd_s3_delete(aws, http, store->s3, store->name, key.data, NULL, err);
        break;
    }
out:
    wd_buf_free(&key);
    wd_buf_free(&stored);
    wd_buf_free(&body);
    return rc;
}

static int identity(const struct wd_request *req, struct wd_buf *out)
{
    /* The owner is part of the key, so two owners' widgets with one ID are two widgets. */
    return wd_store_s3_key(req, out);
}

/* An object or key over S3's limits: this request's content can never be stored. */
static bool rejects_content(const struct wd_error *err)
{
    return err->cls == WD_ERR_CLIENT &&
           (strcmp(err->code, "EntityTooLarge") == 0 || strcmp(err->code, "KeyTooLongError") == 0);
}

const struct wd_store_ops wd_store_s3_ops = {
    .kind = "s3",
    .identity = identity,
    .apply = apply,
    .rejects_content = rejects_content,
};
