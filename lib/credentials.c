/*
 * AWS credentials from the AWS CLI's chain (environment, shared credentials and config files read with
 * inih, container endpoint, IMDSv2) and a provider that refreshes temporary ones; all wiped when dropped.
 */
#include "credentials.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"

/* No credentials file is anywhere near this big; refusing larger ones bounds what we read. */
#define FILE_MAX (1024 * 1024)
/* The FILE's buffer, ours so that it can be wiped: stdio would free a copy of the secrets unwiped. */
#define IOBUF_SIZE 4096
/* Metadata answers are a few kilobytes; the buffer is reserved whole so that it never moves unwiped. */
#define ANSWER_MAX (32 * 1024)
/* A container authorization token file is one line. */
#define TOKEN_FILE_MAX (16 * 1024)

/* Refresh temporary credentials when they expire within this many seconds. */
#define REFRESH_WINDOW_S 300
/*
 * No refresh attempt sooner than this after the previous one (or the first fetch): a dead endpoint costs
 * one caller one timeout per period, and a source still handing out the old credentials is not hammered.
 */
#define REFRESH_RETRY_S 10

/* Short, so that a machine without a metadata service fails fast (the SDKs use 1-2 s). */
#define METADATA_CONNECT_MS 1000
#define METADATA_TIMEOUT_MS 2000

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_ENDPOINT "http://169.254.169.254"
#define IMDS_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"

static char container_host[256] = CONTAINER_HOST;
static time_t (*clock_now)(void);

void wd_credentials_set_container_host_for_tests(const char *base)
{
    snprintf(container_host, sizeof(container_host), "%s", base != NULL ? base : CONTAINER_HOST);
}

void wd_credentials_set_clock_for_tests(time_t (*now)(void))
{
    clock_now = now;
}

static time_t now_s(void)
{
    return clock_now != NULL ? clock_now() : time(NULL);
}

