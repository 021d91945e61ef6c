/* Configuration: defaults, the INI file (inih), the environment, and validation in one place. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "aws.h"
#include "ini_text.h"
#include "log.h"

/*
 * The longest line widgetd.conf(5) allows: inih's 200-byte buffer used to cut longer lines silently. The
 * file is parsed whole now and nothing is cut, but the documented limit stays, refused by name.
 */
#define LINE_MAX_BYTES 198
/* No configuration file is anywhere near this big (/dev/zero given to -c is refused, not read forever). */
#define FILE_MAX (1024 * 1024)
/* The S3 store's keys (wd_store_s3_key() in lib/store_s3.c): dead letters must stay clear of them. */
#define S3_STORE_PREFIX "widgets/"

void wd_config_defaults(struct wd_config *cfg)
{
    *cfg = (struct wd_config){
        .dead_letter_prefix = strdup("dead-letter/"),
        .path_style = WD_PATH_STYLE_AUTO,
        .verify_tls = true,
        .calls_in_flight = 512,
        .poll_interval_ms = 100,
        .poll_max_interval_ms = 20000,
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
        /* A crash is taken over within duration + renewal = 25 s; a renewal and a call (13 s) fit. */
        .lease_duration_ms = 20000,
        .lease_renew_ms = 5000,
        .log_level = LOG_INFO,
    };
}

void wd_config_clear(struct wd_config *cfg)
{
    char **strs[] = {&cfg->requests_bucket,
                     &cfg->requests_prefix,
                     &cfg->dead_letter_bucket,
                     &cfg->dead_letter_prefix,
                     &cfg->store_name,
                     &cfg->region,
                     &cfg->endpoint,
                     &cfg->s3_endpoint,
                     &cfg->dynamodb_endpoint,
                     &cfg->ca_file,
                     &cfg->profile,
                     &cfg->lease_table,
                     &cfg->lease_name};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        /* None is meant to be a secret, but an endpoint URL can carry a user:password. */
        if (*strs[i] != NULL)
            OPENSSL_cleanse(*strs[i], strlen(*strs[i]));
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static int set_str(char **dst, const char *value, struct wd_error *err)
{
    char *s = strdup(value);
    if (s == NULL)
        return wd_error_nomem(err);
    if (*dst != NULL)
        OPENSSL_cleanse(*dst, strlen(*dst));
    free(*dst);
    *dst = s;
    return 0;
}

static int set_int(long *dst, const char *value, long min, long max, struct wd_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not a whole number from %ld to %ld",
                            value, min, max);
    *dst = v;
    return 0;
}

static int set_bool(bool *dst, const char *value, struct wd_error *err)
{
    if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1") ||
        !strcasecmp(value, "on"))
        *dst = true;
    else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0") ||
             !strcasecmp(value, "off"))
        *dst = false;
    else
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not yes or no", value);
    return 0;
}

