/*
 * Unit tests for the credentials provider: the chain's order, the container endpoint and IMDSv2 played by
 * a loopback fixture, refreshing before expiry, and concurrent gets during a refresh. Nothing here may
 * reach 169.254.169.254 or 169.254.170.2: both are pointed at 127.0.0.1 before every test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "credentials.h"
#include "credentials_chain.h"
#include "credentials_metadata.h"
#include "http.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

#define ENV_ID "AKIAENVIRONMENT00001"
#define ENV_SECRET "envSecret/K7MDENG/bPxRfiCYEXAMPLEKEY01"
#define FILE_ID "AKIAFILEPROFILE00001"
#define FILE_SECRET "fileSecret/K7MDENG/bPxRfiCYEXAMPLEKEY02"
#define CONF_ID "AKIACONFIGPROFILE001"
#define CONF_SECRET "confSecret/K7MDENG/bPxRfiCYEXAMPLEKEY03"
#define CA_ID "ASIACONTAINERAAAAAA1"
#define CA_SECRET "containerSecretA/K7MDENG/bPxRfiCYEXAMPLE4"
#define CA_TOKEN "containerSessionTokenA/IQoJb3JpZ2luX2VjEXAMPLE=="
#define CB_ID "ASIACONTAINERBBBBBB2"
#define CB_SECRET "containerSecretB/K7MDENG/bPxRfiCYEXAMPLE5"
#define CB_TOKEN "containerSessionTokenB/IQoJb3JpZ2luX2VjEXAMPLE=="
#define IA_ID "ASIAINSTANCEAAAAAAA1"
#define IA_SECRET "instanceSecretA/K7MDENG/bPxRfiCYEXAMPLE6"
#define IA_TOKEN "instanceSessionTokenA/IQoJb3JpZ2luX2VjEXAMPLE=="
#define IB_ID "ASIAINSTANCEBBBBBBB2"
#define IB_SECRET "instanceSecretB/K7MDENG/bPxRfiCYEXAMPLE7"
#define IB_TOKEN "instanceSessionTokenB/IQoJb3JpZ2luX2VjEXAMPLE=="
#define AUTH_TOKEN "containerAuthorizationToken-4f1c9a"
#define FILE_AUTH_1 "fileAuthorizationToken-one-7d2e"
#define FILE_AUTH_2 "fileAuthorizationToken-two-8e3f"
#define IMDS_TOKEN_1 "imdsSessionToken-AQAEAFk1-one=="
#define IMDS_TOKEN_2 "imdsSessionToken-AQAEAFk1-two=="
#define ROLE "widgetd-role"

static const char *const SECRETS[] = {
    ENV_SECRET, FILE_SECRET, CONF_SECRET, CA_SECRET,  CA_TOKEN,    CB_SECRET,   CB_TOKEN,     IA_SECRET,
    IA_TOKEN,   IB_SECRET,   IB_TOKEN,    AUTH_TOKEN, FILE_AUTH_1, FILE_AUTH_2, IMDS_TOKEN_1, IMDS_TOKEN_2};

static const char *const VARS[] = {"AWS_ACCESS_KEY_ID",
                                   "AWS_SECRET_ACCESS_KEY",
                                   "AWS_SESSION_TOKEN",
                                   "AWS_PROFILE",
                                   "AWS_SHARED_CREDENTIALS_FILE",
                                   "AWS_CONFIG_FILE",
                                   "CREDENTIALS_DIRECTORY",
                                   "HOME",
                                   "AWS_ROLE_ARN",
                                   "AWS_WEB_IDENTITY_TOKEN_FILE",
                                   "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                   "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                   "AWS_EC2_METADATA_DISABLED",
                                   "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                   "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                   "http_proxy",
                                   "HTTP_PROXY",
                                   "https_proxy",
                                   "HTTPS_PROXY",
                                   "all_proxy",
                                   "ALL_PROXY"};

/* The provider's clock, moved by the tests. */
static _Atomic time_t fake_now;

static time_t fake_clock(void)
{
    return atomic_load(&fake_now);
}

static void advance(time_t s)
{
    atomic_fetch_add(&fake_now, s);
}

