/* Building and tearing down the pipeline for a configuration (at start and at each reload). */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>

#include "store_dynamodb.h"
#include "store_s3.h"

int wd_service_endpoint(const struct wd_config *cfg, const char *specific, const char *service,
                        struct wd_endpoint *out, struct wd_error *err)
{
    char url[512];
    const char *u = specific ? specific : cfg->endpoint;
    if (u == NULL) {
        snprintf(url, sizeof(url), "https://%s.%s.amazonaws.com", service, cfg->region);
        u = url;
    }
    return wd_endpoint_parse(u, out, err);
}

struct wd_service *wd_service_new(struct wd_config *cfg, bool once, struct wd_report *report,
                                  struct wd_lease_runner *lease, struct wd_error *err)
{
    struct wd_service *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wd_config_clear(cfg);
        wd_error_nomem(err);
        return NULL;
    }
    s->cfg = *cfg;
    *cfg = (struct wd_config){0};
    const struct wd_config *c = &s->cfg;

    if (wd_service_endpoint(c, c->s3_endpoint, "s3", &s->s3.endpoint, err) < 0 ||
        wd_service_endpoint(c, c->dynamodb_endpoint, "dynamodb", &s->ddb, err) < 0)
        goto fail;
    /* A custom S3 endpoint (a stand-in, MinIO, ...) rarely serves virtual-hosted names (SPEC 6). */
    bool custom_s3 = c->s3_endpoint || c->endpoint;
    s->s3.path_style =
        c->path_style == WD_PATH_STYLE_YES || (c->path_style == WD_PATH_STYLE_AUTO && custom_s3);
    /*
     * Empty here: the loop looks for credentials before each poll until it finds them (none at start is
     * a state, not a configuration error); refreshes happen on the workers.
     */
    if ((s->creds = wd_credentials_provider_create(c->profile, err)) == NULL)
        goto fail;
    if ((s->aws = wd_aws_new(c->region, s->creds, NULL, err)) == NULL)
        goto fail;

    struct wd_consumer_config cc = {
        .requests_bucket = c->requests_bucket,
        .requests_prefix = c->requests_prefix ? c->requests_prefix : "",
        .dead_letter_bucket = c->dead_letter_bucket,
        .dead_letter_prefix = c->dead_letter_prefix,
        .s3 = &s->s3,
        .store = {.ops = c->store_kind == WD_STORE_S3 ? &wd_store_s3_ops : &wd_store_ddb_ops,
                  .name = c->store_name,
                  .s3 = &s->s3,
                  .ddb = &s->ddb,
                  .fence = lease ? wd_lease_runner_fence(lease) : NULL},
        .calls_in_flight = c->calls_in_flight,
        .list_page = 1000,
        .once = once,
        .hold_min_s = 1.0,
        .hold_max_s = 60.0,
        .http = {.connect_timeout_ms = c->connect_timeout_ms,
                 .timeout_ms = c->timeout_ms,
                 .ca_file = c->ca_file,
                 .verify_tls = c->verify_tls,
                 /* With a lease, no call starts unless this instance leads long enough for it (SPEC 9). */
                 .gate = lease ? wd_lease_runner_gate : NULL,
                 .gate_ctx = lease},
    };
    s->consumer = wd_consumer_new(&cc, s->aws, wd_report_event, report, err);
    if (s->consumer == NULL)
        goto fail;
    return s;
fail:
    wd_service_free(s);
    return NULL;
}

void wd_service_free(struct wd_service *s)
{
    if (s == NULL)
        return;
    wd_consumer_free(s->consumer);
    wd_aws_free(s->aws);
    wd_credentials_provider_free(s->creds);
    wd_endpoint_clear(&s->s3.endpoint);
    wd_endpoint_clear(&s->ddb);
    wd_config_clear(&s->cfg);
    free(s);
}
