/* Unit tests for credentials_files.c: the environment, the shared credentials and config files, profiles,
 * secret-free errors, and no copy of a secret left in freed memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ini.h>

#include "buf.h"
#include "credentials.h"
#include "credentials_files.h"

#define ENV_ID "AKIAENVIRONMENT00001"
#define ENV_SECRET "envSecretKey/K7MDENG/bPxRfiCYEXAMPLEKEY1"
#define ENV_TOKEN "envSessionToken+FwoGZXIvYXdzEXAMPLE=="
#define DEF_ID "AKIADEFAULTPROFILE01"
#define DEF_SECRET "defaultSecret/K7MDENG/bPxRfiCYEXAMPLEKEY2"
#define DEV_ID "AKIADEVPROFILE000001"
#define DEV_SECRET "devSecret/K7MDENG/bPxRfiCYEXAMPLEKEY3"
#define DEV_TOKEN "devSessionToken/IQoJb3JpZ2luX2VjEXAMPLE=="
#define CFG_ID "AKIACONFIGFILE000001"
#define CFG_SECRET "configSecret/K7MDENG/bPxRfiCYEXAMPLEKEY4"
#define CFG_TOKEN "configSessionToken/IQoJb3JpZ2luX2VjEXAMPLE=="

static const char *const ALL_SECRETS[] = {ENV_SECRET, ENV_TOKEN,  DEF_SECRET, DEV_SECRET,
                                          DEV_TOKEN,  CFG_SECRET, CFG_TOKEN};

static const char *const VARS[] = {"AWS_ACCESS_KEY_ID",
                                   "AWS_SECRET_ACCESS_KEY",
                                   "AWS_SESSION_TOKEN",
                                   "AWS_PROFILE",
                                   "AWS_SHARED_CREDENTIALS_FILE",
                                   "CREDENTIALS_DIRECTORY",
                                   "HOME",
                                   "AWS_CONFIG_FILE",
                                   "AWS_ROLE_ARN",
                                   "AWS_WEB_IDENTITY_TOKEN_FILE"};

/* Two profiles, the second with a session token, and things the CLI's parser accepts around them. */
static const char TWO_PROFILES[] = "# written by aws configure\n"
                                   "[default]\n"
                                   "aws_access_key_id = " DEF_ID "\n"
                                   "aws_secret_access_key=" DEF_SECRET "\n"
                                   "\n"
                                   "; another one\n"
                                   "[dev]\n"
                                   "region = eu-west-1\n"
                                   "aws_access_key_id = " DEV_ID "\n"
                                   "aws_secret_access_key = " DEV_SECRET "\n"
                                   "aws_session_token = " DEV_TOKEN "\n";

struct fixture {
    char dir[64];    /* a private directory for the test's files */
    char *files[16]; /* to remove afterwards */
    size_t n_files;
};

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
        unsetenv(VARS[i]);
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wd-cred-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = fx->n_files; i > 0; i--) {
        if (unlink(fx->files[i - 1]) < 0)
            rmdir(fx->files[i - 1]);
        free(fx->files[i - 1]);
    }
    rmdir(fx->dir);
    free(fx);
    for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
        unsetenv(VARS[i]);
    return 0;
}

static void remember(struct fixture *fx, const char *path)
{
    assert_true(fx->n_files < sizeof(fx->files) / sizeof(fx->files[0]));
    fx->files[fx->n_files] = strdup(path);
    assert_non_null(fx->files[fx->n_files]);
    fx->n_files++;
}

static void write_all(int fd, const char *content)
{
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* A uniquely named file in the fixture's directory; returns its path (owned by the fixture). */
static const char *temp_file(struct fixture *fx, const char *content)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/credentials-XXXXXX", fx->dir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    write_all(fd, content);
    remember(fx, path);
    return fx->files[fx->n_files - 1];
}

