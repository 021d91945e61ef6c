/* One running pipeline built from one configuration: endpoints, credentials, the consumer. */
#ifndef WD_SERVICE_H
#define WD_SERVICE_H

#include "aws.h"
#include "config.h"
#include "consumer.h"
#include "lease_runner.h"
#include "report.h"
#include "s3.h"

struct wd_service {
    struct wd_config cfg; /* owned: the lib objects borrow its strings */
    struct wd_credentials_provider *creds;
    struct wd_aws *aws;
    struct wd_s3 s3;
    struct wd_endpoint ddb;
    struct wd_consumer *consumer;
};

/*
 * Takes ownership of cfg (also on failure) and builds everything a poll needs. Nothing touches the
 * network here: an unreachable endpoint shows up in the first poll, not as a start-up failure.
 * Credentials are not looked up yet (creds is empty: wd_credentials_provider_resolve() fills it).
 * With a lease (NULL: none), the store's writes carry its fence and every call passes its gate.
 * Returns NULL with err (WD_ERR_CONFIG for bad endpoints).
 */
struct wd_service *wd_service_new(struct wd_config *cfg, bool once, struct wd_report *report,
                                  struct wd_lease_runner *lease, struct wd_error *err);

/* The endpoint URL for a service: its own setting (specific), else [aws] endpoint, else AWS's public one. */
int wd_service_endpoint(const struct wd_config *cfg, const char *specific, const char *service,
                        struct wd_endpoint *out, struct wd_error *err);
void wd_service_free(struct wd_service *s);

#endif
