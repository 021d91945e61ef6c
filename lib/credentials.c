/* AWS credentials from the environment or the shared credentials file (read with inih), wiped when dropped.
 */
#include "credentials.h"

#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

/* No credentials file is anywhere near this big; refusing larger ones bounds what we read. */
#define FILE_MAX (1024 * 1024)
/* The FILE's buffer, ours so that it can be wiped: stdio would free a copy of the secrets unwiped. */
#define IOBUF_SIZE 4096

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
}

/* An empty variable counts as unset, as in the AWS CLI. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

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

    struct wd_credentials c = {0};
    c.access_key_id = strdup(id);
    c.secret_access_key = strdup(secret);
    if (token != NULL)
        c.session_token = strdup(token);
    if (c.access_key_id == NULL || c.secret_access_key == NULL ||
        (token != NULL && c.session_token == NULL)) {
        wd_credentials_clear(&c);
        return wd_error_nomem(err);
    }
    *out = c;
    return 1;
}

/*
 * Where the shared credentials file is: systemd's LoadCredential= first (so a hardened unit need not
 * expose a home directory), then AWS_SHARED_CREDENTIALS_FILE, then ~/.aws/credentials.
 */
static int credentials_path(struct wd_buf *path, struct wd_error *err)
{
    const char *dir = env("CREDENTIALS_DIRECTORY");
    if (dir != NULL) {
        if (wd_buf_printf(path, "%s/aws-credentials", dir) < 0)
            return wd_error_nomem(err);
        if (access(path->data, F_OK) == 0)
            return 0;
        wd_buf_reset(path);
    }

    const char *home = env("HOME");
    const char *file = env("AWS_SHARED_CREDENTIALS_FILE");
    int rc;
    if (file != NULL && home != NULL && file[0] == '~' && (file[1] == '/' || file[1] == '\0'))
        rc = wd_buf_printf(path, "%s%s", home, file + 1); /* the CLI expands ~ here */
    else if (file != NULL)
        rc = wd_buf_append_str(path, file);
    else if (home != NULL)
        rc = wd_buf_printf(path, "%s/.aws/credentials", home);
    else
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "no AWS credentials: AWS_ACCESS_KEY_ID is not set, and neither "
                            "AWS_SHARED_CREDENTIALS_FILE nor HOME is set to find a credentials file");
    return rc < 0 ? wd_error_nomem(err) : 0;
}

struct ini_ctx {
    const char *profile;
    bool profile_seen;
    bool nomem;
    char *id, *secret, *token;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (strcmp(section, c->profile) != 0)
        return 1;
    c->profile_seen = true;

    char **slot;
    /* Option names are case-insensitive in the CLI's parser (configparser); profile names are not. */
    if (strcasecmp(name, "aws_access_key_id") == 0)
        slot = &c->id;
    else if (strcasecmp(name, "aws_secret_access_key") == 0)
        slot = &c->secret;
    else if (strcasecmp(name, "aws_session_token") == 0)
        slot = &c->token;
    else
        return 1;

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

/* Reads profile from the credentials file at path. Returns 0 with out filled, or -1 with err. */
static int from_file(const char *path, const char *profile, const char *profile_from,
                     struct wd_credentials *out, struct wd_error *err)
{
    struct ini_ctx c = {.profile = profile};
    char *iobuf = NULL;
    int rc = -1;

    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return wd_error_set(
                err, WD_ERR_CONFIG, 0, NULL,
                "no AWS credentials: AWS_ACCESS_KEY_ID is not set and the credentials file %s "
                "does not exist",
                path);
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot open the AWS credentials file %s: %s", path,
                            strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "cannot stat the AWS credentials file %s: %s", path,
                     strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "the AWS credentials file %s is %s", path,
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
                     "%s:%d: not a valid line in an AWS credentials file (want [profile] or key = value)",
                     path, line);
        goto out;
    }
    if (!c.profile_seen) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no profile [%s] (%s) in the AWS credentials file %s",
                     profile, profile_from, path);
        goto out;
    }
    if (c.id == NULL || c.secret == NULL) {
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "profile [%s] in the AWS credentials file %s has no %s",
                     profile, path,
                     c.id == NULL && c.secret == NULL ? "aws_access_key_id or aws_secret_access_key"
                     : c.id == NULL                   ? "aws_access_key_id"
                                                      : "aws_secret_access_key");
        goto out;
    }
    out->access_key_id = c.id;
    out->secret_access_key = c.secret;
    out->session_token = c.token;
    c.id = c.secret = c.token = NULL;
    rc = 0;

out:
    free_secret(&c.id);
    free_secret(&c.secret);
    free_secret(&c.token);
    fclose(f);
    if (iobuf != NULL) {
        OPENSSL_cleanse(iobuf, IOBUF_SIZE);
        free(iobuf);
    }
    return rc;
}

int wd_credentials_load(const char *profile, struct wd_credentials *out, struct wd_error *err)
{
    int rc = from_env(out, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;

    const char *profile_from = "the configured profile";
    if (profile == NULL || profile[0] == '\0') {
        profile = env("AWS_PROFILE");
        profile_from = "from AWS_PROFILE";
    }
    if (profile == NULL) {
        profile = "default";
        profile_from = "the default profile";
    }

    struct wd_buf path = {0};
    rc = credentials_path(&path, err);
    if (rc == 0)
        rc = from_file(path.data, profile, profile_from, out, err);
    wd_buf_free(&path);
    return rc;
}