struct fixture {
    char dir[64];
    char paths[8][128]; /* files to remove */
    size_t n_paths;
    struct fx_server *servers[4];
    size_t n_servers;
    char dead_url[64]; /* a loopback port nothing listens on */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
        unsetenv(VARS[i]);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wd-chain-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->dead_url, sizeof(fx->dead_url), "http://127.0.0.1:%d", fx_closed_port());

    /* Never the real files, never the link-local endpoints, never a proxy. */
    char none[128];
    snprintf(none, sizeof(none), "%s/no-credentials", fx->dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", none, 1);
    snprintf(none, sizeof(none), "%s/no-config", fx->dir);
    setenv("AWS_CONFIG_FILE", none, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx->dead_url, 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    wd_credentials_set_container_host_for_tests(fx->dead_url);

    atomic_store(&fake_now, time(NULL));
    wd_credentials_set_clock_for_tests(fake_clock);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < fx->n_servers; i++)
        fx_free(fx->servers[i]);
    for (size_t i = 0; i < fx->n_paths; i++)
        unlink(fx->paths[i]);
    rmdir(fx->dir);
    free(fx);
    for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
        unsetenv(VARS[i]);
    wd_credentials_set_container_host_for_tests(NULL);
    wd_credentials_set_clock_for_tests(NULL);
    return 0;
}

static struct fx_server *server(struct fixture *fx, const struct fx_step *steps, size_t n)
{
    assert_true(fx->n_servers < sizeof(fx->servers) / sizeof(fx->servers[0]));
    struct fx_server *s = fx_start(steps, n);
    fx->servers[fx->n_servers++] = s;
    return s;
}

/* Writes (or rewrites) dir/name; returns the path, owned by the fixture. */
static const char *file(struct fixture *fx, const char *name, const char *content)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(content, f) >= 0);
    assert_int_equal(fclose(f), 0);
    for (size_t i = 0; i < fx->n_paths; i++)
        if (strcmp(fx->paths[i], path) == 0)
            return fx->paths[i];
    assert_true(fx->n_paths < sizeof(fx->paths) / sizeof(fx->paths[0]));
    snprintf(fx->paths[fx->n_paths], sizeof(fx->paths[0]), "%s", path);
    return fx->paths[fx->n_paths++];
}

