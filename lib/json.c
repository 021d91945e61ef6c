/* Writing JSON with jansson into wd_buf. */
#include "json.h"

#include <string.h>

#include "escape.h"

#define JSON_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return wd_buf_append(data, buffer, size);
}

int wd_json_append(const json_t *j, struct wd_buf *out, struct wd_error *err)
{
    struct wd_buf tmp = {0};
    int rc = 0;
    if (j == NULL || json_dump_callback(j, dump_cb, &tmp, JSON_DUMP_FLAGS) < 0 ||
        wd_buf_append(out, tmp.data, tmp.len) < 0)
        rc = wd_error_nomem(err);
    wd_buf_free(&tmp);
    return rc;
}

bool wd_json_set_string(json_t *obj, const char *key, const char *value)
{
    /* json_object_set_new takes a NULL value (json_string out of memory) as a failure and frees nothing. */
    return json_object_set_new(obj, key, json_string(value)) == 0;
}

int wd_json_load_error(struct wd_error *err, enum wd_error_class cls, const char *what,
                       const json_error_t *jerr)
{
    if (json_error_code(jerr) == json_error_out_of_memory)
        return wd_error_nomem(err);
    struct wd_buf text = {0};
    /* Twice jansson's own limit keeps the whole message within wd_error's. */
    if (wd_escape(&text, WD_ESCAPE_REASON, jerr->text, strnlen(jerr->text, sizeof(jerr->text)),
                  2 * JSON_ERROR_TEXT_LENGTH) < 0)
        return wd_error_nomem(err);
    wd_error_set(err, cls, 0, NULL, "%s: %s (line %d, column %d)", what, text.data, jerr->line, jerr->column);
    wd_buf_free(&text);
    return -1;
}