static void free_secret(char **p)
{
    if (*p != NULL) {
        OPENSSL_cleanse(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void wd_credentials_clear(struct wd_credentials *c)
{
    if (c == NULL)
        return;
    free_secret(&c->access_key_id);
    free_secret(&c->secret_access_key);
    free_secret(&c->session_token);
    c->expiration = 0;
}

/* Returns 0 with dst a copy of src, or -1 (out of memory) with dst untouched. */
static int credentials_copy(const struct wd_credentials *src, struct wd_credentials *dst)
{
    struct wd_credentials c = {.expiration = src->expiration};
    c.access_key_id = strdup(src->access_key_id);
    c.secret_access_key = strdup(src->secret_access_key);
    if (src->session_token != NULL)
        c.session_token = strdup(src->session_token);
    if (c.access_key_id == NULL || c.secret_access_key == NULL ||
        (src->session_token != NULL && c.session_token == NULL)) {
        wd_credentials_clear(&c);
        return -1;
    }
    *dst = c;
    return 0;
}

/* An empty variable counts as unset, as in the AWS CLI. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Appends one "; "-separated note on a source that had nothing. Returns 0 or -1 with err. */
static int note(struct wd_buf *tried, struct wd_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note(struct wd_buf *tried, struct wd_error *err, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if ((tried->len > 0 && wd_buf_append_str(tried, "; ") < 0) || wd_buf_append_str(tried, line) < 0)
        return wd_error_nomem(err);
    return 0;
}

/* ---- The environment ---- */

/* Returns 1 with out filled, 0 when the environment holds no keys, -1 with err. */
static int from_env(struct wd_credentials *out, struct wd_error *err)
{
    const char *id = env("AWS_ACCESS_KEY_ID");
    const char *secret = env("AWS_SECRET_ACCESS_KEY");
    const char *token = env("AWS_SESSION_TOKEN");

    if (id == NULL && secret == NULL)
        return 0;
    /* Half a key pair is a mistake to report, not a reason to quietly use some other identity. */
    if (secret == NULL)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither "
                            "to use the shared credentials file");
    if (id == NULL)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither "
                            "to use the shared credentials file");

    struct wd_credentials env_creds = {.access_key_id = (char *)(uintptr_t)id,
                                       .secret_access_key = (char *)(uintptr_t)secret,
                                       .session_token = (char *)(uintptr_t)token};
    if (credentials_copy(&env_creds, out) < 0)
        return wd_error_nomem(err);
    return 1;
}

/* ---- The shared credentials and config files ---- */

enum file_kind { CREDENTIALS_FILE, CONFIG_FILE };

static const char *file_name(enum file_kind kind)
{
    return kind == CREDENTIALS_FILE ? "credentials file" : "config file";
}

/*
 * Where a file is: systemd's LoadCredential= first for the credentials file (so a hardened unit need not
 * expose a home directory), then the variable, then ~/.aws/NAME. Returns 1 with path, 0 when neither the
 * variable nor HOME is set, -1 with err.
 */
static int file_path(enum file_kind kind, struct wd_buf *path, struct wd_error *err)
{
    const char *dir = env("CREDENTIALS_DIRECTORY");
    if (kind == CREDENTIALS_FILE && dir != NULL) {
        if (wd_buf_printf(path, "%s/aws-credentials", dir) < 0)
            return wd_error_nomem(err);
        if (access(path->data, F_OK) == 0)
            return 1;
        wd_buf_reset(path);
    }

    const char *home = env("HOME");
    const char *file = env(kind == CREDENTIALS_FILE ? "AWS_SHARED_CREDENTIALS_FILE" : "AWS_CONFIG_FILE");
    int rc;
    if (file != NULL && home != NULL && file[0] == '~' && (file[1] == '/' || file[1] == '\0'))
        rc = wd_buf_printf(path, "%s%s", home, file + 1); /* the CLI expands ~ here */
    else if (file != NULL)
        rc = wd_buf_append_str(path, file);
    else if (home != NULL)
        rc = wd_buf_printf(path, "%s/.aws/%s", home, kind == CREDENTIALS_FILE ? "credentials" : "config");
    else
        return 0;
    return rc < 0 ? wd_error_nomem(err) : 1;
}

/* What one file says about one profile. */
struct profile_keys {
    bool exists; /* the file exists */
    bool seen;   /* it has the profile's section */
    char *id, *secret, *token;
    const char *assumes; /* a key that makes the CLI assume a role or use SSO, or NULL */
    bool process;        /* credential_process is set */
};

static void profile_keys_clear(struct profile_keys *k)
{
    free_secret(&k->id);
    free_secret(&k->secret);
    free_secret(&k->token);
}

struct ini_ctx {
    enum file_kind kind;
    const char *profile;
    struct profile_keys *keys;
    bool nomem;
};

/*
 * The config file names profiles "[profile NAME]" (NAME may be quoted) except "[default]"; botocore
 * splits the section name like a shell and accepts "[profile default]" too.
 */
static bool config_section_is(const char *section, const char *profile)
{
    if (strcmp(section, "default") == 0)
        return strcmp(profile, "default") == 0;
    if (strncmp(section, "profile", 7) != 0 || (section[7] != ' ' && section[7] != '\t'))
        return false;
    const char *s = section + 7;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    return n > 0 && n == strlen(profile) && strncmp(s, profile, n) == 0;
}

/* Keys that make the AWS CLI assume a role or use SSO before it reads static keys: unsupported here. */
static const char *const ASSUME_KEYS[] = {"role_arn", "sso_start_url", "sso_session", "sso_account_id"};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    bool mine = c->kind == CREDENTIALS_FILE ? strcmp(section, c->profile) == 0
                                            : config_section_is(section, c->profile);
    if (!mine)
        return 1;
    c->keys->seen = true;

    char **slot;
    /* Option names are case-insensitive in the CLI's parser (configparser); profile names are not. */
    if (strcasecmp(name, "aws_access_key_id") == 0)
        slot = &c->keys->id;
    else if (strcasecmp(name, "aws_secret_access_key") == 0)
        slot = &c->keys->secret;
    else if (strcasecmp(name, "aws_session_token") == 0)
        slot = &c->keys->token;
    else {
        for (size_t i = 0; i < sizeof(ASSUME_KEYS) / sizeof(ASSUME_KEYS[0]); i++)
            if (strcasecmp(name, ASSUME_KEYS[i]) == 0 && value[0] != '\0' && c->keys->assumes == NULL)
                c->keys->assumes = ASSUME_KEYS[i];
        if (strcasecmp(name, "credential_process") == 0 && value[0] != '\0')
            c->keys->process = true;
        return 1;
    }

    free_secret(slot); /* a later line wins */
    if (value[0] == '\0')
        return 1; /* "aws_session_token =" means none */
    *slot = strdup(value);
    if (*slot == NULL)
        c->nomem = true;
    return 1;
}

/*
 * Debian's libinih makes its build options run-time globals. We need lines as long as a session token
 * (upstream's default stops at 200 bytes and would split one silently) and no continuation lines (an
 * indented "aws_secret_access_key" would otherwise become part of the previous value). Set them for
 * our parse and put them back for the daemon's own config parser (both run on one thread).
 */
struct ini_options {
    bool use_stack, allow_realloc, allow_multiline;
    int max_line, initial_alloc;
};

static struct ini_options ini_options_set(int max_line)
{
    struct ini_options saved = {ini_use_stack, ini_allow_realloc, ini_allow_multiline, ini_max_line,
                                ini_initial_alloc};
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_allow_multiline = false;
    ini_initial_alloc = 256;
    ini_max_line = max_line > ini_initial_alloc ? max_line : ini_initial_alloc;
    return saved;
}

static void ini_options_restore(const struct ini_options *o)
{
    ini_use_stack = o->use_stack;
    ini_allow_realloc = o->allow_realloc;
    ini_allow_multiline = o->allow_multiline;
    ini_max_line = o->max_line;
    ini_initial_alloc = o->initial_alloc;
}

/* Reads what the file at path says about profile into k (k->exists false when there is no file).
 * Returns 0, or -1 with err when the file exists but cannot be used. */
static int read_profile(enum file_kind kind, const char *path, const char *profile, struct profile_keys *k,
                        struct wd_error *err)
{
    struct ini_ctx c = {.kind = kind, .profile = profile, .keys = k};
    const char *what = file_name(kind);
    char *iobuf = NULL;
    int rc = -1;

    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot open the AWS %s %s: %s", what, path,
                            strerror(errno));
    }
    k->exists = true;
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot stat the AWS %s %s: %s", what, path,
                     strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "the AWS %s %s is %s", what, path,
                     S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
        goto out;
    }
    iobuf = malloc(IOBUF_SIZE);
    if (iobuf == NULL || setvbuf(f, iobuf, _IOFBF, IOBUF_SIZE) != 0) {
        wd_error_nomem(err);
        goto out;
    }

    /* A line can be no longer than the file, so none is ever split ("+ 3": inih's own margin). */
    struct ini_options saved = ini_options_set((int)st.st_size + 3);
    int line = ini_parse_file(f, on_ini, &c);
    ini_options_restore(&saved);

    if (c.nomem || line == -2) {
        wd_error_nomem(err);
        goto out;
    }
    if (line != 0) {
        /* The line number only: the line itself may hold a secret. */
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "%s:%d: not a valid line in an AWS %s (want [%s] or key = value)", path, line, what,
                     kind == CREDENTIALS_FILE ? "profile" : "profile NAME");
        goto out;
    }
    rc = 0;