/* The answer of either endpoint; IMDS adds Code, LastUpdated and Type. */
static const char *answer(char *buf, size_t size, bool imds, const char *id, const char *secret,
                          const char *token, time_t expiration)
{
    char when[32];
    struct tm tm;
    gmtime_r(&expiration, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(
        buf, size,
        "{%s\"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", \"Token\": \"%s\", "
        "\"Expiration\": \"%s\"%s}",
        imds ? "\"Code\": \"Success\", \"LastUpdated\": \"2026-01-01T00:00:00Z\", \"Type\": \"AWS-HMAC\", "
             : "",
        id, secret, token, when, imds ? "" : ", \"RoleArn\": \"arn:aws:iam::123456789012:role/task\"");
    return buf;
}

static void no_secret_in(const char *msg)
{
    for (size_t i = 0; i < sizeof(SECRETS) / sizeof(SECRETS[0]); i++)
        if (strstr(msg, SECRETS[i]) != NULL)
            fail_msg("a secret leaks: %s", msg);
}

static struct wd_credentials_provider *new_ok(const char *profile, const char *source)
{
    struct wd_error err = {0};
    struct wd_credentials_provider *p = wd_credentials_provider_new(profile, &err);
    if (p == NULL)
        fail_msg("provider_new failed (%s): %s", wd_error_class_name(err.cls), err.message);
    const char *got = wd_credentials_provider_source(p);
    no_secret_in(got);
    if (source != NULL && strcmp(got, source) != 0)
        fail_msg("source \"%s\", want \"%s\"", got, source);
    return p;
}

static void expect_new_error(const char *profile, enum wd_error_class cls, const char *want1,
                             const char *want2)
{
    struct wd_error err = {0};
    struct wd_credentials_provider *p = wd_credentials_provider_new(profile, &err);
    if (p != NULL) {
        const char *source = wd_credentials_provider_source(p);
        wd_credentials_provider_free(p);
        fail_msg("provider_new succeeded with %s", source);
    }
    if (err.cls != cls)
        fail_msg("class %s, want %s: %s", wd_error_class_name(err.cls), wd_error_class_name(cls),
                 err.message);
    if (want1 != NULL && strstr(err.message, want1) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err.message, want1);
    if (want2 != NULL && strstr(err.message, want2) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err.message, want2);
    no_secret_in(err.message);
}

static void expect_get(struct wd_credentials_provider *p, const char *id, const char *secret,
                       const char *token)
{
    struct wd_credentials c = {0};
    struct wd_error err = {0};
    if (wd_credentials_provider_get(p, &c, &err) != 0)
        fail_msg("get failed (%s): %s", wd_error_class_name(err.cls), err.message);
    assert_string_equal(c.access_key_id, id);
    assert_string_equal(c.secret_access_key, secret);
    if (token == NULL)
        assert_null(c.session_token);
    else
        assert_string_equal(c.session_token, token);
    wd_credentials_clear(&c);
}

static const char *header(struct fx_server *s, size_t i, const char *name, char *buf, size_t size)
{
    const struct fx_request *r = fx_request(s, i);
    if (r == NULL)
        fail_msg("no request %zu", i);
    return fx_header(r, name, buf, size);
}

static void set_full_uri(struct fx_server *s, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", fx_url(s), path);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

static void use_imds(struct fx_server *s)
{
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx_url(s), 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");
}

#define TOKEN_PATH "/latest/api/token"
#define ROLES_PATH "/latest/meta-data/iam/security-credentials/"

/* ---- The chain ---- */

/* Environment, then the credentials file, then the config file, then the container, then IMDS. */
static void test_chain_order(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], ia[1024];
    struct fx_step cs[] = {
        {"GET", "/creds", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 3600), 0}};
    struct fx_step is[] = {{"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
                           {"GET", ROLES_PATH, 200, ROLE "\n", 0},
                           {"GET", ROLES_PATH ROLE, 200,
                            answer(ia, sizeof(ia), true, IA_ID, IA_SECRET, IA_TOKEN, now + 3600), 0}};
    struct fx_server *container = server(fx, cs, 1);
    struct fx_server *imds = server(fx, is, 3);
    set_full_uri(container, "/creds");
    use_imds(imds);
    const char *creds =
        file(fx, "credentials",
             "[default]\naws_access_key_id = " FILE_ID "\naws_secret_access_key = " FILE_SECRET "\n");
    const char *config =
        file(fx, "config",
             "[default]\naws_access_key_id = " CONF_ID "\naws_secret_access_key = " CONF_SECRET "\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    setenv("AWS_CONFIG_FILE", config, 1);
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    char want[256];

    struct wd_credentials_provider *p = new_ok(NULL, "environment");
    expect_get(p, ENV_ID, ENV_SECRET, NULL);
    wd_credentials_provider_free(p);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    snprintf(want, sizeof(want), "shared credentials file %s (profile default)", creds);
    p = new_ok(NULL, want);
    expect_get(p, FILE_ID, FILE_SECRET, NULL);
    wd_credentials_provider_free(p);

    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    snprintf(want, sizeof(want), "config file %s (profile default)", config);
    p = new_ok(NULL, want);
    expect_get(p, CONF_ID, CONF_SECRET, NULL);
    wd_credentials_provider_free(p);
    assert_int_equal(fx_count(container), 0);

    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    snprintf(want, sizeof(want), "container endpoint %s", fx_url(container));
    p = new_ok(NULL, want);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN);
    wd_credentials_provider_free(p);
    assert_int_equal(fx_count(container), 1);
    assert_int_equal(fx_count(imds), 0);

    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    p = new_ok(NULL, "instance metadata (role " ROLE ")");
    expect_get(p, IA_ID, IA_SECRET, IA_TOKEN);
    wd_credentials_provider_free(p);
    assert_int_equal(fx_count(imds), 3);
    assert_true(fx_all_expected(container) && fx_all_expected(imds));

    /* With nothing left: a config error that lists every source. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "environment: AWS_ACCESS_KEY_ID", "/nonexistent/credentials");
    expect_new_error(NULL, WD_ERR_CONFIG, "/nonexistent/config", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    expect_new_error(NULL, WD_ERR_CONFIG, "no AWS credentials", "instance metadata: disabled");
}

/* Profiles from both files; a named profile that exists nowhere stops the chain. */
/* No credentials yet is not the end: resolve() looks again, and a file installed later is found. */
static void test_resolve_later(void **state)
{
    struct fixture *fx = *state;
    struct wd_error err = {0};
    struct wd_credentials c = {0};
    struct wd_credentials_provider *p = wd_credentials_provider_create(NULL, &err);
    assert_non_null(p);
    assert_string_equal(wd_credentials_provider_source(p), "none yet");
    assert_int_equal(wd_credentials_provider_get(p, &c, &err), -1);
    assert_int_equal(err.cls, WD_ERR_AUTH);
    assert_null(c.access_key_id);
    assert_int_equal(wd_credentials_provider_resolve(p, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    if (strstr(err.message, "no AWS credentials") == NULL || strstr(err.message, "no-credentials") == NULL)
        fail_msg("\"%s\" does not say what was tried", err.message);
    assert_string_equal(wd_credentials_provider_source(p), "none yet");

    file(fx, "no-credentials",
         "[default]\naws_access_key_id = " FILE_ID "\naws_secret_access_key = " FILE_SECRET "\n");
    assert_int_equal(wd_credentials_provider_resolve(p, &err), 1);
    assert_non_null(strstr(wd_credentials_provider_source(p), "shared credentials file"));
    assert_int_equal(wd_credentials_provider_resolve(p, &err), 0); /* already has them: no new look */
    expect_get(p, FILE_ID, FILE_SECRET, NULL);
    wd_credentials_provider_free(p);
}

static void test_profiles_in_both_files(void **state)
{
    struct fixture *fx = *state;
    char ca[1024];
    struct fx_step cs[] = {{"GET", "/creds", 200,
                            answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, fake_clock() + 3600),
                            0}};
    struct fx_server *container = server(fx, cs, 1);
    set_full_uri(container, "/creds");
    const char *creds =
        file(fx, "credentials",
             "[dev]\naws_access_key_id = " FILE_ID "\naws_secret_access_key = " FILE_SECRET "\n");
    const char *config =
        file(fx, "config",
             "[profile dev]\naws_access_key_id = " CONF_ID "\naws_secret_access_key = " CONF_SECRET
             "\n[profile cfg]\nregion = eu-west-1\naws_access_key_id = " CONF_ID
             "\naws_secret_access_key = " CONF_SECRET "\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    setenv("AWS_CONFIG_FILE", config, 1);
    char want[256];

    snprintf(want, sizeof(want), "shared credentials file %s (profile dev)", creds);
    struct wd_credentials_provider *p = new_ok("dev", want);
    expect_get(p, FILE_ID, FILE_SECRET, NULL);
    wd_credentials_provider_free(p);

    snprintf(want, sizeof(want), "config file %s (profile cfg)", config);
    p = new_ok("cfg", want);
    expect_get(p, CONF_ID, CONF_SECRET, NULL);
    expect_get(p, CONF_ID, CONF_SECRET, NULL);
    wd_credentials_provider_free(p);
    setenv("AWS_PROFILE", "cfg", 1);
    p = new_ok(NULL, want);
    wd_credentials_provider_free(p);

    /* Not the container's identity in its place. */
    expect_new_error("prod", WD_ERR_CONFIG, "no profile [prod]", config);
    unsetenv("AWS_PROFILE");
    snprintf(want, sizeof(want), "container endpoint %s", fx_url(container));
    p = new_ok(NULL, want); /* the default profile need not exist */
    wd_credentials_provider_free(p);
    assert_int_equal(fx_count(container), 1);
}

/* Static credentials never expire: get copies them, with no refresh and no endpoint. */
static void test_static_never_refreshes(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", ENV_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
    setenv("AWS_SESSION_TOKEN", CA_TOKEN, 1);
    struct wd_credentials_provider *p = new_ok(NULL, "environment");
    advance(400 * 24 * 3600);
    struct wd_credentials c = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_provider_get(p, &c, &err), 0);
    assert_int_equal(c.expiration, 0);
    assert_string_equal(c.session_token, CA_TOKEN);
    wd_credentials_clear(&c);
    wd_credentials_provider_free(p);
    wd_credentials_provider_free(NULL);
}

/* ---- The container endpoint ---- */

static void test_container_relative_uri(void **state)
{
    struct fixture *fx = *state;
    time_t exp = fake_clock() + 3600;
    char ca[1024], h[256];
    struct fx_step cs[] = {{"GET", "/v2/credentials/6b1f0c2e-aaaa", 200,
                            answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, exp), 0}};
    struct fx_server *c = server(fx, cs, 1);
    wd_credentials_set_container_host_for_tests(fx_url(c));
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/6b1f0c2e-aaaa", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.9.9.9/ignored", 1); /* the relative one wins */
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH_TOKEN, 1);
    char want[128];
    snprintf(want, sizeof(want), "container endpoint %s", fx_url(c));
    struct wd_credentials_provider *p = new_ok(NULL, want);

    struct wd_credentials got = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_provider_get(p, &got, &err), 0);
    assert_string_equal(got.access_key_id, CA_ID);
    assert_string_equal(got.secret_access_key, CA_SECRET);
    assert_string_equal(got.session_token, CA_TOKEN);
    assert_int_equal(got.expiration, exp);
    wd_credentials_clear(&got);
    wd_credentials_provider_free(p);

    assert_int_equal(fx_count(c), 1);
    assert_true(fx_all_expected(c));
    assert_non_null(header(c, 0, "Authorization", h, sizeof(h)));
    assert_string_equal(h, AUTH_TOKEN);

    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/credentials/x", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "does not start with /", NULL);
}

