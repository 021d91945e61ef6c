/* widgetd's configuration: the INI file, the AWS environment variables and the old script's flags. */
#ifndef WD_CONFIG_H
#define WD_CONFIG_H

#include <stdbool.h>

#include "error.h"
#include "store.h"

#define WD_DEFAULT_CONFIG "/etc/widgetd/widgetd.conf"

enum wd_path_style { WD_PATH_STYLE_AUTO, WD_PATH_STYLE_YES, WD_PATH_STYLE_NO };

/* The settings whose origin is kept, so that a message can say where to fix them. */
enum wd_setting {
    WD_SETTING_REQUESTS_BUCKET,
    WD_SETTING_REQUESTS_PREFIX,
    WD_SETTING_DEAD_LETTER_BUCKET,
    WD_SETTING_DEAD_LETTER_PREFIX,
    WD_SETTING_STORE_NAME,
    WD_SETTING_REGION,
    WD_SETTING_VERIFY_TLS,
    WD_SETTING_CA_FILE,
    WD_SETTING_LEASE_DURATION,
    WD_SETTING_LEASE_NAME,
    WD_SETTING_COUNT
};

/* Where a setting came from: line > 0, that line of the file; else name ("--requests_bucket",
 * "AWS_REGION", a static string); neither: its default (or a caller of wd_config_set()). */
struct wd_origin {
    int line;
    const char *name;
};

/*
 * Each call in flight costs a connection, a curl handle and a fiber's stack (about 40 KB together, README
 * "Performance"), so the most allowed keeps memory bounded whatever the file says.
 */
#define WD_MAX_CALLS_IN_FLIGHT 1024

struct wd_config {
    char *requests_bucket;
    char *requests_prefix;
    char *dead_letter_bucket; /* "" = the requests bucket */
    char *dead_letter_prefix;
    enum wd_store_kind store_kind;
    bool store_kind_set;
    char *store_name;
    char *region;
    char *endpoint;          /* for every service */
    char *s3_endpoint;       /* wins over endpoint for S3 */
    char *dynamodb_endpoint; /* wins over endpoint for DynamoDB */
    enum wd_path_style path_style;
    char *ca_file; /* NULL: the system's CA certificates */
    bool verify_tls;
    char *profile;
    int calls_in_flight; /* [daemon] calls_in_flight (old name: workers) */
    int poll_interval_ms;
    int poll_max_interval_ms;
    long connect_timeout_ms;
    long timeout_ms;
    int log_level;
    /* [lease] (SPEC 9): NULL table = one instance, no lease */
    char *lease_table;
    long lease_duration_ms;
    long lease_renew_ms;
    char *lease_name; /* NULL: the host name and the PID */
    struct wd_origin origin[WD_SETTING_COUNT];
};

/* The defaults, all in one place. */
void wd_config_defaults(struct wd_config *cfg);

/*
 * Reads an INI file over cfg. A missing file is an error unless missing_ok. Errors (unknown section or
 * key, bad value, a key or section given twice, an over-long line, a NUL byte) are WD_ERR_CONFIG with
 * the message "FILE:LINE: [section] key: what"; a directory or an unreadable file, "FILE: what". The
 * file is read whole into memory that is wiped afterwards, as is every copy the INI parser makes.
 */
int wd_config_read_file(struct wd_config *cfg, const char *path, bool missing_ok, struct wd_error *err);

/* Applies the AWS CLI's environment variables (they win over the file, as they do for the CLI). */
int wd_config_apply_env(struct wd_config *cfg, struct wd_error *err);

/* Sets one value by section and key, as the file would ("store", "kind", "s3"); origin: where it came
 * from (copied), or {0}. */
int wd_config_set(struct wd_config *cfg, const char *section, const char *key, const char *value,
                  struct wd_origin origin, struct wd_error *err);

/*
 * Checks that everything required is there and consistent, and that widgetd would never read its own
 * output as requests (SPEC 6): no S3 store in the requests bucket, no requests prefix equal to or
 * inside the dead-letter prefix of the same bucket, no dead letters among an S3 store's widgets. The
 * message starts with where to fix it: "FILE:LINE: [section] key: ", "--flag: ", "VARIABLE: ", else
 * "FILE: " (path may be NULL: no file).
 */
int wd_config_validate(const struct wd_config *cfg, const char *path, struct wd_error *err);

/* Logs what is allowed but dangerous (verify_tls = no), naming where it was set: at every start and
 * reload, and with --check-config. */
void wd_config_log_warnings(const struct wd_config *cfg, const char *path);

/* Wipes and frees the strings; accepts a zeroed or half-filled struct. */
void wd_config_clear(struct wd_config *cfg);

/* Where a configuration comes from: the file, then the environment, then the old script's flags. */
struct wd_config_sources {
    const char *path;             /* the file */
    bool path_given;              /* -c was used: a missing file is then always an error */
    const char *requests_bucket;  /* --requests_bucket, or NULL */
    const char *destination_flag; /* --destination_flag wb|dwt (or -wb|-dwt), or NULL */
    const char *destination_name; /* --destination_name, or NULL */
};

/*
 * Builds a validated configuration from its sources into out (which is overwritten). With the old
 * flags and no -c, a missing default file is fine (SPEC 6). On failure out holds nothing to free.
 */
int wd_config_load(const struct wd_config_sources *src, struct wd_config *out, struct wd_error *err);

#endif
