/* Fuzz target: request JSON (wd_request_parse), the store bodies made from it, stored bodies read back. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "request.h"
#include "store_dynamodb.h"
#include "store_s3.h"

/* Stands in for the request when the input is not one, so the stored-body readers still see every input. */
static const char FIXED_UPDATE[] =
    "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w/1\",\"owner\":\"Mary Matthews\","
    "\"label\":\"L\",\"description\":\"\",\"otherAttributes\":[{\"name\":\"size\",\"value\":\"3\"},"
    "{\"name\":\"colour\",\"value\":\"\"},{\"name\":\"label\",\"value\":\"x\"}]}";

static void check_request(const struct wd_request *req)
{
    FUZZ_CHECK(req->type == WD_REQ_CREATE || req->type == WD_REQ_UPDATE || req->type == WD_REQ_DELETE);
    FUZZ_CHECK(req->request_id != NULL && req->request_id[0] != '\0');
    size_t id_len = strlen(req->widget_id);
    FUZZ_CHECK(id_len >= 1 && id_len <= 512);
    for (size_t i = 0; i < id_len; i++)
        FUZZ_CHECK((unsigned char)req->widget_id[i] >= 0x20 && req->widget_id[i] != 0x7f);
    FUZZ_CHECK(fuzz_utf8_valid(req->widget_id, id_len));
    size_t owner_len = strlen(req->owner);
    FUZZ_CHECK(owner_len >= 1 && owner_len <= 255);
    FUZZ_CHECK(strspn(req->owner, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ") == owner_len);
    FUZZ_CHECK(req->n_attrs == 0 || req->attrs != NULL);
    for (size_t i = 0; i < req->n_attrs; i++) {
        size_t n = strlen(req->attrs[i].name);
        FUZZ_CHECK(n >= 1 && n <= 255);
        FUZZ_CHECK(req->attrs[i].value != NULL);
        /* Duplicates are merged: names are distinct (checked pairwise on small lists only). */
        for (size_t k = 0; req->n_attrs <= 64 && k < i; k++)
            FUZZ_CHECK(strcmp(req->attrs[k].name, req->attrs[i].name) != 0);
    }
    FUZZ_CHECK(strcmp(wd_request_type_name(req->type), "unknown") != 0);
}

/* The S3 key is "widgets/<slug>/<widgetId>" with the slug as long as the owner. */
static void check_s3_key(const struct wd_request *req)
{
    struct wd_buf key = {0};
    FUZZ_CHECK(wd_store_s3_key(req, &key) == 0);
    size_t owner_len = strlen(req->owner);
    FUZZ_CHECK(key.len == 8 + owner_len + 1 + strlen(req->widget_id));
    FUZZ_CHECK(memcmp(key.data, "widgets/", 8) == 0);
    FUZZ_CHECK(strspn(key.data + 8, "abcdefghijklmnopqrstuvwxyz-") == owner_len);
    FUZZ_CHECK(key.data[8 + owner_len] == '/');
    FUZZ_CHECK(strcmp(key.data + 8 + owner_len + 1, req->widget_id) == 0);
    wd_buf_free(&key);
}

/* The S3 body of a create is a widget JSON object; applying the same request again changes nothing. */
static void check_s3_bodies(const struct wd_request *req)
{
    struct wd_buf body = {0}, again = {0};
    struct wd_error err = {0};
    FUZZ_CHECK(wd_store_s3_create_body(req, &body, &err) == 0);
    json_t *j = fuzz_json(body.data, body.len);
    FUZZ_CHECK(json_is_object(j));
    FUZZ_CHECK(fuzz_json_str(j, "widgetId") && strcmp(fuzz_json_str(j, "widgetId"), req->widget_id) == 0);
    FUZZ_CHECK(fuzz_json_str(j, "owner") && strcmp(fuzz_json_str(j, "owner"), req->owner) == 0);
    json_t *attrs = json_object_get(j, "otherAttributes");
    FUZZ_CHECK(attrs == NULL || json_array_size(attrs) > 0);
    json_decref(j);

    FUZZ_CHECK(wd_store_s3_update_body(body.data, body.len, req, &again, &err) == 0);
    FUZZ_CHECK(again.len == body.len && memcmp(again.data, body.data, body.len) == 0);
    wd_buf_free(&again);
    wd_buf_free(&body);
}

/* Every DynamoDB body is JSON; a merge into the item a create would put finds it. */
static void check_ddb_bodies(const struct wd_request *req)
{
    struct wd_buf put = {0}, upd = {0}, merged = {0}, key = {0};
    struct wd_error err = {0};
    bool fits = false, noop = false, found = false;
    json_t *j;

    FUZZ_CHECK(wd_store_ddb_put_item_body(req, "widgets", &put, &err) == 0);
    j = fuzz_json(put.data, put.len);
    FUZZ_CHECK(json_is_object(json_object_get(j, "Item")));
    json_decref(j);

    FUZZ_CHECK(wd_store_ddb_update_item_body(req, "widgets", &upd, &fits, &noop, &err) == 0);
    if (fits && !noop) {
        j = fuzz_json(upd.data, upd.len);
        FUZZ_CHECK(json_is_object(j));
        FUZZ_CHECK(fuzz_json_str(j, "UpdateExpression") != NULL);
        FUZZ_CHECK(strlen(fuzz_json_str(j, "UpdateExpression")) <= 4096);
        json_decref(j);
    } else {
        FUZZ_CHECK(upd.len == 0);
    }

    FUZZ_CHECK(wd_store_ddb_merge_item_body(put.data, put.len, req, "widgets", &merged, &found, &err) == 0);
    FUZZ_CHECK(found);
    j = fuzz_json(merged.data, merged.len);
    FUZZ_CHECK(json_is_object(json_object_get(j, "Item")));
    json_decref(j);

    FUZZ_CHECK(wd_store_ddb_key_body("widgets", req->widget_id, "\"ReturnValues\":\"ALL_OLD\"", &key, &err) ==
               0);
    j = fuzz_json(key.data, key.len);
    FUZZ_CHECK(json_is_object(json_object_get(j, "Key")));
    json_decref(j);

    wd_buf_free(&put);
    wd_buf_free(&upd);
    wd_buf_free(&merged);
    wd_buf_free(&key);
}

/* The input read as a stored S3 body and as a GetItem response, updated by req. */
static void check_stored(const char *data, size_t size, const struct wd_request *req)
{
    struct wd_buf out = {0};
    struct wd_error err = {0};
    bool found = false;
    if (wd_store_s3_update_body(data, size, req, &out, &err) == 0) {
        json_t *j = fuzz_json(out.data, out.len);
        FUZZ_CHECK(json_is_object(j));
        FUZZ_CHECK(fuzz_json_str(j, "widgetId") != NULL && fuzz_json_str(j, "owner") != NULL);
        json_decref(j);
    } else {
        FUZZ_CHECK(err.cls == WD_ERR_INTERNAL || err.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(out.len == 0);
    }
    wd_buf_free(&out);

    if (wd_store_ddb_merge_item_body(data, size, req, "widgets", &out, &found, &err) == 0) {
        if (found) {
            json_t *j = fuzz_json(out.data, out.len);
            FUZZ_CHECK(json_is_object(json_object_get(j, "Item")));
            json_decref(j);
        } else {
            FUZZ_CHECK(out.len == 0);
        }
    } else {
        FUZZ_CHECK(err.cls == WD_ERR_INTERNAL || err.cls == WD_ERR_NOMEM);
    }
    wd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct wd_request *req = NULL;
    struct wd_error err = {0};
    if (wd_request_parse(text, size, &req, &err) == 0) {
        FUZZ_CHECK(req != NULL);
        FUZZ_CHECK(size <= WD_REQUEST_MAX_BYTES);
        check_request(req);
        check_s3_key(req);
        check_s3_bodies(req);
        check_ddb_bodies(req);
        const char *ignored[WD_STORE_MAX_IGNORED];
        size_t n_ignored = wd_store_ddb_ignored(req, ignored);
        FUZZ_CHECK(n_ignored <= req->n_attrs);
        for (size_t i = 0; i < n_ignored; i++)
            FUZZ_CHECK(wd_store_ddb_reserved(ignored[i]));
        check_stored(text, size, req);
        wd_request_free(req);
    } else {
        FUZZ_CHECK(req == NULL);
        FUZZ_CHECK(err.cls == WD_ERR_BAD_INPUT || err.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && err.message[0] != '\0');
        struct wd_request *fixed = NULL;
        FUZZ_CHECK(wd_request_parse(FIXED_UPDATE, sizeof(FIXED_UPDATE) - 1, &fixed, &err) == 0);
        check_stored(text, size, fixed);
        wd_request_free(fixed);
    }
    return 0;
}