/* The token file beats the token variable and is read again at each refresh. */
static void test_container_token_file(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], cb[1024], h[256];
    struct fx_step cs[] = {
        {"GET", "/creds", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 240), 0},
        {"GET", "/creds", 200, answer(cb, sizeof(cb), false, CB_ID, CB_SECRET, CB_TOKEN, now + 7200), 0}};
    struct fx_server *c = server(fx, cs, 2);
    set_full_uri(c, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH_TOKEN, 1);
    const char *tok = file(fx, "token", FILE_AUTH_1 "\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tok, 1);

    struct wd_credentials_provider *p = new_ok(NULL, NULL);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN);
    file(fx, "token", FILE_AUTH_2); /* rotated, as EKS does */
    advance(11);
    expect_get(p, CB_ID, CB_SECRET, CB_TOKEN);
    wd_credentials_provider_free(p);

    assert_int_equal(fx_count(c), 2);
    assert_string_equal(header(c, 0, "Authorization", h, sizeof(h)), FILE_AUTH_1);
    assert_string_equal(header(c, 1, "Authorization", h, sizeof(h)), FILE_AUTH_2);
}

/* A token that could smuggle a header in, or an unreadable file: no request at all. */
static void test_container_bad_token(void **state)
{
    struct fixture *fx = *state;
    struct fx_step cs[] = {{"GET", "/creds", 500, "", 0}};
    struct fx_server *c = server(fx, cs, 1);
    set_full_uri(c, "/creds");

    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH_TOKEN "\r\nX-Injected: 1", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "line break");
    const char *tok = file(fx, "token", FILE_AUTH_1 "\nX-Injected: " FILE_AUTH_2 "\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tok, 1);
    expect_new_error(NULL, WD_ERR_CONFIG, tok, "more than one line");
    file(fx, "token", "\n");
    expect_new_error(NULL, WD_ERR_CONFIG, tok, "empty");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent/token", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "/nonexistent/token", "No such file");
    assert_int_equal(fx_count(c), 0);
}