out:
    if (rc < 0)
        profile_keys_clear(k);
    fclose(f);
    if (iobuf != NULL) {
        OPENSSL_cleanse(iobuf, IOBUF_SIZE);
        free(iobuf);
    }
    return rc;
}

/* One file's verdict: 1 with out filled, 0 with a note on what it lacks, -1 with err (half a pair). */
static int profile_verdict(enum file_kind kind, const struct wd_buf *path, bool have_path,
                           const char *profile, struct profile_keys *k, struct wd_credentials *out,
                           struct wd_buf *tried, struct wd_error *err)
{
    const char *what = file_name(kind);
    if (!have_path)
        return note(tried, err, "%s: neither %s nor HOME is set", what,
                    kind == CREDENTIALS_FILE ? "AWS_SHARED_CREDENTIALS_FILE" : "AWS_CONFIG_FILE");
    if (!k->exists)
        return note(tried, err, "%s %s does not exist", what, path->data);
    if (!k->seen)
        return note(tried, err, "%s %s has no profile [%s]", what, path->data, profile);
    if (k->id == NULL && k->secret == NULL)
        return note(tried, err, "%s %s: profile [%s] has no aws_access_key_id or aws_secret_access_key", what,
                    path->data, profile);
    if (k->id == NULL || k->secret == NULL)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "profile [%s] in the AWS %s %s has no %s", profile,
                            what, path->data, k->id == NULL ? "aws_access_key_id" : "aws_secret_access_key");
    out->access_key_id = k->id;
    out->secret_access_key = k->secret;
    out->session_token = k->token;
    out->expiration = 0;
    k->id = k->secret = k->token = NULL;
    return 1;
}

/* ---- The static part of the chain ---- */

struct chain {
    const char *profile;
    const char *profile_from; /* for messages: why this profile */
    bool profile_explicit; /* named by the caller or AWS_PROFILE: must exist (botocore's ProfileNotFound) */
    struct wd_buf tried;   /* "; "-separated notes on the sources that had nothing */
    struct wd_buf source;  /* the source that answered */
};

static void chain_init(struct chain *ch, const char *profile)
{
    memset(ch, 0, sizeof(*ch));
    ch->profile = profile;
    ch->profile_from = "the configured profile";
    ch->profile_explicit = true;
    if (profile == NULL || profile[0] == '\0') {
        ch->profile = env("AWS_PROFILE");
        ch->profile_from = "from AWS_PROFILE";
    }
    if (ch->profile == NULL) {
        ch->profile = "default";
        ch->profile_from = "the default profile";
        ch->profile_explicit = false;
    }
}

static void chain_free(struct chain *ch)
{
    wd_buf_free(&ch->tried);
    wd_buf_free(&ch->source);
}

static int unsupported(const char *profile, enum file_kind kind, const struct wd_buf *path, const char *key,
                       struct wd_error *err)
{
    return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                        "profile [%s] in the AWS %s %s sets %s: widgetd does not assume roles or use SSO "
                        "or credential_process; give the profile aws_access_key_id and aws_secret_access_key",
                        profile, file_name(kind), path->data, key);
}

/*
 * The environment, the credentials file, the config file, in the AWS CLI's order. Returns 1 with out
 * filled and ch->source set, 0 when none had credentials (ch->tried says why), -1 with err.
 */