/* A file with a fixed name, as systemd's LoadCredential= and ~/.aws/credentials need. */
static const char *named_file(struct fixture *fx, const char *rel, const char *content)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    remember(fx, path);
    return fx->files[fx->n_files - 1];
}

static const char *named_dir(struct fixture *fx, const char *rel)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
    assert_int_equal(mkdir(path, 0700), 0);
    remember(fx, path);
    return fx->files[fx->n_files - 1];
}

static void use_file(const char *path)
{
    assert_int_equal(setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1), 0);
}

static void use_config(const char *path)
{
    assert_int_equal(setenv("AWS_CONFIG_FILE", path, 1), 0);
}

static void expect_creds(const char *profile, const char *id, const char *secret, const char *token)
{
    struct wd_credentials c = {0};
    struct wd_error err = {0};
    if (wd_credentials_load(profile, &c, &err) != 0)
        fail_msg("load failed: %s", err.message);
    assert_string_equal(c.access_key_id, id);
    assert_string_equal(c.secret_access_key, secret);
    if (token == NULL)
        assert_null(c.session_token);
    else
        assert_string_equal(c.session_token, token);
    assert_int_equal(c.expiration, 0); /* static keys never expire */
    wd_credentials_clear(&c);
    assert_null(c.access_key_id);
    assert_null(c.secret_access_key);
    assert_null(c.session_token);
}

/* Fails with WD_ERR_CONFIG, leaves out alone, and the message has each of want but no secret. */
static void expect_config_error(const char *profile, const char *want1, const char *want2)
{
    char sentinel;
    struct wd_credentials c = {&sentinel, &sentinel, &sentinel, 42};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_load(profile, &c, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    assert_true(c.access_key_id == &sentinel && c.secret_access_key == &sentinel &&
                c.session_token == &sentinel && c.expiration == 42);
    if (want1 != NULL && strstr(err.message, want1) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err.message, want1);
    if (want2 != NULL && strstr(err.message, want2) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err.message, want2);
    for (size_t i = 0; i < sizeof(ALL_SECRETS) / sizeof(ALL_SECRETS[0]); i++)
        if (strstr(err.message, ALL_SECRETS[i]) != NULL)
            fail_msg("the message leaks a secret: %s", err.message);
}

static void test_env(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    expect_creds(NULL, ENV_ID, ENV_SECRET, NULL);
    setenv("AWS_SESSION_TOKEN", ENV_TOKEN, 1);
    expect_creds(NULL, ENV_ID, ENV_SECRET, ENV_TOKEN);
}

static void test_env_wins_over_file(void **state)
{
    struct fixture *fx = *state;
    use_file(temp_file(fx, TWO_PROFILES));
    setenv("AWS_PROFILE", "dev", 1);
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    expect_creds(NULL, ENV_ID, ENV_SECRET, NULL);
    expect_creds("dev", ENV_ID, ENV_SECRET, NULL);
}

static void test_env_half_set(void **state)
{
    struct fixture *fx = *state;
    /* Even with a usable file: half a pair is a mistake, not a reason to use another identity. */
    use_file(temp_file(fx, TWO_PROFILES));
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    expect_config_error(NULL, "AWS_SECRET_ACCESS_KEY is not", NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    setenv("AWS_SESSION_TOKEN", ENV_TOKEN, 1);
    expect_config_error(NULL, "AWS_ACCESS_KEY_ID is not", NULL);
}

/* Empty variables count as unset; a lone AWS_SESSION_TOKEN does not make env credentials. */
static void test_env_empty_is_unset(void **state)
{
    struct fixture *fx = *state;
    use_file(temp_file(fx, TWO_PROFILES));
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    setenv("AWS_SESSION_TOKEN", ENV_TOKEN, 1);
    setenv("AWS_PROFILE", "", 1);
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);
}

static void test_file_profiles(void **state)
{
    struct fixture *fx = *state;
    use_file(temp_file(fx, TWO_PROFILES));
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);
    expect_creds("", DEF_ID, DEF_SECRET, NULL);
    expect_creds("dev", DEV_ID, DEV_SECRET, DEV_TOKEN);
    setenv("AWS_PROFILE", "dev", 1);
    expect_creds(NULL, DEV_ID, DEV_SECRET, DEV_TOKEN);
    /* The argument beats AWS_PROFILE. */
    expect_creds("default", DEF_ID, DEF_SECRET, NULL);
    setenv("AWS_PROFILE", "nonesuch", 1);
    expect_creds("dev", DEV_ID, DEV_SECRET, DEV_TOKEN);
}

