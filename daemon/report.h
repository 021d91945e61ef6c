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
    bool list_episode;       /* listing the requests bucket fails; logged once until a listing works again */
    unsigned long fenced;    /* requests left for the leader: the lease gate closed or the fence refused */
    bool fence_refused;      /* the store's fence refused a write (another leadership began): step down */
    unsigned long vanished;  /* requests gone between LIST and GET (another consumer?) */
    bool vanished_episode;   /* warned; ends with a poll that saw none (the loop clears it) */
    bool vanished_this_poll; /* the loop clears it at each poll's start */
};

/* The wd_event_fn for the consumer; ctx is a struct wd_report. */
void wd_report_event(const struct wd_event *ev, void *ctx);

#endif
