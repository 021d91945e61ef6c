/* One HTTP header: a name and a value, both borrowed; what the signer signs and the HTTP client sends. */
#ifndef WD_HEADER_H
#define WD_HEADER_H

/* A header as it will be sent. Borrowed. Names are case-insensitive. */
struct wd_header {
    const char *name;
    const char *value;
};

#endif