static void test_file_missing(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/does-not-exist", fx->dir);
    use_file(path);
    expect_config_error(NULL, path, "does not exist");
}

static void test_profile_missing(void **state)
{
    struct fixture *fx = *state;
    const char *path = temp_file(fx, TWO_PROFILES);
    use_file(path);
    expect_config_error("prod", "[prod]", path);
    setenv("AWS_PROFILE", "staging", 1);
    expect_config_error(NULL, "[staging]", "AWS_PROFILE");
    /* Profile names are case-sensitive, and "[profile dev]" is the config file's syntax, not this one's. */
    expect_config_error("Dev", "[Dev]", path);
    const char *other = temp_file(fx, "[profile dev]\naws_access_key_id = " DEV_ID
                                      "\naws_secret_access_key = " DEV_SECRET "\n");
    use_file(other);
    expect_config_error("dev", "[dev]", other);
    /* An empty file has no profiles. */
    const char *empty = temp_file(fx, "");
    use_file(empty);
    expect_config_error("dev", "has no profile [dev]", empty);
}

static void test_profile_incomplete(void **state)
{
    struct fixture *fx = *state;
    const char *path =
        temp_file(fx, "[default]\naws_access_key_id = " DEF_ID "\n"
                      "[dev]\naws_secret_access_key = " DEV_SECRET "\naws_session_token = " DEV_TOKEN "\n"
                      "[empty]\naws_access_key_id =\naws_secret_access_key =\nregion = x\n");
    use_file(path);
    expect_config_error(NULL, "aws_secret_access_key", path);
    expect_config_error("dev", "has no aws_access_key_id", "[dev]");
    expect_config_error("empty", "aws_access_key_id or aws_secret_access_key", "[empty]");
}

/* A broken line is reported by number, never by content (it may be a secret). */
static void test_file_malformed(void **state)
{
    struct fixture *fx = *state;
    const char *path = temp_file(fx, "[default]\naws_access_key_id = " DEF_ID "\n" DEF_SECRET "\n");
    use_file(path);
    expect_config_error(NULL, ":3:", path);
    path = temp_file(fx, "[dev\naws_secret_access_key = " DEV_SECRET "\n");
    use_file(path);
    expect_config_error("dev", ":1:", NULL);
}

/* A NUL byte would cut its line short (inih sees a C string): refused by line number, nothing read. */
static void test_file_nul_byte(void **state)
{
    struct fixture *fx = *state;
    static const char text[] =
        "[default]\naws_access_key_id = " DEF_ID "\naws_secret_access_key = " DEF_SECRET "\0" DEV_SECRET "\n";
    char path[128];
    snprintf(path, sizeof(path), "%s/with-nul", fx->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    assert_int_equal(close(fd), 0);
    remember(fx, path);
    use_file(path);
    char want[160];
    snprintf(want, sizeof(want), "%s:3:", path);
    expect_config_error(NULL, want, "NUL byte");
}

/* What the CLI's parser accepts: a BOM, CRLF, indentation, comments, case-insensitive option names. */
static void test_file_syntax_variants(void **state)
{
    struct fixture *fx = *state;
    use_file(temp_file(fx, "\xef\xbb\xbf[default]\r\n"
                           "  AWS_Access_Key_Id   =   " DEF_ID "   \r\n"
                           "# aws_secret_access_key = commented-out\r\n"
                           "\taws_secret_access_key: " DEF_SECRET "\r\n"));
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);

    /* A later line wins; an empty token means none. */
    use_file(temp_file(fx,
                       "[default]\naws_access_key_id = old\naws_secret_access_key = old\n"
                       "aws_session_token = old\n"
                       "[other]\nx = y\n"
                       "[default]\naws_access_key_id = " DEF_ID "\naws_secret_access_key = " DEF_SECRET "\n"
                       "aws_session_token =\n"));
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);
}

