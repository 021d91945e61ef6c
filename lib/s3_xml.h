/* S3's XML responses parsed with expat: ListObjectsV2 results. */
#ifndef WD_S3_XML_H
#define WD_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* One page of a ListObjectsV2 result. Owns everything. */
struct wd_s3_list {
    char **keys; /* in the order S3 listed them */
    size_t n_keys;
    bool truncated;
    char *next_token; /* NextContinuationToken, or NULL */
};

/*
 * Parses a ListBucketResult document. Keys are taken as given (the caller does not ask for
 * encoding-type=url). Returns 0, or -1 with err (WD_ERR_INTERNAL for malformed XML, WD_ERR_NOMEM).
 */
int wd_s3_list_parse(const char *xml, size_t len, struct wd_s3_list *out, struct wd_error *err);
void wd_s3_list_clear(struct wd_s3_list *l);

/* Extracts <Error><Code> and <Message> (either may come back ""). Returns 0, or -1 if not an Error doc. */
int wd_s3_error_parse(const char *xml, size_t len, char *code, size_t code_size, char *message,
                      size_t message_size);

#endif
