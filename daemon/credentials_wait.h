/* Waiting for AWS credentials: the chain retried before each poll, the episode logged once. */
#ifndef WD_CREDENTIALS_WAIT_H
#define WD_CREDENTIALS_WAIT_H

#include <stdbool.h>

#include "credentials_chain.h"

/*
 * No credentials at start (no file yet, no role, the metadata service not answering) is a state of the
 * running daemon, not a configuration error: it shows in STATUS= and is logged once per episode.
 */
struct wd_credentials_wait {
    bool waiting;   /* the last look found none */
    char why[512];  /* what was tried, for STATUS= */
    unsigned tries; /* looks that found none in this episode */
};

/*
 * Looks for credentials if p has none yet (the caller times the looks). Returns true when p has them.
 * Logs at warning the first failed look of an episode, at notice its end (with the source), and at
 * info where the credentials of a fresh provider come from.
 */
bool wd_credentials_wait_check(struct wd_credentials_wait *w, struct wd_credentials_provider *p);

#endif