/* Session tokens run to kilobytes: far past inih's default line length, which must be left as it was. */
static void test_long_session_token(void **state)
{
    struct fixture *fx = *state;
    int max_line = ini_max_line;
    bool use_stack = ini_use_stack, multiline = ini_allow_multiline;
    struct wd_buf token = {0}, file = {0};
    for (int i = 0; i < 3000; i++)
        assert_int_equal(wd_buf_append_char(&token, "ABCDEFGHIJKLMNOPQRSTUVWXYZ/+="[i % 29]), 0);
    assert_int_equal(wd_buf_printf(&file,
                                   "[default]\naws_session_token = %s\naws_access_key_id = %s\n"
                                   "aws_secret_access_key = %s\n",
                                   token.data, DEF_ID, DEF_SECRET),
                     0);
    use_file(temp_file(fx, file.data));
    expect_creds(NULL, DEF_ID, DEF_SECRET, token.data);
    assert_int_equal(ini_max_line, max_line);
    assert_int_equal(ini_use_stack, use_stack);
    assert_int_equal(ini_allow_multiline, multiline);
    wd_buf_free(&token);
    wd_buf_free(&file);
}

static void test_credentials_directory(void **state)
{
    struct fixture *fx = *state;
    const char *dir = named_dir(fx, "creds");
    use_file(temp_file(fx, TWO_PROFILES));
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    /* No aws-credentials there: the usual file. */
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);
    /* With one: it wins over AWS_SHARED_CREDENTIALS_FILE. */
    named_file(fx, "creds/aws-credentials",
               "[default]\naws_access_key_id = " DEV_ID "\naws_secret_access_key = " DEV_SECRET "\n");
    expect_creds(NULL, DEV_ID, DEV_SECRET, NULL);
    expect_config_error("dev", "creds/aws-credentials", "[dev]");
}

static void test_home_fallback(void **state)
{
    struct fixture *fx = *state;
    /* Neither HOME nor AWS_SHARED_CREDENTIALS_FILE. */
    expect_config_error(NULL, "HOME", "AWS_SHARED_CREDENTIALS_FILE");
    setenv("HOME", fx->dir, 1);
    expect_config_error(NULL, ".aws/credentials", "does not exist");
    named_dir(fx, ".aws");
    named_file(fx, ".aws/credentials", TWO_PROFILES);
    expect_creds("dev", DEV_ID, DEV_SECRET, DEV_TOKEN);
    /* The CLI expands ~ in AWS_SHARED_CREDENTIALS_FILE. */
    named_file(fx, "elsewhere",
               "[default]\naws_access_key_id = " DEV_ID "\naws_secret_access_key = " DEV_SECRET "\n");
    use_file("~/elsewhere");
    expect_creds(NULL, DEV_ID, DEV_SECRET, NULL);
}

static void test_not_a_regular_file(void **state)
{
    struct fixture *fx = *state;
    use_file(named_dir(fx, "a-directory"));
    expect_config_error(NULL, "a-directory", "not a regular file");
    /* A device is refused before it is opened, not read as a file. */
    use_file("/dev/null");
    expect_config_error(NULL, "/dev/null", "not a regular file");
}