static int set_value(struct wd_config *cfg, const char *section, const char *key, const char *value,
                     struct wd_error *err)
{
    long n = 0;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)
    if (IS("requests", "bucket"))
        return set_str(&cfg->requests_bucket, value, err);
    if (IS("requests", "prefix"))
        return set_str(&cfg->requests_prefix, value, err);
    if (IS("requests", "dead_letter_bucket"))
        return set_str(&cfg->dead_letter_bucket, value, err);
    if (IS("requests", "dead_letter_prefix"))
        return set_str(&cfg->dead_letter_prefix, value, err);
    if (IS("store", "kind")) {
        if (strcmp(value, "s3") == 0)
            cfg->store_kind = WD_STORE_S3;
        else if (strcmp(value, "dynamodb") == 0)
            cfg->store_kind = WD_STORE_DYNAMODB;
        else
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not s3 or dynamodb", value);
        cfg->store_kind_set = true;
        return 0;
    }
    if (IS("store", "name"))
        return set_str(&cfg->store_name, value, err);
    if (IS("aws", "region"))
        return set_str(&cfg->region, value, err);
    if (IS("aws", "endpoint"))
        return set_str(&cfg->endpoint, value, err);
    if (IS("aws", "s3_endpoint"))
        return set_str(&cfg->s3_endpoint, value, err);
    if (IS("aws", "dynamodb_endpoint"))
        return set_str(&cfg->dynamodb_endpoint, value, err);
    if (IS("aws", "path_style")) {
        bool b;
        if (strcmp(value, "auto") == 0) {
            cfg->path_style = WD_PATH_STYLE_AUTO;
            return 0;
        }
        if (set_bool(&b, value, err) < 0)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not auto, yes or no", value);
        cfg->path_style = b ? WD_PATH_STYLE_YES : WD_PATH_STYLE_NO;
        return 0;
    }
    if (IS("aws", "ca_file"))
        return set_str(&cfg->ca_file, value, err);
    if (IS("aws", "verify_tls"))
        return set_bool(&cfg->verify_tls, value, err);
    if (IS("aws", "profile"))
        return set_str(&cfg->profile, value, err);
    /* "workers" is the name of releases that ran one thread per call in flight; it stays accepted. */
    if (IS("daemon", "calls_in_flight") || IS("daemon", "workers")) {
        if (set_int(&n, value, 1, WD_MAX_CALLS_IN_FLIGHT, err) < 0)
            return -1;
        cfg->calls_in_flight = (int)n;
        return 0;
    }
    if (IS("daemon", "poll_interval_ms")) {
        if (set_int(&n, value, 10, 3600000, err) < 0)
            return -1;
        cfg->poll_interval_ms = (int)n;
        return 0;
    }
    if (IS("daemon", "poll_max_interval_ms")) {
        if (set_int(&n, value, 10, 3600000, err) < 0)
            return -1;
        cfg->poll_max_interval_ms = (int)n;
        return 0;
    }
    if (IS("daemon", "connect_timeout_ms"))
        return set_int(&cfg->connect_timeout_ms, value, 100, 600000, err);
    if (IS("daemon", "timeout_ms"))
        return set_int(&cfg->timeout_ms, value, 100, 600000, err);
    if (IS("lease", "table"))
        return set_str(&cfg->lease_table, value, err);
    if (IS("lease", "duration_ms"))
        return set_int(&cfg->lease_duration_ms, value, 100, 3600000, err);
    if (IS("lease", "renew_ms"))
        return set_int(&cfg->lease_renew_ms, value, 10, 3600000, err);
    if (IS("lease", "name")) {
        /* It goes into the lease item and every log line about the lease: printable ASCII only. */
        size_t len = strlen(value);
        for (size_t i = 0; i < len; i++)
            if (value[i] < 0x21 || value[i] > 0x7e || value[i] == '\'' || value[i] == '"')
                return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                    "a lease name is printable ASCII without spaces or quotes");
        if (len == 0 || len > 200)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "a lease name is 1 to 200 characters");
        return set_str(&cfg->lease_name, value, err);
    }
    if (IS("daemon", "log_level")) {
        int l = wd_log_level_parse(value);
        if (l < 0)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "\"%s\" is not debug, info, notice, warning or error", value);
        cfg->log_level = l;
        return 0;
    }
#undef IS
    return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "unknown %s",
                        section[0] ? "key" : "key outside any section");
}

/* The settings whose origin is kept, by section and key. */
static const struct {
    const char *section, *key;
} SETTINGS[WD_SETTING_COUNT] = {
    [WD_SETTING_REQUESTS_BUCKET] = {"requests", "bucket"},
    [WD_SETTING_REQUESTS_PREFIX] = {"requests", "prefix"},
    [WD_SETTING_DEAD_LETTER_BUCKET] = {"requests", "dead_letter_bucket"},
    [WD_SETTING_DEAD_LETTER_PREFIX] = {"requests", "dead_letter_prefix"},
    [WD_SETTING_STORE_NAME] = {"store", "name"},
    [WD_SETTING_REGION] = {"aws", "region"},
    [WD_SETTING_VERIFY_TLS] = {"aws", "verify_tls"},
    [WD_SETTING_CA_FILE] = {"aws", "ca_file"},
    [WD_SETTING_LEASE_DURATION] = {"lease", "duration_ms"},
    [WD_SETTING_LEASE_NAME] = {"lease", "name"},
};

