/* Turns the pipeline's events into log lines and running counts (SPEC section 7). */
#ifndef WD_REPORT_H
#define WD_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "consumer.h"

struct wd_report {
    unsigned long applied, not_found, dead_lettered, failed;
    char last_error[600]; /* the latest failure, for STATUS= */
    /* Deployment faults (auth, missing bucket/table) are logged once per episode, not per request. */
    char episode_code[64];
    int episode_class;
    unsigned long episode_repeats; /* failures of the episode after its first, not logged one by one */
    bool list_episode; /* listing the requests bucket fails; logged once until a listing works again */
};

/* The wd_event_fn for the consumer; ctx is a struct wd_report. */
void wd_report_event(const struct wd_event *ev, void *ctx);

#endif