/* The config file's syntax: [default] or [profile NAME], with static keys. */
static const char CONFIG[] = "[default]\n"
                             "region = us-east-1\n"
                             "aws_access_key_id = " CFG_ID "\n"
                             "aws_secret_access_key = " CFG_SECRET "\n"
                             "[profile cfg]\n"
                             "output = json\n"
                             "aws_access_key_id = " CFG_ID "\n"
                             "aws_secret_access_key = " CFG_SECRET "\n"
                             "aws_session_token = " CFG_TOKEN "\n"
                             "[profile   \"quoted\"  ]\n"
                             "aws_access_key_id = " DEV_ID "\n"
                             "aws_secret_access_key = " DEV_SECRET "\n"
                             "[bare]\n"
                             "aws_access_key_id = " DEV_ID "\n"
                             "aws_secret_access_key = " DEV_SECRET "\n"
                             "[sso-session corp]\n"
                             "sso_start_url = https://example.awsapps.com/start\n";

static void test_config_file_profiles(void **state)
{
    struct fixture *fx = *state;
    const char *config = temp_file(fx, CONFIG);
    use_config(config);
    use_file(
        named_file(fx, "no-such-profiles", "[other]\naws_access_key_id = x\naws_secret_access_key = y\n"));
    expect_creds(NULL, CFG_ID, CFG_SECRET, NULL);
    expect_creds("cfg", CFG_ID, CFG_SECRET, CFG_TOKEN);
    expect_creds("quoted", DEV_ID, DEV_SECRET, NULL);
    setenv("AWS_PROFILE", "cfg", 1);
    expect_creds(NULL, CFG_ID, CFG_SECRET, CFG_TOKEN);
    /* "[bare]" is not a profile in the config file, and "[profile x]" is not one in the credentials file. */
    expect_config_error("bare", "[bare]", config);
    expect_config_error("corp", "[corp]", "no-such-profiles");
    /* "[profile default]" names the default profile too. */
    use_config(temp_file(fx, "[profile default]\naws_access_key_id = " DEV_ID
                             "\naws_secret_access_key = " DEV_SECRET "\n"));
    expect_creds("default", DEV_ID, DEV_SECRET, NULL);
}

/* botocore's order: the credentials file, then the config file, profile by profile. */
static void test_credentials_file_wins_over_config(void **state)
{
    struct fixture *fx = *state;
    use_config(temp_file(fx, CONFIG));
    use_file(temp_file(fx, TWO_PROFILES));
    expect_creds(NULL, DEF_ID, DEF_SECRET, NULL);
    expect_creds("cfg", CFG_ID, CFG_SECRET, CFG_TOKEN);
    /* A profile in the credentials file without keys (a region only) leaves the config file's keys. */
    use_file(temp_file(fx, "[cfg]\nregion = eu-west-1\n"));
    expect_creds("cfg", CFG_ID, CFG_SECRET, CFG_TOKEN);
    /* The environment still wins over both. */
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    expect_creds("cfg", ENV_ID, ENV_SECRET, NULL);
}

static void test_config_file_incomplete(void **state)
{
    struct fixture *fx = *state;
    const char *config = temp_file(fx, "[profile half]\naws_access_key_id = " CFG_ID "\n"
                                       "[profile none]\nregion = x\n");
    use_config(config);
    expect_config_error("half", "has no aws_secret_access_key", config);
    expect_config_error("none", "aws_access_key_id or aws_secret_access_key", "[none]");
    const char *bad = temp_file(fx, "[default]\naws_access_key_id = " CFG_ID "\n" CFG_SECRET "\n");
    use_config(bad);
    expect_config_error(NULL, ":3:", bad);
}