int wd_config_set(struct wd_config *cfg, const char *section, const char *key, const char *value,
                  struct wd_origin origin, struct wd_error *err)
{
    if (set_value(cfg, section, key, value, err) < 0)
        return -1;
    for (int i = 0; i < WD_SETTING_COUNT; i++)
        if (strcmp(section, SETTINGS[i].section) == 0 && strcmp(key, SETTINGS[i].key) == 0)
            cfg->origin[i] = origin;
    return 0;
}

/* The sections a file may have, each at most once. */
static const char *const SECTIONS[] = {"requests", "store", "aws", "daemon", "lease"};
#define N_SECTIONS (sizeof(SECTIONS) / sizeof(SECTIONS[0]))
/* Room for every key the file may set once (set_value() knows 24). */
#define MAX_KEYS 32

struct parse_ctx {
    struct wd_config *cfg;
    const struct wd_ini_text *text;
    struct wd_error first; /* the first error, on line error_line */
    int error_line;        /* 0: none yet */
    int section_line[N_SECTIONS];
    struct {
        char section[16], key[32];
        int line;
    } keys[MAX_KEYS];
    size_t n_keys;
};

static void fail_at(struct parse_ctx *ctx, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(struct parse_ctx *ctx, int line, const char *fmt, ...)
{
    if (ctx->error_line != 0)
        return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->first.message, sizeof(ctx->first.message), fmt, ap);
    va_end(ap);
    ctx->first.cls = WD_ERR_CONFIG;
    ctx->error_line = line;
}

/* Section headers, as inih reads them: "[name]" after optional space; a ';' after a space ends the line. */
static void on_line(void *user, int lineno, const char *line, size_t len)
{
    struct parse_ctx *ctx = user;
    size_t i = 0;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    if (i == len || line[i] != '[')
        return;
    size_t start = ++i;
    while (i < len && line[i] != ']' && !(line[i] == ';' && isspace((unsigned char)line[i - 1])))
        i++;
    if (i == len || line[i] != ']')
        return; /* not a section header: inih reports the syntax error */
    int n = (int)(i - start);
    for (size_t s = 0; s < N_SECTIONS; s++) {
        if (strlen(SECTIONS[s]) != (size_t)n || memcmp(line + start, SECTIONS[s], (size_t)n) != 0)
            continue;
        if (ctx->section_line[s] != 0)
            fail_at(ctx, lineno, "[%s] given twice (lines %d and %d)", SECTIONS[s], ctx->section_line[s],
                    lineno);
        else
            ctx->section_line[s] = lineno;
        return;
    }
    fail_at(ctx, lineno, "[%.*s]: unknown section", n > 64 ? 64 : n, line + start);
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    int line = ctx->text->lineno;
    struct wd_error e;
    if (ctx->error_line != 0)
        return 1; /* keep only the first error; inih goes on to the end (where its buffer is wiped) */
    for (size_t i = 0; i < ctx->n_keys; i++) {
        if (strcmp(ctx->keys[i].section, section) == 0 && strcmp(ctx->keys[i].key, name) == 0) {
            fail_at(ctx, line, "[%s] %s given twice (lines %d and %d)", section, name, ctx->keys[i].line,
                    line);
            return 0;
        }
    }
    if (wd_config_set(ctx->cfg, section, name, value, (struct wd_origin){.line = line}, &e) < 0) {
        fail_at(ctx, line, "[%s] %s: %s", section, name, e.message);
        return 0;
    }
    /* Only known keys get here, and each once: short names, and never more than set_value() knows. */
    if (ctx->n_keys < MAX_KEYS && strlen(section) < sizeof(ctx->keys[0].section) &&
        strlen(name) < sizeof(ctx->keys[0].key)) {
        strcpy(ctx->keys[ctx->n_keys].section, section);
        strcpy(ctx->keys[ctx->n_keys].key, name);
        ctx->keys[ctx->n_keys++].line = line;
    }
    return 1;
}

