/* S3's XML responses parsed with expat: ListObjectsV2 results and <Error> documents. */
#ifndef WD_S3_XML_H
#define WD_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/*
 * The first byte of a next_token says what follows it: the key the next page starts after (sent as
 * start-after), or a server's NextContinuationToken (sent as continuation-token).
 */
#define WD_S3_TOKEN_AFTER_KEY 'k'
#define WD_S3_TOKEN_SERVER 't'

/* One page of a ListObjectsV2 result. Owns everything. */
struct wd_s3_list {
    char **keys; /* in the order S3 listed them, byte for byte as stored (URL-decoded when encoded) */
    /* Per key: the archived <StorageClass> it is listed in, "GLACIER" or "DEEP_ARCHIVE" (static
     * strings), which cannot be read before a restore; NULL for any other (GLACIER_IR reads as usual). */
    const char **archived;
    size_t n_keys;
    bool truncated;
    /*
     * Where the next page starts, for wd_s3_list's token; NULL exactly when the page is complete. When
     * the page has keys it is "after its last key" (WD_S3_TOKEN_AFTER_KEY + key), which S3 defines to
     * continue where NextContinuationToken would: Ceph RGW sends that token as the raw last key even when
     * asked for URL-encoded keys, so it cannot carry a key holding a character XML 1.0 cannot. Only a
     * truncated page without keys carries the server's token (WD_S3_TOKEN_SERVER + token).
     */
    char *next_token;
};

/*
 * Parses a ListBucketResult document. When it says <EncodingType>url</EncodingType> (the caller asks for
 * encoding-type=url; a server that ignores that sends raw keys and no EncodingType), each Key is
 * URL-decoded ("%XX" is a byte, "+" a space, as AWS encodes). A key that S3 could not have stored (empty,
 * over 1024 bytes, a NUL byte, invalid UTF-8, a bad %-escape, a character XML could not carry sent
 * unencoded) fails the whole page: it cannot be read back byte-exact, and skipping it would let later
 * requests of its widget overtake it. Characters XML 1.0 cannot carry (U+0001, U+FFFE, ...) elsewhere in
 * the document, where RGW writes raw keys into fields we do not use, are tolerated.
 * Returns 0, or -1 with err: WD_ERR_TRANSIENT for a document that is not a usable listing (a server
 * fault: retry), WD_ERR_NOMEM.
 */
int wd_s3_list_parse(const char *xml, size_t len, struct wd_s3_list *out, struct wd_error *err);
void wd_s3_list_clear(struct wd_s3_list *l);

/* Extracts <Error><Code> and <Message> (either may come back ""). Returns 0, or -1 if not an Error doc. */
int wd_s3_error_parse(const char *xml, size_t len, char *code, size_t code_size, char *message,
                      size_t message_size);

#endif