/* Role assumption, SSO and credential_process are out of scope: an error, never another identity. */
static void test_unsupported_sources(void **state)
{
    struct fixture *fx = *state;
    const char *config = temp_file(fx, "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
                                       "source_profile = default\n"
                                       "[profile sso]\nsso_session = corp\nsso_account_id = 1\n"
                                       "[profile process]\ncredential_process = /bin/get-creds\n");
    use_config(config);
    use_file(temp_file(fx, "[role]\naws_access_key_id = " DEV_ID "\naws_secret_access_key = " DEV_SECRET
                           "\n[process]\naws_access_key_id = " DEV_ID "\naws_secret_access_key = " DEV_SECRET
                           "\n"));
    /* The CLI would assume the role even with keys in the credentials file. */
    expect_config_error("role", "role_arn", config);
    expect_config_error("sso", "sso_session", "does not assume roles");
    /* credential_process comes after the credentials file's keys and before the config file's. */
    expect_creds("process", DEV_ID, DEV_SECRET, NULL);
    use_file(temp_file(fx, "[default]\n"));
    expect_config_error("process", "credential_process", config);

    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token", 1);
    expect_config_error("cfg", "AWS_WEB_IDENTITY_TOKEN_FILE", "web identity");
    /* ... unless the environment has keys, which the CLI uses first. */
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    expect_creds(NULL, ENV_ID, ENV_SECRET, NULL);
}

static void test_config_home_fallback(void **state)
{
    struct fixture *fx = *state;
    setenv("HOME", fx->dir, 1);
    named_dir(fx, ".aws");
    named_file(fx, ".aws/config", CONFIG);
    expect_creds("cfg", CFG_ID, CFG_SECRET, CFG_TOKEN);
    named_file(fx, "cfg-elsewhere",
               "[profile x]\naws_access_key_id = " DEV_ID "\naws_secret_access_key = " DEV_SECRET "\n");
    use_config("~/cfg-elsewhere");
    expect_creds("x", DEV_ID, DEV_SECRET, NULL);
}

/* With nothing anywhere, the message says what was tried, file by file. */
static void test_nothing_anywhere(void **state)
{
    struct fixture *fx = *state;
    char creds[128], config[128];
    snprintf(creds, sizeof(creds), "%s/none-credentials", fx->dir);
    snprintf(config, sizeof(config), "%s/none-config", fx->dir);
    use_file(creds);
    use_config(config);
    expect_config_error(NULL, "AWS_ACCESS_KEY_ID", creds);
    expect_config_error(NULL, "no AWS credentials", config);
    /* Only a named profile has to exist. */
    expect_config_error("prod", "no profile [prod] (the configured profile)", config);
    unsetenv("AWS_CONFIG_FILE");
    expect_config_error(NULL, "neither AWS_CONFIG_FILE nor HOME", creds);
}

/* ---- No copy of a secret left in freed memory ---- */

/*
 * The sanitizer runtime's allocator hooks, which see every block inih, libc and widgetd free (GCC ships no
 * header for them). Weak: a build without ASan has none and skips the test.
 */
extern int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                                     void (*free_hook)(const volatile void *))
    __attribute__((weak));
extern size_t __sanitizer_get_allocated_size(const volatile void *p) __attribute__((weak));

#define WIPE_SECRET "wipeTestSecret/K7MDENG/bPxRfiCYWIPEKEY5"
#define WIPE_TOKEN "wipeTestSessionToken/IQoJb3JpZ2luX2VjWIPE=="

/* The blocks freed while spying, by address and size: read back once the load is over. */
struct freed_block {
    uintptr_t p;
    size_t size;
};
static struct freed_block freed[16384];
static size_t n_freed;
static bool spying, freed_overflow;

static void spy_malloc(const volatile void *p, size_t size)
{
    (void)size;
    if (!spying)
        return;
    /* A freed block handed out again is live memory, no longer freed memory. */
    for (size_t i = 0; i < n_freed; i++)
        if (freed[i].p == (uintptr_t)p)
            freed[i] = freed[--n_freed];
}

static void spy_free(const volatile void *p)
{
    if (!spying)
        return;
    if (n_freed == sizeof(freed) / sizeof(freed[0])) {
        freed_overflow = true;
        return;
    }
    /* Called just before the block is freed, while the allocator still knows its size. */
    freed[n_freed++] = (struct freed_block){(uintptr_t)p, __sanitizer_get_allocated_size(p)};
}