/* FULL_URI: https anywhere, plain http only to loopback (or the ECS/EKS addresses); nothing odd. */
static void test_container_full_uri_rules(void **state)
{
    struct fixture *fx = *state;
    static const char *const refused[] = {
        "http://10.0.0.1/creds",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1@evil.example/",
        "http://evil.example\\@127.0.0.1/",
        "http://localhost.evil.example/",
        "http://[::ffff:10.0.0.1]/creds",
        "http://127.0.0.1:80:80/creds",
        "http://127.0.0.1%2f@evil.example/",
        "ftp://127.0.0.1/creds",
        "file:///etc/passwd",
        "http:///creds",
        "http://0x7f000001/creds",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i], 1);
        expect_new_error(NULL, WD_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL);
    }

    char ca[1024];
    struct fx_step cs[] = {{"GET", "/creds?x=1", 200,
                            answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, fake_clock() + 3600),
                            0}};
    struct fx_server *c = server(fx, cs, 1);
    char url[128];
    snprintf(url, sizeof(url), "http://localhost:%s/creds?x=1", strrchr(fx_url(c), ':') + 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    char want[128];
    snprintf(want, sizeof(want), "container endpoint http://localhost:%s", strrchr(fx_url(c), ':') + 1);
    struct wd_credentials_provider *p = new_ok(NULL, want);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN);
    wd_credentials_provider_free(p);
    assert_true(fx_all_expected(c));
}