static int resolve_static(struct chain *ch, struct wd_credentials *out, struct wd_error *err)
{
    struct profile_keys cred = {0}, conf = {0};
    struct wd_buf cred_path = {0}, conf_path = {0};
    const char *profile = ch->profile;
    int rc = from_env(out, err);
    if (rc != 0) {
        if (rc > 0 && wd_buf_append_str(&ch->source, "environment") < 0) {
            wd_credentials_clear(out);
            return wd_error_nomem(err);
        }
        return rc;
    }
    if (note(&ch->tried, err, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set") < 0)
        return -1;
    /* The CLI would assume a role with web identity next: using some other identity would be wrong. */
    if (env("AWS_ROLE_ARN") != NULL && env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are set: widgetd does not assume "
                            "roles with web identity; unset them or give it keys");

    rc = -1;
    int have_cred = file_path(CREDENTIALS_FILE, &cred_path, err);
    if (have_cred < 0)
        goto out;
    int have_conf = file_path(CONFIG_FILE, &conf_path, err);
    if (have_conf < 0)
        goto out;
    if ((have_cred && read_profile(CREDENTIALS_FILE, cred_path.data, profile, &cred, err) < 0) ||
        (have_conf && read_profile(CONFIG_FILE, conf_path.data, profile, &conf, err) < 0))
        goto out;

    /* botocore's order: assume-role and SSO, credentials file, credential_process, config file. */
    if (cred.assumes != NULL) {
        unsupported(profile, CREDENTIALS_FILE, &cred_path, cred.assumes, err);
        goto out;
    }
    if (conf.assumes != NULL) {
        unsupported(profile, CONFIG_FILE, &conf_path, conf.assumes, err);
        goto out;
    }
    rc = profile_verdict(CREDENTIALS_FILE, &cred_path, have_cred, profile, &cred, out, &ch->tried, err);
    if (rc > 0 &&
        wd_buf_printf(&ch->source, "shared credentials file %s (profile %s)", cred_path.data, profile) < 0)
        goto nomem;
    if (rc != 0)
        goto out;
    if (cred.process || conf.process) {
        rc = unsupported(profile, cred.process ? CREDENTIALS_FILE : CONFIG_FILE,
                         cred.process ? &cred_path : &conf_path, "credential_process", err);
        goto out;
    }
    rc = profile_verdict(CONFIG_FILE, &conf_path, have_conf, profile, &conf, out, &ch->tried, err);
    if (rc > 0 && wd_buf_printf(&ch->source, "config file %s (profile %s)", conf_path.data, profile) < 0)
        goto nomem;
    if (rc != 0)
        goto out;
    if (ch->profile_explicit && !cred.seen && !conf.seen)
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                          "no profile [%s] (%s) in the AWS credentials or config file: %s", profile,
                          ch->profile_from, ch->tried.data);
    goto out;

nomem:
    wd_credentials_clear(out);
    rc = wd_error_nomem(err);
out:
    profile_keys_clear(&cred);
    profile_keys_clear(&conf);
    wd_buf_free(&cred_path);
    wd_buf_free(&conf_path);
    return rc;
}

int wd_credentials_load(const char *profile, struct wd_credentials *out, struct wd_error *err)
{
    struct chain ch;
    struct wd_credentials c = {0};
    chain_init(&ch, profile);
    int rc = resolve_static(&ch, &c, err);
    if (rc == 0)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no AWS credentials: %s", ch.tried.data);
    chain_free(&ch);
    if (rc <= 0)
        return -1;
    *out = c;
    return 0;
}

/* ---- Talking to the metadata endpoints ---- */

/* "2026-11-25T21:00:00Z", with optional fractional seconds and a numeric offset. Returns 0 or -1. */
static int parse_time(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned hh, mm;
        int n = 0;
        if (sscanf(p + 1, "%2u:%2u%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
            return -1;
        offset = sign * (long)(hh * 3600 + mm * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t - offset;
    return 0;
}

/* The token, header-safe: printable ASCII only, so it cannot smuggle in another header. */
static bool header_safe(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static struct wd_http *metadata_client(struct wd_error *err)
{
    struct wd_http_options o = {.connect_timeout_ms = METADATA_CONNECT_MS,
                                .timeout_ms = METADATA_TIMEOUT_MS,
                                .verify_tls = true,
                                .no_proxy = true};
    return wd_http_new(&o, err);
}

/*
 * One call whose answer may hold a secret: the body is reserved whole before the call so that it never
 * moves (a realloc would free a copy unwiped); the caller frees it with wd_buf_free_secure(). Returns 0
 * when any answer arrived, -1 with err (prefixed with what) when none did.
 */
static int call(struct wd_http *h, const char *what, const char *method, const char *url,
                const struct wd_header *hdrs, size_t n_hdrs, struct wd_http_response *resp,
                struct wd_error *err)
{
    if (resp->body.cap < ANSWER_MAX + 1 && wd_buf_reserve(&resp->body, ANSWER_MAX) < 0)
        return wd_error_nomem(err);
    struct wd_http_request req = {
        .method = method, .url = url, .headers = hdrs, .n_headers = n_hdrs, .max_response = ANSWER_MAX};
    if (wd_http_send(h, &req, resp, err) == 0)
        return 0;
    if (err != NULL) {
        struct wd_error why = *err;
        wd_error_set(err, why.cls, why.http_status, why.code, "%s: %s", what, why.message);
    }
    return -1;
}

/* A failing status: 5xx and 429 may pass, anything else is the deployment's to fix. Returns -1. */
static int status_error(const char *what, long status, struct wd_error *err)
{
    enum wd_error_class cls = status >= 500 || status == 429 ? WD_ERR_TRANSIENT : WD_ERR_CONFIG;
    return wd_error_set(err, cls, status, NULL, "%s answered HTTP %ld", what, status);
}

/* Overwrites a string inside a jansson value: jansson frees its copies unwiped. */
static void json_wipe_strings(json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (json_is_string(v))
            OPENSSL_cleanse((void *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
}

static const char *json_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/*
 * The answer of both endpoints: {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (IMDS adds
 * "Code": "Success"). Returns 0 with out filled or -1 with err; never quotes the answer.
 */
static int parse_answer(const char *what, const struct wd_buf *body, struct wd_credentials *out,
                        struct wd_error *err)
{
    struct wd_credentials c = {0};
    int rc = -1;
    json_t *root = json_loadb(body->data != NULL ? body->data : "", body->len, 0, NULL);
    if (!json_is_object(root)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the answer is not a JSON object", what);
        goto out;
    }
    const char *code = json_member(root, "Code");
    if (code != NULL && strcmp(code, "Success") != 0) {
        wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL, "%s: the answer's Code is \"%.64s\", not \"Success\"",
                     what, code);
        goto out;
    }
    const char *id = json_member(root, "AccessKeyId");
    const char *secret = json_member(root, "SecretAccessKey");
    const char *token = json_member(root, "Token");
    const char *expiration = json_member(root, "Expiration");
    const char *missing = id == NULL           ? "AccessKeyId"
                          : secret == NULL     ? "SecretAccessKey"
                          : expiration == NULL ? "Expiration"
                                               : NULL;
    if (missing != NULL) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the answer has no %s", what, missing);
        goto out;
    }
    if (parse_time(expiration, &c.expiration) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                     "%s: the answer's Expiration \"%.64s\" is not an ISO 8601 time", what, expiration);
        goto out;
    }
    if (c.expiration <= now_s()) {
        wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL,
                     "%s: the credentials it gave expired at %.64s (is the clock right?)", what, expiration);
        goto out;
    }
    struct wd_credentials borrowed = {(char *)(uintptr_t)id, (char *)(uintptr_t)secret,
                                      (char *)(uintptr_t)token, c.expiration};
    if (credentials_copy(&borrowed, out) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    rc = 0;
out:
    if (json_is_object(root))
        json_wipe_strings(root);
    json_decref(root);
    return rc;
}

/* ---- The container endpoint (ECS, EKS Pod Identity, local emulators) ---- */

struct container {
    char *url;        /* where to GET */
    char *origin;     /* scheme://host[:port], for messages and the source */
    char *token;      /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret), or NULL */
    char *token_file; /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, read at each call, or NULL */
};

static void container_clear(struct container *c)
{
    free(c->url);
    free(c->origin);
    free_secret(&c->token);
    free(c->token_file);
    memset(c, 0, sizeof(*c));
}

/* Loopback, or one of the link-local addresses ECS and EKS Pod Identity serve credentials on. */
static bool allowed_http_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 127 || a == 0xa9feaa02u /* 169.254.170.2 */ || a == 0xa9feaa17u /* .23 */;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        struct in6_addr eks;
        inet_pton(AF_INET6, "fd00:ec2::23", &eks);
        return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &eks, sizeof(eks)) == 0;
    }
    return false;
}