static void spy_start(void)
{
    static bool installed;
    if (!installed)
        assert_int_not_equal(__sanitizer_install_malloc_and_free_hooks(spy_malloc, spy_free), 0);
    installed = true;
    n_freed = 0;
    freed_overflow = false;
    spying = true;
}

/* Reads memory the way a debugger would (past the allocator, past ASan): -1 when it is unmapped. */
static ssize_t peek(uintptr_t p, void *out, size_t n)
{
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t r = pread(fd, out, n, (off_t)p);
    close(fd);
    return r;
}

/*
 * Stops spying; returns how many blocks freed since spy_start() still hold one of needles. The needles
 * skip a secret's first 16 bytes: ASan writes into a freed block's first bytes, which would hide a copy
 * that starts the block (a strdup()).
 */
static size_t spy_copies_left(const char *const *needles, size_t n_needles)
{
    spying = false;
    assert_false(freed_overflow);
    size_t copies = 0;
    for (size_t i = 0; i < n_freed; i++) {
        unsigned char *after = malloc(freed[i].size + 1);
        assert_non_null(after);
        if (peek(freed[i].p, after, freed[i].size) == (ssize_t)freed[i].size) {
            for (size_t j = 0; j < n_needles; j++) {
                if (memmem(after, freed[i].size, needles[j] + 16, strlen(needles[j] + 16)) != NULL) {
                    copies++;
                    break;
                }
            }
        }
        free(after);
    }
    return copies;
}

static void test_no_secret_in_freed_memory(void **state)
{
    struct fixture *fx = *state;
    if (__sanitizer_install_malloc_and_free_hooks == NULL || __sanitizer_get_allocated_size == NULL)
        skip(); /* not an ASan build: nothing sees the frees */
    static const char *const needles[] = {WIPE_SECRET, WIPE_TOKEN};

    /* The spy sees a copy freed unwiped. */
    spy_start();
    char *copy = strdup("aws_secret_access_key = " WIPE_SECRET);
    assert_non_null(copy);
    free(copy);
    assert_int_equal(spy_copies_left(needles, 2), 1);

    /* The secret on the last line: what inih's line buffer holds when the parse ends. */
    use_file(temp_file(fx, "[other]\naws_secret_access_key = " WIPE_SECRET "\n"
                           "[default]\naws_access_key_id = " DEF_ID "\n"
                           "aws_session_token = " WIPE_TOKEN "\n"
                           "aws_secret_access_key = " WIPE_SECRET "\n"));
    struct wd_credentials c = {0};
    struct wd_error err = {0};
    spy_start();
    int rc = wd_credentials_load(NULL, &c, &err);
    bool loaded = rc == 0 && c.secret_access_key != NULL && strcmp(c.secret_access_key, WIPE_SECRET) == 0 &&
                  c.session_token != NULL && strcmp(c.session_token, WIPE_TOKEN) == 0;
    wd_credentials_clear(&c);
    size_t left = spy_copies_left(needles, 2);
    if (rc != 0)
        fail_msg("load failed: %s", err.message);
    assert_true(loaded);
    /* The file's buffer, inih's line buffer and the values were all freed: none may hold a copy. */
    assert_true(n_freed >= 3);
    if (left != 0)
        fail_msg("%zu of %zu blocks freed by wd_credentials_load() and wd_credentials_clear() still hold "
                 "the secret",
                 left, n_freed);
}

static void test_clear_accepts_empty(void **state)
{
    (void)state;
    struct wd_credentials c = {0};
    wd_credentials_clear(&c);
    wd_credentials_clear(&c);
    wd_credentials_clear(NULL);
    c.access_key_id = strdup("half-filled");
    assert_non_null(c.access_key_id);
    wd_credentials_clear(&c);
    assert_null(c.access_key_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_wins_over_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_half_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_empty_is_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_syntax_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_file_wins_over_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_home_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_anywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_in_freed_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_accepts_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