/* A named container endpoint that fails is an error, classified, and never a fall-through to IMDS. */
static void test_container_errors(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char expired[1024];
    answer(expired, sizeof(expired), false, CA_ID, CA_SECRET, CA_TOKEN, now - 1);
    struct fx_step cs[] = {
        {"GET", "/c", 403, "{\"message\": \"bad token " AUTH_TOKEN "\"}", 0},
        {"GET", "/c", 503, "", 0},
        {"GET", "/c", 0, NULL, 0}, /* hangs up */
        {"GET", "/c", 200, "{\"AccessKeyId\": \"" CA_ID "\", \"SecretAccessKey\": \"" CA_SECRET "\" oops", 0},
        {"GET", "/c", 200, "{\"AccessKeyId\": \"" CA_ID "\", \"SecretAccessKey\": \"" CA_SECRET "\"}", 0},
        {"GET", "/c", 200,
         "{\"AccessKeyId\": \"" CA_ID "\", \"SecretAccessKey\": \"" CA_SECRET "\", \"Expiration\": \"soon\"}",
         0},
        {"GET", "/c", 200, expired, 0},
        {"GET", "/c", 200, "[\"" CA_SECRET "\"]", 0},
    };
    struct fx_step is[] = {{"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0}};
    struct fx_server *c = server(fx, cs, sizeof(cs) / sizeof(cs[0]));
    struct fx_server *imds = server(fx, is, 1);
    use_imds(imds);
    set_full_uri(c, "/c");

    expect_new_error(NULL, WD_ERR_CONFIG, "HTTP 403", "container endpoint");
    expect_new_error(NULL, WD_ERR_TRANSIENT, "HTTP 503", NULL);
    expect_new_error(NULL, WD_ERR_TRANSIENT, "container endpoint", NULL);
    expect_new_error(NULL, WD_ERR_INTERNAL, "not a JSON object", NULL);
    expect_new_error(NULL, WD_ERR_INTERNAL, "no Expiration", NULL);
    expect_new_error(NULL, WD_ERR_INTERNAL, "\"soon\" is not an ISO 8601 time", NULL);
    expect_new_error(NULL, WD_ERR_TRANSIENT, "expired", NULL);
    expect_new_error(NULL, WD_ERR_INTERNAL, "not a JSON object", NULL);
    assert_int_equal(fx_count(c), sizeof(cs) / sizeof(cs[0]));
    assert_int_equal(fx_count(imds), 0);
}

/* ---- Instance metadata ---- */

static void test_imds_v2(void **state)
{
    struct fixture *fx = *state;
    time_t exp = fake_clock() + 6 * 3600;
    char ia[1024], h[256];
    struct fx_step is[] = {
        {"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
        {"GET", ROLES_PATH, 200, ROLE, 0},
        {"GET", ROLES_PATH ROLE, 200, answer(ia, sizeof(ia), true, IA_ID, IA_SECRET, IA_TOKEN, exp), 0}};
    struct fx_server *imds = server(fx, is, 3);
    char endpoint[128];
    snprintf(endpoint, sizeof(endpoint), "%s/", fx_url(imds)); /* a trailing slash is fine */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);

    struct wd_credentials_provider *p = new_ok(NULL, "instance metadata (role " ROLE ")");
    struct wd_credentials c = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_provider_get(p, &c, &err), 0);
    assert_string_equal(c.secret_access_key, IA_SECRET);
    assert_int_equal(c.expiration, exp);
    wd_credentials_clear(&c);
    wd_credentials_provider_free(p);

    assert_int_equal(fx_count(imds), 3);
    assert_true(fx_all_expected(imds));
    assert_string_equal(header(imds, 0, "X-aws-ec2-metadata-token-ttl-seconds", h, sizeof(h)), "21600");
    assert_null(header(imds, 0, "X-aws-ec2-metadata-token", h, sizeof(h)));
    for (size_t i = 1; i < 3; i++) {
        assert_non_null(header(imds, i, "X-aws-ec2-metadata-token", h, sizeof(h)));
        assert_string_equal(h, IMDS_TOKEN_1);
    }
}

/* A server that refuses the token PUT (IMDSv1 only) is never asked without a token. */
static void test_imds_v1_only_refused(void **state)
{
    struct fixture *fx = *state;
    char ia[1024];
    answer(ia, sizeof(ia), true, IA_ID, IA_SECRET, IA_TOKEN, fake_clock() + 3600);
    static const int refusals[] = {403, 405, 404};
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct fx_step is[] = {{"PUT", TOKEN_PATH, refusals[i], "", 0},
                               {"GET", ROLES_PATH, 200, ROLE, 0},
                               {"GET", ROLES_PATH ROLE, 200, ia, 0}};
        struct fx_server *imds = server(fx, is, 3);
        use_imds(imds);
        expect_new_error(NULL, WD_ERR_CONFIG, "refused the IMDSv2 session token", "never uses IMDSv1");
        assert_int_equal(fx_count(imds), 1);
    }
}

static void test_imds_disabled(void **state)
{
    struct fixture *fx = *state;
    struct fx_step is[] = {{"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0}};
    struct fx_server *imds = server(fx, is, 1);
    use_imds(imds);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "instance metadata: disabled by AWS_EC2_METADATA_DISABLED", NULL);
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "disabled", NULL);
    assert_int_equal(fx_count(imds), 0);
}

/* No metadata service (not on EC2): a config error, quickly. */
static void test_imds_unreachable(void **state)
{
    struct fixture *fx = *state;
    unsetenv("AWS_EC2_METADATA_DISABLED");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_new_error(NULL, WD_ERR_CONFIG, fx->dead_url, "no answer");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);

    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254", 1);
    expect_new_error(NULL, WD_ERR_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://");
}