/*
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, checked as the SDKs do: https anywhere, http only to loopback (or
 * the ECS/EKS addresses). Anything unusual in the authority (user info, escapes) is refused rather than
 * parsed differently from curl. Returns 0 with *origin_len, or -1 with err.
 */
static int check_full_uri(const char *url, size_t *origin_len, struct wd_error *err)
{
    static const char var[] = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" is not an http:// or https:// URL", var,
                            url);
    const char *auth = url + (https ? 8 : 7);
    size_t n = strcspn(auth, "/?#");
    char host[256];
    if (n == 0 || n >= sizeof(host) ||
        strspn(auth, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:[]") < n)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
    const char *end;
    if (auth[0] == '[') {
        end = memchr(auth, ']', n);
        if (end == NULL)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
        memcpy(host, auth + 1, (size_t)(end - auth - 1));
        host[end - auth - 1] = '\0';
        end++;
    } else {
        end = auth + strcspn(auth, ":/?#");
        memcpy(host, auth, (size_t)(end - auth));
        host[end - auth] = '\0';
    }
    const char *rest = end;
    bool port_ok = rest == auth + n || (rest[0] == ':' && rest + 1 < auth + n &&
                                        strspn(rest + 1, "0123456789") == (size_t)(auth + n - rest - 1));
    if (!port_ok || host[0] == '\0')
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s \"%s\" has no plain host[:port]", var, url);
    if (!https && !allowed_http_host(host))
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "%s \"%s\": plain http is allowed only to a loopback address (or the ECS/EKS "
                            "container endpoints); use https",
                            var, url);
    *origin_len = (size_t)(auth + n - url);
    return 0;
}

