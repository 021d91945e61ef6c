/*
 * The static credential sources, in the AWS CLI's order: the environment, then the shared credentials and
 * config files (read whole into wiped memory and parsed by inih through ini_text.h, leaving no copy of a
 * secret behind).
 */
#include "credentials_files.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials_source.h"
#include "ini_text.h"

/* No credentials file is anywhere near this big; refusing larger ones bounds what we read. */
#define FILE_MAX (1024 * 1024)

/* ---- The environment ---- */

/* Returns 1 with out filled, 0 when the environment holds no keys, -1 with err. */
static int from_env(struct wd_credentials *out, struct wd_error *err)
{
    const char *id = wd_credentials_env("AWS_ACCESS_KEY_ID");
    const char *secret = wd_credentials_env("AWS_SECRET_ACCESS_KEY");
    const char *token = wd_credentials_env("AWS_SESSION_TOKEN");

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
    if (wd_credentials_copy(&env_creds, out) < 0)
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
    const char *dir = wd_credentials_env("CREDENTIALS_DIRECTORY");
    if (kind == CREDENTIALS_FILE && dir != NULL) {
        if (wd_buf_printf(path, "%s/aws-credentials", dir) < 0)
            return wd_error_nomem(err);
        if (access(path->data, F_OK) == 0)
            return 1;
        wd_buf_reset(path);
    }

    const char *home = wd_credentials_env("HOME");
    const char *file =
        wd_credentials_env(kind == CREDENTIALS_FILE ? "AWS_SHARED_CREDENTIALS_FILE" : "AWS_CONFIG_FILE");
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
    wd_credentials_free_secret(&k->id);
    wd_credentials_free_secret(&k->secret);
    wd_credentials_free_secret(&k->token);
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

    wd_credentials_free_secret(slot); /* a later line wins */
    if (value[0] == '\0')
        return 1; /* "aws_session_token =" means none */
    *slot = strdup(value);
    if (*slot == NULL)
        c->nomem = true;
    return 1;
}

/* Reads what the file at path says about profile into k (k->exists false when there is no file).
 * Returns 0, or -1 with err when the file exists but cannot be used. */
static int read_profile(enum file_kind kind, const char *path, const char *profile, struct profile_keys *k,
                        struct wd_error *err)
{
    struct ini_ctx c = {.kind = kind, .profile = profile, .keys = k};
    const char *what = file_name(kind);
    struct wd_buf file = {0};
    int rc = -1;

    /* Checked by name first: wd_ini_file_read() would read a FIFO or a device (and block on a FIFO). */
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot open the AWS %s %s: %s", what, path,
                            strerror(errno));
    }
    k->exists = true;
    if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "the AWS %s %s is %s", what, path,
                            S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");

    /* Into wiped memory, not stdio's buffer: that would be freed holding the secrets. */
    if (wd_ini_file_read(path, FILE_MAX, &file) < 0) {
        if (errno == ENOENT) { /* removed since the stat: as if it had never been there */
            k->exists = false;
            return 0;
        }
        if (errno == ENOMEM)
            return wd_error_nomem(err);
        if (errno == EISDIR || errno == EFBIG) /* replaced since the stat */
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "the AWS %s %s is %s", what, path,
                                errno == EFBIG ? "larger than 1 MiB" : "not a regular file");
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot open the AWS %s %s: %s", what, path,
                            strerror(errno));
    }

    /* A line can be no longer than the file, so none is refused for its length (a session token runs to
     * kilobytes). */
    struct wd_ini_text text = {.data = file.data, .len = file.len, .max_line = file.len};
    int line = wd_ini_parse_text(&text, on_ini, &c);

    /* The line number only, in every message: the line itself may hold a secret. */
    if (c.nomem || line == WD_INI_NOMEM)
        wd_error_nomem(err);
    else if (line == WD_INI_NUL)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: the line holds a NUL byte (not an AWS %s?)", path,
                     text.lineno, what);
    else if (line == WD_INI_TOO_LONG)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: line is longer than %zu bytes in an AWS %s", path,
                     text.lineno, text.max_line, what);
    else if (line != 0)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                     "%s:%d: not a valid line in an AWS %s (want [%s] or key = value)", path, line, what,
                     kind == CREDENTIALS_FILE ? "profile" : "profile NAME");
    else
        rc = 0;

    if (rc < 0)
        profile_keys_clear(k);
    wd_buf_free_secure(&file);
    return rc;
}