static void test_imds_no_role(void **state)
{
    struct fixture *fx = *state;
    struct fx_step is[] = {{"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
                           {"GET", ROLES_PATH, 404, "", 0},
                           {"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
                           {"GET", ROLES_PATH, 200, "../../user-data\n", 0},
                           {"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
                           {"GET", ROLES_PATH, 200, ROLE, 0},
                           {"GET", ROLES_PATH ROLE, 200, "{\"Code\": \"AssumeRoleUnauthorizedAccess\"}", 0}};
    struct fx_server *imds = server(fx, is, sizeof(is) / sizeof(is[0]));
    use_imds(imds);
    expect_new_error(NULL, WD_ERR_CONFIG, "no IAM role is attached", "container endpoint:");
    expect_new_error(NULL, WD_ERR_INTERNAL, "not an IAM role name", NULL);
    expect_new_error(NULL, WD_ERR_TRANSIENT, "AssumeRoleUnauthorizedAccess", NULL);
    assert_true(fx_all_expected(imds));
}

/* ---- Refreshing ---- */

/* Credentials expiring within 5 minutes are replaced by the next get (after a 10 s hold). */
static void test_refresh_before_expiry(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ia[1024], ib[1024], h[256];
    struct fx_step is[] = {
        {"PUT", TOKEN_PATH, 200, IMDS_TOKEN_1, 0},
        {"GET", ROLES_PATH, 200, ROLE, 0},
        {"GET", ROLES_PATH ROLE, 200, answer(ia, sizeof(ia), true, IA_ID, IA_SECRET, IA_TOKEN, now + 240), 0},
        {"PUT", TOKEN_PATH, 200, IMDS_TOKEN_2, 0},
        {"GET", ROLES_PATH, 200, ROLE, 0},
        {"GET", ROLES_PATH ROLE, 200,
         answer(ib, sizeof(ib), true, IB_ID, IB_SECRET, IB_TOKEN, now + 6 * 3600), 0}};
    struct fx_server *imds = server(fx, is, 6);
    use_imds(imds);
    struct wd_credentials_provider *p = new_ok(NULL, "instance metadata (role " ROLE ")");
    expect_get(p, IA_ID, IA_SECRET, IA_TOKEN); /* just fetched: not asked again at once */
    assert_int_equal(fx_count(imds), 3);
    advance(11);
    expect_get(p, IB_ID, IB_SECRET, IB_TOKEN);
    assert_int_equal(fx_count(imds), 6);
    advance(3600);
    expect_get(p, IB_ID, IB_SECRET, IB_TOKEN); /* hours left: no refresh */
    assert_int_equal(fx_count(imds), 6);
    wd_credentials_provider_free(p);
    assert_true(fx_all_expected(imds));
    /* A new session token for the refresh. */
    assert_string_equal(header(imds, 4, "X-aws-ec2-metadata-token", h, sizeof(h)), IMDS_TOKEN_2);
    assert_string_equal(header(imds, 5, "X-aws-ec2-metadata-token", h, sizeof(h)), IMDS_TOKEN_2);
}

/* A refresh that fails (an error, a timeout) keeps credentials that are still valid. */
static void test_failed_refresh_keeps_valid(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], cb[1024];
    struct fx_step cs[] = {
        {"GET", "/c", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 240), 0},
        {"GET", "/c", 500, "", 0},
        {"GET", "/c", 200, "never sent in time", 2500},
        {"GET", "/c", 400, "{}", 0},
        {"GET", "/c", 200, answer(cb, sizeof(cb), false, CB_ID, CB_SECRET, CB_TOKEN, now + 3600), 0}};
    struct fx_server *c = server(fx, cs, sizeof(cs) / sizeof(cs[0]));
    set_full_uri(c, "/c");
    struct wd_credentials_provider *p = new_ok(NULL, NULL);

    advance(11);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN); /* the 500 */
    assert_int_equal(fx_count(c), 2);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN); /* within the hold: not asked */
    assert_int_equal(fx_count(c), 2);

    advance(11);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN); /* the timeout */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3); /* bounded by the 2 s total timeout */
    assert_int_equal(fx_count(c), 3);

    advance(11);
    expect_get(p, CA_ID, CA_SECRET, CA_TOKEN); /* a 400 */
    advance(11);
    expect_get(p, CB_ID, CB_SECRET, CB_TOKEN);
    wd_credentials_provider_free(p);
}

/* Expired and not renewable: an error that says so, out untouched, and a hold before the next try. */
static void test_expired_refresh_fails(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], cb[1024];
    struct fx_step cs[] = {
        {"GET", "/c", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 240), 0},
        {"GET", "/c", 503, "", 0},
        {"GET", "/c", 200, answer(cb, sizeof(cb), false, CB_ID, CB_SECRET, CB_TOKEN, now + 3600), 0}};
    struct fx_server *c = server(fx, cs, 3);
    set_full_uri(c, "/c");
    struct wd_credentials_provider *p = new_ok(NULL, NULL);
    advance(241);

    char sentinel;
    struct wd_credentials out = {&sentinel, &sentinel, &sentinel, 42};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_provider_get(p, &out, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_non_null(strstr(err.message, "HTTP 503"));
    no_secret_in(err.message);
    assert_true(out.access_key_id == &sentinel && out.secret_access_key == &sentinel &&
                out.session_token == &sentinel && out.expiration == 42);
    wd_error_clear(&err);
    assert_int_equal(wd_credentials_provider_get(p, &out, &err), -1); /* held: fails fast */
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_int_equal(fx_count(c), 2);

    advance(11);
    expect_get(p, CB_ID, CB_SECRET, CB_TOKEN);
    wd_credentials_provider_free(p);
}

