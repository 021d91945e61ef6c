/* Log lines for pipeline events: one per applied request at info, one per problem at warning or error. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "escape.h"
#include "log.h"

static const char *past_tense(enum wd_request_type t)
{
    return t == WD_REQ_CREATE ? "created" : t == WD_REQ_UPDATE ? "updated" : "deleted";
}

/*
 * Failures come in episodes (an outage, wrong credentials, a missing table): every request fails the
 * same way until something works again. The first failure of an episode is logged with its request;
 * the rest of the episode only counts, and its end is logged with the count. Keyed on the class alone:
 * one outage answers with several codes (an S3 HEAD's 403 has no body; S3 and DynamoDB name it apart).
 */
static bool new_episode(struct wd_report *r, const struct wd_error *err)
{
    if (r->episode_class == (int)err->cls) {
        r->episode_repeats++;
        return false;
    }
    if (r->episode_class != 0 && r->episode_repeats > 0)
        wd_log(LOG_NOTICE, "%lu more %s errors (%s) were not logged one by one", r->episode_repeats,
               wd_error_class_name((enum wd_error_class)r->episode_class), r->episode_code);
    r->episode_class = (int)err->cls;
    r->episode_repeats = 0;
    snprintf(r->episode_code, sizeof(r->episode_code), "%s", err->code);
    return true;
}

static void end_episode(struct wd_report *r)
{
    /* A lone failure between successes needs no all-clear; an outage or an auth episode does. */
    bool deployment = r->episode_class == WD_ERR_AUTH || r->episode_class == WD_ERR_MISSING ||
                      r->episode_class == WD_ERR_CONFIG || r->episode_class == WD_ERR_CLIENT;
    if (r->episode_class != 0 && (r->episode_repeats > 0 || deployment))
        wd_log(LOG_NOTICE,
               "requests are being applied again after %s errors (%s; %lu more not logged one by one)",
               wd_error_class_name((enum wd_error_class)r->episode_class), r->episode_code,
               r->episode_repeats);
    r->episode_class = 0;
    r->episode_repeats = 0;
    r->episode_code[0] = '\0';
}