/* Returns 1 with c filled when the environment names a container endpoint, 0 when not, -1 with err. */
static int container_config(struct container *c, struct wd_error *err)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    struct wd_buf url = {0};

    if (rel != NULL) { /* the SDKs prefer it when both are set */
        if (rel[0] != '/')
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \"%s\" does not start with /", rel);
        if (wd_buf_printf(&url, "%s%s", container_host, rel) < 0 ||
            (c->origin = strdup(container_host)) == NULL)
            goto nomem;
    } else if (full != NULL) {
        size_t origin_len = 0;
        if (check_full_uri(full, &origin_len, err) < 0)
            return -1;
        if (wd_buf_append_str(&url, full) < 0 || (c->origin = strndup(full, origin_len)) == NULL)
            goto nomem;
    } else {
        return 0;
    }
    if ((c->url = wd_buf_steal(&url)) == NULL)
        goto nomem;

    const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (file != NULL) { /* botocore reads the file first, and again at every refresh (EKS rotates it) */
        if ((c->token_file = strdup(file)) == NULL)
            goto nomem;
    } else if (token != NULL) {
        if (!header_safe(token)) {
            container_clear(c);
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break or another character "
                                "not allowed in an HTTP header");
        }
        if ((c->token = strdup(token)) == NULL)
            goto nomem;
    }
    return 1;
nomem:
    wd_buf_free(&url);
    container_clear(c);
    return wd_error_nomem(err);
}

/* Reads the token file into tok (a secret: the caller wipes it), trailing white space trimmed. */
static int read_token_file(const char *path, struct wd_buf *tok, struct wd_error *err)
{
    static const char var[] = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s: %s", var, path, strerror(errno));
    int rc = -1;
    if (wd_buf_reserve(tok, TOKEN_FILE_MAX) < 0) { /* whole, so it never moves */
        wd_error_nomem(err);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, tok->data + tok->len, TOKEN_FILE_MAX - tok->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s: %s", var, path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        tok->len += (size_t)n;
        if (tok->len == TOKEN_FILE_MAX) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s %s is larger than 16 KiB", var, path);
            goto out;
        }
    }
    while (tok->len > 0 && isspace((unsigned char)tok->data[tok->len - 1]))
        tok->len--;
    tok->data[tok->len] = '\0';
    if (!header_safe(tok->data) || strlen(tok->data) != tok->len) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "%s %s is empty or holds more than one line or a character not allowed in an HTTP "
                     "header",
                     var, path);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static int container_fetch(const struct container *c, struct wd_http *h, struct wd_credentials *out,
                           struct wd_error *err)
{
    struct wd_buf tok = {0}, what = {0};
    struct wd_http_response resp = {0};
    struct wd_header auth = {"Authorization", NULL};
    int rc = -1;

    if (wd_buf_printf(&what, "container endpoint %s", c->origin) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (c->token_file != NULL) {
        if (read_token_file(c->token_file, &tok, err) < 0)
            goto out;
        auth.value = tok.data;
    } else {
        auth.value = c->token;
    }
    if (call(h, what.data, "GET", c->url, &auth, auth.value != NULL ? 1 : 0, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    rc = parse_answer(what.data, &resp.body, out, err);
out:
    wd_buf_free_secure(&tok);
    wd_buf_free_secure(&resp.body);
    wd_buf_free(&what);
    return rc;
}

/* ---- EC2 instance metadata, IMDSv2 only ---- */

static bool imds_disabled(void)
{
    const char *v = env("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* Returns the endpoint without a trailing slash (owned), or NULL with err. */
static char *imds_endpoint(struct wd_error *err)
{
    const char *e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (e == NULL)
        e = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? IMDS_ENDPOINT_IPV6 : IMDS_ENDPOINT;
    else if (strncasecmp(e, "http://", 7) != 0 && strncasecmp(e, "https://", 8) != 0) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "AWS_EC2_METADATA_SERVICE_ENDPOINT \"%s\" is not an http:// or https:// URL", e);
        return NULL;
    }
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    char *s = strndup(e, n);
    if (s == NULL)
        wd_error_nomem(err);
    return s;
}

/* An IAM role name: [\w+=,.@-]{1,64}; anything else would change the path. */
static bool role_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("+=,.@_-", s[i]) == NULL)
            return false;
    return true;
}

/*
 * PUT a session token, GET the role name, GET its credentials: never without the token (IMDSv1).
 * *answered says whether the endpoint answered the token request at all (a machine without IMDS does not).
 * role (owned, may be NULL) receives the role's name. Returns 0 or -1 with err; WD_ERR_CONFIG with code
 * "NoCredentials" means that the service answered but has no credentials to give.
 */
static int imds_fetch(const char *endpoint, struct wd_http *h, bool *answered, char **role,
                      struct wd_credentials *out, struct wd_error *err)
{
    struct wd_buf url = {0}, what = {0};
    struct wd_http_response resp = {0};
    char *token = NULL;
    char *name = NULL;
    int rc = -1;
    *answered = false;