/* A refresh that times out after expiry is transient too. */
static void test_expired_refresh_times_out(void **state)
{
    struct fixture *fx = *state;
    char ca[1024];
    struct fx_step cs[] = {
        {"GET", "/c", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, fake_clock() + 100), 0},
        {"GET", "/c", 200, "late", 3000}};
    struct fx_server *c = server(fx, cs, 2);
    set_full_uri(c, "/c");
    struct wd_credentials_provider *p = new_ok(NULL, NULL);
    advance(101);
    struct wd_credentials out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_credentials_provider_get(p, &out, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_string_equal(err.code, "Timeout");
    assert_null(out.access_key_id);
    wd_credentials_provider_free(p);
}

/* ---- Concurrency ---- */

struct worker {
    struct wd_credentials_provider *p;
    pthread_barrier_t *start;
    int old_seen, new_seen, errors;
    long slow_calls; /* calls that took 600 ms or more */
};

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Gets until the new credentials show up (or 5 s pass), counting what it saw and how long each took. */
static void *work(void *arg)
{
    struct worker *w = arg;
    struct timespec begin, t0, t1;
    pthread_barrier_wait(w->start);
    clock_gettime(CLOCK_MONOTONIC, &begin);
    for (;;) {
        struct wd_credentials c = {0};
        struct wd_error err = {0};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = wd_credentials_provider_get(w->p, &c, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (elapsed_ms(&t0, &t1) >= 600)
            w->slow_calls++;
        if (rc != 0) {
            w->errors++;
        } else if (strcmp(c.access_key_id, CB_ID) == 0 && strcmp(c.secret_access_key, CB_SECRET) == 0) {
            w->new_seen++;
            wd_credentials_clear(&c);
            break;
        } else {
            if (strcmp(c.secret_access_key, CA_SECRET) == 0)
                w->old_seen++;
            else
                w->errors++;
        }
        wd_credentials_clear(&c);
        if (elapsed_ms(&begin, &t1) > 5000)
            break;
        usleep(1000);
    }
    return NULL;
}

enum { N_WORKERS = 8 };

static void run_workers(struct wd_credentials_provider *p, struct worker *w)
{
    pthread_t t[N_WORKERS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, N_WORKERS), 0);
    for (int i = 0; i < N_WORKERS; i++) {
        w[i] = (struct worker){.p = p, .start = &start};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N_WORKERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
}

/* While one thread refreshes (slowly), the others keep getting the still-valid copy without waiting. */
static void test_concurrent_gets_during_refresh(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], cb[1024];
    struct fx_step cs[] = {
        {"GET", "/c", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 240), 0},
        {"GET", "/c", 200, answer(cb, sizeof(cb), false, CB_ID, CB_SECRET, CB_TOKEN, now + 3600), 1200}};
    struct fx_server *c = server(fx, cs, 2);
    set_full_uri(c, "/c");
    struct wd_credentials_provider *p = new_ok(NULL, NULL);
    advance(11);

    struct worker w[N_WORKERS];
    run_workers(p, w);
    long slow = 0, old_seen = 0;
    for (int i = 0; i < N_WORKERS; i++) {
        assert_int_equal(w[i].errors, 0);
        assert_int_equal(w[i].new_seen, 1);
        slow += w[i].slow_calls;
        old_seen += w[i].old_seen;
    }
    assert_int_equal(slow, 1);          /* the refresher alone */
    assert_true(old_seen >= N_WORKERS); /* the others went on meanwhile */
    assert_int_equal(fx_count(c), 2);   /* one refresh */
    wd_credentials_provider_free(p);
}

/* Once expired, there is nothing to use: the others wait for the one refresh and share its result. */
static void test_concurrent_gets_after_expiry(void **state)
{
    struct fixture *fx = *state;
    time_t now = fake_clock();
    char ca[1024], cb[1024];
    struct fx_step cs[] = {
        {"GET", "/c", 200, answer(ca, sizeof(ca), false, CA_ID, CA_SECRET, CA_TOKEN, now + 60), 0},
        {"GET", "/c", 200, answer(cb, sizeof(cb), false, CB_ID, CB_SECRET, CB_TOKEN, now + 3600), 400}};
    struct fx_server *c = server(fx, cs, 2);
    set_full_uri(c, "/c");
    struct wd_credentials_provider *p = new_ok(NULL, NULL);
    advance(61);

    struct worker w[N_WORKERS];
    run_workers(p, w);
    for (int i = 0; i < N_WORKERS; i++) {
        assert_int_equal(w[i].errors, 0);
        assert_int_equal(w[i].old_seen, 0);
        assert_int_equal(w[i].new_seen, 1);
    }
    assert_int_equal(fx_count(c), 2);
    wd_credentials_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profiles_in_both_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_never_refreshes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_relative_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_token_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_bad_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_full_uri_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_v1_only_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_no_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_refresh_keeps_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_refresh_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_refresh_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_gets_during_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_gets_after_expiry, setup, teardown),
    };
    if (wd_http_global_init() != 0)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    wd_http_global_cleanup();
    return failed;
}