/* One file's verdict: 1 with out filled, 0 with a note on what it lacks, -1 with err (half a pair). */
static int profile_verdict(enum file_kind kind, const struct wd_buf *path, bool have_path,
                           const char *profile, struct profile_keys *k, struct wd_credentials *out,
                           struct wd_buf *tried, struct wd_error *err)
{
    const char *what = file_name(kind);
    if (!have_path)
        return wd_credentials_note(tried, err, "%s: neither %s nor HOME is set", what,
                                   kind == CREDENTIALS_FILE ? "AWS_SHARED_CREDENTIALS_FILE"
                                                            : "AWS_CONFIG_FILE");
    if (!k->exists)
        return wd_credentials_note(tried, err, "%s %s does not exist", what, path->data);
    if (!k->seen)
        return wd_credentials_note(tried, err, "%s %s has no profile [%s]", what, path->data, profile);
    if (k->id == NULL && k->secret == NULL)
        return wd_credentials_note(tried, err,
                                   "%s %s: profile [%s] has no aws_access_key_id or aws_secret_access_key",
                                   what, path->data, profile);
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

/* Which profile to read, and why: for messages. */
struct profile_choice {
    const char *name;
    const char *from; /* for messages: why this profile */
    bool named;       /* named by the caller or AWS_PROFILE: must exist (botocore's ProfileNotFound) */
};

static struct profile_choice profile_choose(const char *profile)
{
    struct profile_choice p = {profile, "the configured profile", true};
    if (profile == NULL || profile[0] == '\0') {
        p.name = wd_credentials_env("AWS_PROFILE");
        p.from = "from AWS_PROFILE";
    }
    if (p.name == NULL) {
        p.name = "default";
        p.from = "the default profile";
        p.named = false;
    }
    return p;
}

static int unsupported(const char *profile, enum file_kind kind, const struct wd_buf *path, const char *key,
                       struct wd_error *err)
{
    return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                        "profile [%s] in the AWS %s %s sets %s: widgetd does not assume roles or use SSO "
                        "or credential_process; give the profile aws_access_key_id and aws_secret_access_key",
                        profile, file_name(kind), path->data, key);
}

int wd_credentials_files_resolve(const char *profile_arg, struct wd_credentials *out, struct wd_buf *source,
                                 struct wd_buf *tried, struct wd_error *err)
{
    struct profile_keys cred = {0}, conf = {0};
    struct wd_buf cred_path = {0}, conf_path = {0};
    const struct profile_choice choice = profile_choose(profile_arg);
    const char *profile = choice.name;
    int rc = from_env(out, err);
    if (rc != 0) {
        if (rc > 0 && wd_buf_append_str(source, "environment") < 0) {
            wd_credentials_clear(out);
            return wd_error_nomem(err);
        }
        return rc;
    }
    if (wd_credentials_note(tried, err,
                            "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set") < 0)
        return -1;
    /* The CLI would assume a role with web identity next: using some other identity would be wrong. */
    if (wd_credentials_env("AWS_ROLE_ARN") != NULL &&
        wd_credentials_env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL)
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
    rc = profile_verdict(CREDENTIALS_FILE, &cred_path, have_cred, profile, &cred, out, tried, err);
    if (rc > 0 &&
        wd_buf_printf(source, "shared credentials file %s (profile %s)", cred_path.data, profile) < 0)
        goto nomem;
    if (rc != 0)
        goto out;
    if (cred.process || conf.process) {
        rc = unsupported(profile, cred.process ? CREDENTIALS_FILE : CONFIG_FILE,
                         cred.process ? &cred_path : &conf_path, "credential_process", err);
        goto out;
    }
    rc = profile_verdict(CONFIG_FILE, &conf_path, have_conf, profile, &conf, out, tried, err);
    if (rc > 0 && wd_buf_printf(source, "config file %s (profile %s)", conf_path.data, profile) < 0)
        goto nomem;
    if (rc != 0)
        goto out;
    if (choice.named && !cred.seen && !conf.seen)
        rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                          "no profile [%s] (%s) in the AWS credentials or config file: %s", profile,
                          choice.from, tried->data);
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
    struct wd_buf source = {0}, tried = {0};
    struct wd_credentials c = {0};
    int rc = wd_credentials_files_resolve(profile, &c, &source, &tried, err);
    if (rc == 0)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no AWS credentials: %s", tried.data);
    wd_buf_free(&source);
    wd_buf_free(&tried);
    if (rc <= 0)
        return -1;
    *out = c;
    return 0;
}