    if (wd_buf_printf(&what, "instance metadata %s", endpoint) < 0 ||
        wd_buf_printf(&url, "%s/latest/api/token", endpoint) < 0)
        goto nomem;
    const struct wd_header ttl = {"X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL};
    if (call(h, what.data, "PUT", url.data, &ttl, 1, &resp, err) < 0)
        goto out;
    *answered = true;
    if (resp.status != 200) {
        if (resp.status >= 500 || resp.status == 429) {
            status_error(what.data, resp.status, err);
        } else {
            wd_error_set(err, WD_ERR_CONFIG, resp.status, "NoCredentials",
                         "%s refused the IMDSv2 session token (HTTP %ld); widgetd never uses IMDSv1",
                         what.data, resp.status);
        }
        goto out;
    }
    size_t n = resp.body.len;
    while (n > 0 && isspace((unsigned char)resp.body.data[n - 1]))
        n--;
    resp.body.data[n] = '\0';
    if (!header_safe(resp.body.data) || strlen(resp.body.data) != n) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the session token is empty or not a header value",
                     what.data);
        goto out;
    }
    if ((token = strdup(resp.body.data)) == NULL)
        goto nomem;
    const struct wd_header with_token = {"X-aws-ec2-metadata-token", token};

    wd_buf_reset(&url);
    if (wd_buf_printf(&url, "%s/latest/meta-data/iam/security-credentials/", endpoint) < 0)
        goto nomem;
    if (call(h, what.data, "GET", url.data, &with_token, 1, &resp, err) < 0)
        goto out;
    if (resp.status == 404) {
        wd_error_set(err, WD_ERR_CONFIG, 404, "NoCredentials", "%s: no IAM role is attached to this instance",
                     what.data);
        goto out;
    }
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    n = strcspn(resp.body.data, "\r\n"); /* the first line */
    while (n > 0 && isspace((unsigned char)resp.body.data[n - 1]))
        n--;
    if (!role_name_ok(resp.body.data, n)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "%s: the role name it gave is not an IAM role name",
                     what.data);
        goto out;
    }
    if ((name = strndup(resp.body.data, n)) == NULL || wd_buf_append_str(&url, name) < 0)
        goto nomem;
    if (call(h, what.data, "GET", url.data, &with_token, 1, &resp, err) < 0)
        goto out;
    if (resp.status != 200) {
        status_error(what.data, resp.status, err);
        goto out;
    }
    wd_buf_reset(&what);
    if (wd_buf_printf(&what, "instance metadata %s (role %s)", endpoint, name) < 0)
        goto nomem;
    if (parse_answer(what.data, &resp.body, out, err) < 0)
        goto out;
    if (role != NULL) {
        *role = name;
        name = NULL;
    }
    rc = 0;
    goto out;
nomem:
    wd_error_nomem(err);
out:
    free_secret(&token);
    free(name);
    wd_buf_free_secure(&resp.body);
    wd_buf_free(&url);
    wd_buf_free(&what);
    return rc;
}

/* ---- The provider ---- */

enum source_kind { SOURCE_STATIC, SOURCE_CONTAINER, SOURCE_IMDS };

struct wd_credentials_provider {
    enum source_kind kind;
    char *source;
    /* What a refresh reads; used only by the one refreshing thread. */
    struct container container;
    char *imds_endpoint;
    struct wd_http *http;

    pthread_mutex_t lock;
    pthread_cond_t refreshed;
    int sync_ready; /* 1: lock initialised, 2: refreshed too */
    /* Under lock. */
    struct wd_credentials current;
    bool refreshing;   /* one thread is fetching, without the lock */
    time_t not_before; /* no refresh attempt before this time */
    bool failed;       /* the last attempt failed, with last_error */
    struct wd_error last_error;
};

void wd_credentials_provider_free(struct wd_credentials_provider *p)
{
    if (p == NULL)
        return;
    wd_credentials_clear(&p->current);
    container_clear(&p->container);
    free(p->imds_endpoint);
    free(p->source);
    wd_http_free(p->http);
    if (p->sync_ready >= 2)
        pthread_cond_destroy(&p->refreshed);
    if (p->sync_ready >= 1)
        pthread_mutex_destroy(&p->lock);
    free(p);
}

const char *wd_credentials_provider_source(const struct wd_credentials_provider *p)
{
    return p->source;
}