int wd_config_read_file(struct wd_config *cfg, const char *path, bool missing_ok, struct wd_error *err)
{
    struct wd_buf file = {0};
    if (wd_ini_file_read(path, FILE_MAX, &file) < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        if (errno == EISDIR)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: is a directory, not a configuration file",
                                path);
        if (errno == EFBIG)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: larger than %d bytes", path, FILE_MAX);
        if (errno == ENOMEM)
            return wd_error_nomem(err);
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: cannot read: %s", path, strerror(errno));
    }
    struct wd_ini_text text = {
        .data = file.data, .len = file.len, .max_line = LINE_MAX_BYTES, .on_line = on_line};
    struct parse_ctx ctx = {.cfg = cfg, .text = &text};
    int rc = 0;
    int line = wd_ini_parse_text(&text, on_ini, &ctx);
    if (line == WD_INI_NOMEM)
        rc = wd_error_nomem(err);
    else if (line == WD_INI_NUL)
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: the line holds a NUL byte (not a text file?)",
                          path, text.lineno);
    else if (line == WD_INI_TOO_LONG)
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: line is longer than %d bytes", path,
                          text.lineno, LINE_MAX_BYTES);
    else if (line > 0 && (ctx.error_line == 0 || line < ctx.error_line))
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                          "%s:%d: syntax error (expected [section] or key = value)", path, line);
    else if (ctx.error_line != 0)
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: %s", path, ctx.error_line, ctx.first.message);
    wd_buf_free_secure(&file);
    return rc;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int wd_config_apply_env(struct wd_config *cfg, struct wd_error *err)
{
    static const struct {
        const char *var, *section, *key;
    } vars[] = {
        {"AWS_DEFAULT_REGION", "aws", "region"}, /* AWS_REGION wins: applied after it */
        {"AWS_REGION", "aws", "region"},
        {"AWS_ENDPOINT_URL", "aws", "endpoint"},
        {"AWS_ENDPOINT_URL_S3", "aws", "s3_endpoint"},
        {"AWS_ENDPOINT_URL_DYNAMODB", "aws", "dynamodb_endpoint"},
        {"AWS_CA_BUNDLE", "aws", "ca_file"},
        {"AWS_PROFILE", "aws", "profile"},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = env(vars[i].var);
        if (v != NULL && wd_config_set(cfg, vars[i].section, vars[i].key, v,
                                       (struct wd_origin){.name = vars[i].var}, err) < 0)
            return -1;
    }
    return 0;
}

/* "FILE:LINE: [section] key", "--flag", "VARIABLE", or for a default "FILE" (or "" without a file). */
static void where(const struct wd_config *cfg, enum wd_setting s, const char *path, char *out, size_t size)
{
    const struct wd_origin *o = &cfg->origin[s];
    if (o->line > 0 && path != NULL)
        snprintf(out, size, "%s:%d: [%s] %s", path, o->line, SETTINGS[s].section, SETTINGS[s].key);
    else if (o->line > 0)
        snprintf(out, size, "line %d: [%s] %s", o->line, SETTINGS[s].section, SETTINGS[s].key);
    else if (o->name != NULL)
        snprintf(out, size, "%s", o->name);
    else
        snprintf(out, size, "%s", path ? path : "");
}

/* For a parenthesis: "[section] key on line N", "--flag", "VARIABLE" or "the default [section] key". */
static void origin_text(const struct wd_config *cfg, enum wd_setting s, char *out, size_t size)
{
    const struct wd_origin *o = &cfg->origin[s];
    if (o->line > 0)
        snprintf(out, size, "[%s] %s on line %d", SETTINGS[s].section, SETTINGS[s].key, o->line);
    else if (o->name != NULL)
        snprintf(out, size, "%s", o->name);
    else
        snprintf(out, size, "the default [%s] %s", SETTINGS[s].section, SETTINGS[s].key);
}

