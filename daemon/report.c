/* Log lines for pipeline events: one per applied request at info, one per problem at warning or error. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *past_tense(enum wd_request_type t)
{
    return t == WD_REQ_CREATE ? "created" : t == WD_REQ_UPDATE ? "updated" : "deleted";
}

struct quoted {
    struct wd_buf key, wid, rid;
};

static void ignored_attr(const char *name, void *ctx)
{
    const struct wd_event *ev = *(const struct wd_event **)ctx;
    struct wd_buf n = {0}, k = {0}, w = {0};
    wd_log(LOG_WARNING,
           "request '%s' (widget '%s'): otherAttribute '%s' clashes with a widget field; ignored",
           wd_log_quote(&k, ev->key), wd_log_quote(&w, ev->req->widget_id), wd_log_quote(&n, name));
    wd_buf_free(&n);
    wd_buf_free(&k);
    wd_buf_free(&w);
}

/* True when this failure starts a new deployment-fault episode (or is not one), so it should be logged. */
static bool new_episode(struct wd_report *r, const struct wd_error *err)
{
    /* A store rejection that is not about the request's content (WD_ERR_CLIENT reaching here) is one too. */
    bool deployment = err->cls == WD_ERR_AUTH || err->cls == WD_ERR_MISSING || err->cls == WD_ERR_CONFIG ||
                      err->cls == WD_ERR_CLIENT;
    if (!deployment) {
        return true;
    }
    if (r->episode_class == (int)err->cls && strcmp(r->episode_code, err->code) == 0)
        return false;
    r->episode_class = (int)err->cls;
    snprintf(r->episode_code, sizeof(r->episode_code), "%s", err->code);
    return true;
}

void wd_report_event(const struct wd_event *ev, void *ctx)
{
    struct wd_report *r = ctx;
    struct quoted q = {0};
    const char *key = ev->key ? wd_log_quote(&q.key, ev->key) : "";
    const char *wid = ev->req ? wd_log_quote(&q.wid, ev->req->widget_id) : NULL;
    const char *rid = ev->req ? wd_log_quote(&q.rid, ev->req->request_id) : NULL;

    switch (ev->kind) {
    case WD_EV_APPLIED:
        r->applied++;
        r->episode_class = 0; /* success ends a deployment-fault episode */
        wd_log(LOG_INFO, "%s widget '%s' (request '%s', key '%s')", past_tense(ev->req->type), wid, rid, key);
        if (r->dynamodb && ev->req->type != WD_REQ_DELETE)
            wd_ddb_foreach_ignored(ev->req, ignored_attr, &ev);
        break;
    case WD_EV_NOT_FOUND:
        r->not_found++;
        r->episode_class = 0;
        wd_log(LOG_WARNING, "%s of widget '%s' (request '%s', key '%s'): widget not found; request done",
               wd_request_type_name(ev->req->type), wid, rid, key);
        break;
    case WD_EV_IGNORED_ATTR:
        break;
    case WD_EV_DEAD_LETTERED:
        r->dead_lettered++;
        if (ev->req != NULL)
            wd_log(LOG_ERR,
                   "request '%s' (request '%s', widget '%s'): rejected by the store: %s; moved to %s", key,
                   rid, wid, ev->err->message, ev->detail);
        else
            wd_log(LOG_ERR, "request '%s': %s; moved to %s", key, ev->err->message, ev->detail);
        break;
    case WD_EV_FAILED:
        r->failed++;
        if (new_episode(r, ev->err))
            wd_log(LOG_WARNING, "request '%s'%s%s%s: %s error: %s; kept in the bucket for a later attempt",
                   key, wid ? " (widget '" : "", wid ? wid : "", wid ? "')" : "",
                   wd_error_class_name(ev->err->cls), ev->err->message);
        break;
    case WD_EV_LIST_FAILED:
        if (new_episode(r, ev->err))
            wd_log(LOG_ERR, "cannot list the requests bucket: %s error: %s; will retry",
                   wd_error_class_name(ev->err->cls), ev->err->message);
        break;
    case WD_EV_VANISHED:
        wd_log(LOG_WARNING, "request '%s' was gone when read (taken by another consumer?); skipped", key);
        break;
    }
    wd_buf_free(&q.key);
    wd_buf_free(&q.wid);
    wd_buf_free(&q.rid);
}