/* The container endpoint, when the environment names one. Returns 1 (p->current filled), 0, -1 with err. */
static int try_container(struct wd_credentials_provider *p, struct chain *ch, struct wd_error *err)
{
    int rc = container_config(&p->container, err);
    if (rc <= 0)
        return rc < 0 ? -1
                      : note(&ch->tried, err,
                             "container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
    /* Named but failing: an error, not a reason to fall through to the instance's identity. */
    if ((p->http = metadata_client(err)) == NULL ||
        container_fetch(&p->container, p->http, &p->current, err) < 0)
        return -1;
    p->kind = SOURCE_CONTAINER;
    if (wd_buf_printf(&ch->source, "container endpoint %s", p->container.origin) < 0)
        return wd_error_nomem(err);
    return 1;
}

/* Instance metadata, unless disabled. Returns 1 (p->current filled), 0 with a note, -1 with err. */
static int try_imds(struct wd_credentials_provider *p, struct chain *ch, struct wd_error *err)
{
    if (imds_disabled())
        return note(&ch->tried, err, "instance metadata: disabled by AWS_EC2_METADATA_DISABLED");
    if ((p->imds_endpoint = imds_endpoint(err)) == NULL || (p->http = metadata_client(err)) == NULL)
        return -1;
    bool answered;
    char *role = NULL;
    struct wd_error why = {0};
    if (imds_fetch(p->imds_endpoint, p->http, &answered, &role, &p->current, &why) < 0) {
        /* No answer means no instance metadata here; an answer without credentials is a dead end too. */
        if (!answered)
            return note(&ch->tried, err, "instance metadata %s: no answer (%s)", p->imds_endpoint,
                        why.code[0] != '\0' ? why.code : wd_error_class_name(why.cls));
        if (why.cls == WD_ERR_CONFIG && strcmp(why.code, "NoCredentials") == 0)
            return note(&ch->tried, err, "%s", why.message);
        if (err != NULL)
            *err = why;
        return -1;
    }
    p->kind = SOURCE_IMDS;
    int rc = wd_buf_printf(&ch->source, "instance metadata (role %s)", role);
    free(role);
    return rc < 0 ? wd_error_nomem(err) : 1;
}

struct wd_credentials_provider *wd_credentials_provider_new(const char *profile, struct wd_error *err)
{
    struct chain ch;
    chain_init(&ch, profile);
    struct wd_credentials_provider *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        wd_error_nomem(err);
        goto fail;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        wd_error_nomem(err);
        goto fail;
    }
    p->sync_ready = 1;
    if (pthread_cond_init(&p->refreshed, NULL) != 0) {
        wd_error_nomem(err);
        goto fail;
    }
    p->sync_ready = 2;

    int rc = resolve_static(&ch, &p->current, err);
    if (rc == 0)
        rc = try_container(p, &ch, err);
    if (rc == 0)
        rc = try_imds(p, &ch, err);
    if (rc == 0)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no AWS credentials: %s", ch.tried.data);
    if (rc <= 0)
        goto fail;
    if ((p->source = wd_buf_steal(&ch.source)) == NULL) {
        wd_error_nomem(err);
        goto fail;
    }
    /* A source that hands out credentials already within the window is not asked again at once. */
    p->not_before = now_s() + REFRESH_RETRY_S;
    chain_free(&ch);
    return p;

fail:
    chain_free(&ch);
    wd_credentials_provider_free(p);
    return NULL;
}

/* Fetches from the provider's source; runs without the lock, on one thread at a time. */
static int refresh_fetch(struct wd_credentials_provider *p, struct wd_credentials *out, struct wd_error *err)
{
    if (p->kind == SOURCE_CONTAINER)
        return container_fetch(&p->container, p->http, out, err);
    bool answered;
    return imds_fetch(p->imds_endpoint, p->http, &answered, NULL, out, err);
}

int wd_credentials_provider_get(struct wd_credentials_provider *p, struct wd_credentials *out,
                                struct wd_error *err)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        time_t now = now_s();
        time_t exp = p->current.expiration;
        bool expired = exp != 0 && exp <= now;
        bool due =
            exp != 0 && exp - now <= REFRESH_WINDOW_S && (now >= p->not_before || (expired && !p->failed));

        if (due && !p->refreshing) {
            /* This thread refreshes; the others keep using the current copy meanwhile. */
            struct wd_credentials fresh = {0};
            struct wd_error why = {0};
            p->refreshing = true;
            pthread_mutex_unlock(&p->lock);
            int fetched = refresh_fetch(p, &fresh, &why);
            pthread_mutex_lock(&p->lock);
            p->refreshing = false;
            p->not_before = now_s() + REFRESH_RETRY_S;
            p->failed = fetched < 0;
            if (fetched == 0) {
                wd_credentials_clear(&p->current);
                p->current = fresh;
            } else {
                p->last_error = why;
            }
            pthread_cond_broadcast(&p->refreshed);
            continue; /* not due any more: take what there is now */
        }
        if (!expired) {
            rc = credentials_copy(&p->current, out) < 0 ? wd_error_nomem(err) : 0;
            break;
        }
        if (p->refreshing) { /* expired: nothing to use until the refresh ends */
            pthread_cond_wait(&p->refreshed, &p->lock);
            continue;
        }
        if (p->failed) {
            if (err != NULL)
                *err = p->last_error;
            rc = -1;
        } else {
            rc = wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL, "the credentials from %s have expired",
                              p->source);
        }
        break;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}