void wd_report_event(const struct wd_event *ev, void *ctx)
{
    struct wd_report *r = ctx;
    struct wd_buf qk = {0}, qw = {0}, qr = {0};
    const char *key = ev->key ? wd_escape_str(&qk, WD_ESCAPE_LOG, ev->key) : "";
    const char *wid = ev->req ? wd_escape_str(&qw, WD_ESCAPE_LOG, ev->req->widget_id) : NULL;
    const char *rid = ev->req ? wd_escape_str(&qr, WD_ESCAPE_LOG, ev->req->request_id) : NULL;
    struct wd_log_ids ids = {.request_key = ev->key,
                             .request_id = ev->req ? ev->req->request_id : NULL,
                             .widget_id = ev->req ? ev->req->widget_id : NULL};

    switch (ev->kind) {
    case WD_EV_APPLIED:
        r->applied++;
        end_episode(r);
        wd_log_request(LOG_INFO, &ids, "%s widget '%s' (request '%s', key '%s')", past_tense(ev->req->type),
                       wid, rid, key);
        break;
    case WD_EV_NOT_FOUND:
        r->not_found++;
        end_episode(r);
        wd_log_request(LOG_WARNING, &ids,
                       "%s of widget '%s' (request '%s', key '%s'): widget not found; request done",
                       wd_request_type_name(ev->req->type), wid, rid, key);
        break;
    case WD_EV_IGNORED_ATTR: {
        struct wd_buf n = {0};
        wd_log_request(LOG_WARNING, &ids,
                       "request '%s' (widget '%s'): otherAttribute '%s' clashes with a widget field; ignored",
                       key, wid, wd_escape_str(&n, WD_ESCAPE_LOG, ev->detail));
        wd_buf_free(&n);
        break;
    }
    case WD_EV_DEAD_LETTERED: {
        /* The dead-letter name holds the key: as outside a string as the key itself. */
        struct wd_buf qd = {0};
        const char *where = wd_escape_str(&qd, WD_ESCAPE_LOG, ev->detail);
        r->dead_lettered++;
        if (ev->req != NULL)
            wd_log_request(
                LOG_ERR, &ids,
                "request '%s' (request '%s', widget '%s'): rejected by the store: %s; moved to '%s'", key,
                rid, wid, ev->err->message, where);
        else
            wd_log_request(LOG_ERR, &ids, "request '%s': %s; moved to '%s'", key, ev->err->message, where);
        wd_buf_free(&qd);
        break;
    }
    case WD_EV_SET_ASIDE:
    case WD_EV_SET_ASIDE_BEFORE: {
        struct wd_buf qd = {0};
        const char *where = wd_escape_str(&qd, WD_ESCAPE_LOG, ev->detail);
        if (ev->kind == WD_EV_SET_ASIDE) {
            r->dead_lettered++;
            wd_log_request(LOG_ERR, &ids, "request '%s': %s; left in place, set aside by the marker '%s'",
                           key, ev->err->message, where);
        } else {
            wd_log_request(LOG_NOTICE, &ids,
                           "request '%s' cannot be read and was set aside by an earlier run (marker '%s'); "
                           "left in place, not read again",
                           key, where);
        }
        wd_buf_free(&qd);
        break;
    }
    case WD_EV_FAILED:
        if (ev->err->cls == WD_ERR_FENCED) {
            /*
             * Not this request's fault: the lease passed (or may pass) to another instance. A write the
             * store's fence refused is the news that another leadership began; the loop steps down.
             */
            r->fenced++;
            if (strcmp(ev->err->code, "NotLeader") != 0)
                r->fence_refused = true;
            wd_log_request(LOG_DEBUG, &ids, "request '%s': %s; left for the leader", key, ev->err->message);
            break;
        }
        r->failed++;
        snprintf(r->last_error, sizeof(r->last_error), "%s: %s", wd_error_class_name(ev->err->cls),
                 ev->err->message);
        if (new_episode(r, ev->err))
            wd_log_request(LOG_WARNING, &ids,
                           "request '%s'%s%s%s: %s error: %s; kept in the bucket for a later attempt", key,
                           wid ? " (widget '" : "", wid ? wid : "", wid ? "')" : "",
                           wd_error_class_name(ev->err->cls), ev->err->message);
        break;
    case WD_EV_LIST_FAILED:
        if (ev->err->cls == WD_ERR_FENCED)
            break; /* the lease closed the gate as the poll began: nothing wrong with the bucket */
        snprintf(r->last_error, sizeof(r->last_error), "cannot list requests: %s: %s",
                 wd_error_class_name(ev->err->cls), ev->err->message);
        /* Whatever the cause, one line per outage: every idle poll would repeat it. */
        if (!r->list_episode)
            wd_log(LOG_ERR, "cannot list the requests bucket: %s error: %s; will retry with back-off",
                   wd_error_class_name(ev->err->cls), ev->err->message);
        r->list_episode = true;
        break;
    case WD_EV_REPLACED:
        wd_log_request(LOG_WARNING, &ids,
                       "request '%s' was overwritten by the producer after it was read: the version read is "
                       "done, the new one stays in the bucket for a later poll",
                       key);
        break;
    case WD_EV_VANISHED:
        /*
         * SPEC 9: without a lease one instance per requests bucket is the rule, and a request gone
         * between LIST and GET is the sign of another consumer; warned about once per episode.
         */
        r->vanished++;
        r->vanished_this_poll = true;
        if (!r->vanished_episode)
            wd_log_request(LOG_WARNING, &ids,
                           "request '%s' was gone when read: another consumer seems to take requests from "
                           "this bucket (run one widgetd per requests bucket, or configure [lease] for "
                           "several); further vanished requests are counted, not logged, until a poll "
                           "sees none",
                           key);
        else
            wd_log_request(LOG_INFO, &ids, "request '%s' was gone when read; skipped", key);
        r->vanished_episode = true;
        break;
    }
    wd_buf_free(&qk);
    wd_buf_free(&qw);
    wd_buf_free(&qr);
}