/* Fails validation with a message that starts with where to fix it: setting's origin, else the file. */
static int refuse(const struct wd_config *cfg, int setting, const char *path, struct wd_error *err,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int refuse(const struct wd_config *cfg, int setting, const char *path, struct wd_error *err,
                  const char *fmt, ...)
{
    char at[256], msg[sizeof(err->message)];
    if (setting >= 0)
        where(cfg, (enum wd_setting)setting, path, at, sizeof(at));
    else
        snprintf(at, sizeof(at), "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s%s%s", at, *at ? ": " : "", msg);
}

/*
 * A name AWS could give a region (us-east-1, eu-central-2, us-gov-west-1, cn-north-1), or an
 * S3-compatible server a zone group ("default"): lowercase letters, digits and single hyphens, starting
 * with a letter. It also goes into host names (s3.REGION.amazonaws.com) and the signature's scope.
 */
static bool region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 63 || r[0] < 'a' || r[0] > 'z' || r[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        bool ok =
            (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || (r[i] == '-' && r[i - 1] != '-');
        if (!ok)
            return false;
    }
    return true;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int wd_config_validate(const struct wd_config *cfg, const char *path, struct wd_error *err)
{
    char a[256], b[256];
    if (cfg->requests_bucket == NULL || !*cfg->requests_bucket)
        return refuse(cfg, -1, path, err, "no requests bucket: set [requests] bucket or --requests_bucket");
    if (!cfg->store_kind_set)
        return refuse(cfg, -1, path, err,
                      "no store kind: set [store] kind = s3|dynamodb or --destination_flag wb|dwt");
    if (cfg->store_name == NULL || !*cfg->store_name)
        return refuse(cfg, -1, path, err, "no store name: set [store] name or --destination_name");
    if (cfg->region == NULL || !*cfg->region)
        return refuse(cfg, -1, path, err, "no region: set [aws] region or AWS_REGION");
    if (!region_ok(cfg->region))
        return refuse(cfg, WD_SETTING_REGION, path, err,
                      "\"%s\" is not a region name (lowercase letters, digits and hyphens, like us-east-1)",
                      cfg->region);
    if (cfg->dead_letter_prefix == NULL || !*cfg->dead_letter_prefix)
        return refuse(cfg, WD_SETTING_DEAD_LETTER_PREFIX, path, err,
                      "the dead-letter prefix must not be empty (the poll loop would take them back)");

    /* Never read our own output as requests (SPEC 6). Keys are plain strings: a prefix is a prefix. */
    const char *rp = cfg->requests_prefix ? cfg->requests_prefix : "";
    bool dl_here = cfg->dead_letter_bucket == NULL || !*cfg->dead_letter_bucket ||
                   strcmp(cfg->dead_letter_bucket, cfg->requests_bucket) == 0;
    if (cfg->store_kind == WD_STORE_S3 && strcmp(cfg->store_name, cfg->requests_bucket) == 0) {
        origin_text(cfg, WD_SETTING_REQUESTS_BUCKET, a, sizeof(a));
        return refuse(cfg, WD_SETTING_STORE_NAME, path, err,
                      "the S3 store \"%s\" is the requests bucket (%s): widgetd would read the widgets it "
                      "writes as requests",
                      cfg->store_name, a);
    }
    if (dl_here && starts_with(rp, cfg->dead_letter_prefix)) {
        origin_text(cfg, WD_SETTING_DEAD_LETTER_PREFIX, a, sizeof(a));
        b[0] = '\0';
        if (cfg->dead_letter_bucket && *cfg->dead_letter_bucket) {
            char c[200];
            origin_text(cfg, WD_SETTING_DEAD_LETTER_BUCKET, c, sizeof(c));
            snprintf(b, sizeof(b), " (%s)", c);
        }
        return refuse(cfg, WD_SETTING_REQUESTS_PREFIX, path, err,
                      "the requests prefix \"%s\" %s the dead-letter prefix \"%s\" (%s) in the same "
                      "bucket%s: widgetd would never take a request",
                      rp, strcmp(rp, cfg->dead_letter_prefix) == 0 ? "is" : "lies inside",
                      cfg->dead_letter_prefix, a, b);
    }
    const char *dl_bucket = dl_here ? cfg->requests_bucket : cfg->dead_letter_bucket;
    if (cfg->store_kind == WD_STORE_S3 && strcmp(dl_bucket, cfg->store_name) == 0 &&
        (starts_with(cfg->dead_letter_prefix, S3_STORE_PREFIX) ||
         starts_with(S3_STORE_PREFIX, cfg->dead_letter_prefix))) {
        origin_text(cfg, WD_SETTING_STORE_NAME, a, sizeof(a));
        return refuse(cfg, WD_SETTING_DEAD_LETTER_PREFIX, path, err,
                      "dead letters under \"%s\" in the S3 store's bucket \"%s\" (%s) would mix with its "
                      "widgets (" S3_STORE_PREFIX "...): a bad request could overwrite a widget",
                      cfg->dead_letter_prefix, cfg->store_name, a);
    }

    const char *urls[] = {cfg->endpoint, cfg->s3_endpoint, cfg->dynamodb_endpoint};
    for (size_t i = 0; i < 3; i++) {
        struct wd_endpoint e;
        if (urls[i] != NULL && wd_endpoint_parse(urls[i], &e, err) < 0)
            return refuse(cfg, -1, path, err, "%s", err->message);
        if (urls[i] != NULL)
            wd_endpoint_clear(&e);
    }
    /* Caught here, every call would fail the same way at run time, one log line per episode. */
    if (cfg->ca_file != NULL && access(cfg->ca_file, R_OK) != 0)
        return refuse(cfg, WD_SETTING_CA_FILE, path, err, "cannot read the CA certificates \"%s\": %s",
                      cfg->ca_file, strerror(errno));
    if (cfg->poll_max_interval_ms < cfg->poll_interval_ms)
        return refuse(cfg, -1, path, err, "[daemon] poll_max_interval_ms is smaller than poll_interval_ms");
    /*
     * A leader must be able to renew and still finish a call started just before within its lease, or it
     * could never call at all (SPEC 9: it stops starting calls that could outlive its lease).
     */
    /* 1% of the lease is kept back for the instances' clocks running at slightly different rates. */
    long usable = cfg->lease_duration_ms - (cfg->lease_duration_ms + 99) / 100;
    if (cfg->lease_table != NULL && usable <= cfg->lease_renew_ms + cfg->connect_timeout_ms + cfg->timeout_ms)
        return refuse(
            cfg, WD_SETTING_LEASE_DURATION, path, err,
            "duration_ms (%ld, less 1%% for clock drift) must be more than [lease] renew_ms (%ld) + "
            "[daemon] connect_timeout_ms (%ld) + timeout_ms (%ld)",
            cfg->lease_duration_ms, cfg->lease_renew_ms, cfg->connect_timeout_ms, cfg->timeout_ms);
    if (cfg->lease_table != NULL && !*cfg->lease_table)
        return refuse(cfg, -1, path, err, "[lease] table is empty");
    return 0;
}

void wd_config_log_warnings(const struct wd_config *cfg, const char *path)
{
    char at[256];
    if (!cfg->verify_tls) {
        where(cfg, WD_SETTING_VERIFY_TLS, path, at, sizeof(at));
        wd_log(LOG_WARNING,
               "%s%sverify_tls = no: TLS certificates and host names are not verified, so anyone on the "
               "network path can read and change requests, widgets and credentials; for test set-ups only",
               at, *at ? ": " : "");
    }
}

/* --destination_flag's values; the replaced script's README spells them -wb and -dwt (SPEC 6). */
static const char *store_kind_of_flag(const char *f)
{
    if (f[0] == '-')
        f++;
    return strcmp(f, "wb") == 0 ? "s3" : strcmp(f, "dwt") == 0 ? "dynamodb" : NULL;
}

int wd_config_load(const struct wd_config_sources *src, struct wd_config *out, struct wd_error *err)
{
    struct wd_config cfg;
    bool old_flags = src->requests_bucket || src->destination_flag || src->destination_name;
    wd_config_defaults(&cfg);
    if (wd_config_read_file(&cfg, src->path, old_flags && !src->path_given, err) < 0)
        goto fail;
    if (wd_config_apply_env(&cfg, err) < 0)
        goto fail;
    if (src->requests_bucket && wd_config_set(&cfg, "requests", "bucket", src->requests_bucket,
                                              (struct wd_origin){.name = "--requests_bucket"}, err) < 0)
        goto fail;
    if (src->destination_flag) {
        const char *kind = store_kind_of_flag(src->destination_flag);
        if (kind == NULL) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "--destination_flag \"%s\" is not wb or dwt",
                         src->destination_flag);
            goto fail;
        }
        if (wd_config_set(&cfg, "store", "kind", kind, (struct wd_origin){.name = "--destination_flag"},
                          err) < 0)
            goto fail;
    }
    if (src->destination_name && wd_config_set(&cfg, "store", "name", src->destination_name,
                                               (struct wd_origin){.name = "--destination_name"}, err) < 0)
        goto fail;
    if (wd_config_validate(&cfg, src->path, err) < 0)
        goto fail;
    *out = cfg;
    return 0;
fail:
    wd_config_clear(&cfg);
    return -1;
}
