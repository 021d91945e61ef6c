/*
 * Unit tests of the lease's DynamoDB calls (lease_ddb.h) against a scripted loopback server: the exact
 * request bodies, each answer mapped onto an outcome, and hostile answers to the read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <jansson.h>

#include "aws.h"
#include "credentials_chain.h"
#include "http.h"
#include "lease_ddb.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

#define KEY_ID "AKIDLEASETEST0000001"
#define KEY_SECRET "leaseTestSecret/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define NAME "alpha"

#define ERR(type, msg) "{\"__type\":\"com.amazonaws.dynamodb.v20120810#" type "\",\"message\":\"" msg "\"}"
#define CANCELED(reasons)                                                                                    \
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"Message\":"             \
    "\"Transaction "                                                                                         \
    "cancelled\",\"CancellationReasons\":[" reasons "]}"
#define ITEM(owner, rvn, leadership, released)                                                               \
    "{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"" owner "\"},\"rvn\":{\"S\":\"" rvn           \
    "\"},\"leadership\":{\"N\":\"" leadership "\"},\"released\":{\"BOOL\":" released                         \
    "},\"updated\":{\"S\":\"2024-01-01T00:00:00Z\"}}}"

static const struct wd_fence fence = {.table = "locks", .lease_key = "widgetd"};

struct fixture {
    struct wd_credentials_provider *creds;
    struct fx_server *server;
    struct wd_endpoint endpoint;
    struct wd_http *http;
    struct wd_aws *aws;
};

static double no_wait(void *ctx)
{
    (void)ctx;
    return 0.0;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", KEY_SECRET, 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    struct wd_error err = {0};
    fx->creds = wd_credentials_provider_new(NULL, &err);
    if (fx->creds == NULL)
        fail_msg("credentials: %s", err.message);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wd_aws_free(fx->aws);
    wd_http_free(fx->http);
    wd_endpoint_clear(&fx->endpoint);
    fx_free(fx->server);
    wd_credentials_provider_free(fx->creds);
    free(fx);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    return 0;
}

/* The server with its script, and a client whose policy makes `attempts` attempts without waiting. */
static void start(struct fixture *fx, const struct fx_step *steps, size_t n, int attempts)
{
    fx->server = fx_start(steps, n);
    struct wd_error err = {0};
    assert_int_equal(wd_endpoint_parse(fx_url(fx->server), &fx->endpoint, &err), 0);
    struct wd_http_options ho = {.connect_timeout_ms = 1000, .timeout_ms = 2000, .no_proxy = true};
    fx->http = wd_http_new(&ho, &err);
    assert_non_null(fx->http);
    struct wd_retry_policy p = wd_retry_policy_default();
    p.max_attempts = attempts;
    p.rand01 = no_wait;
    fx->aws = wd_aws_new("us-east-1", fx->creds, &p, &err);
    assert_non_null(fx->aws);
}

static enum wd_lease_outcome call(struct fixture *fx, const struct wd_lease_call *c,
                                  struct wd_lease_record *rec, struct wd_error *err)
{
    return wd_lease_ddb_call(fx->aws, fx->http, &fx->endpoint, &fence, NAME, c, rec, err);
}

static struct wd_lease_call renew_call(void)
{
    struct wd_lease_call c = {.op = WD_LEASE_OP_RENEW, .expect = {.exists = true, .leadership = 7}};
    snprintf(c.expect.owner, sizeof(c.expect.owner), NAME);
    snprintf(c.expect.rvn, sizeof(c.expect.rvn), "n1-4");
    snprintf(c.new_rvn, sizeof(c.new_rvn), "n1-5");
    return c;
}

static struct wd_lease_call acquire_call(bool exists)
{
    struct wd_lease_call c = {.op = WD_LEASE_OP_ACQUIRE, .new_leadership = exists ? 8 : 1};
    if (exists) {
        c.expect = (struct wd_lease_record){.exists = true, .leadership = 7};
        snprintf(c.expect.owner, sizeof(c.expect.owner), "bravo");
        snprintf(c.expect.rvn, sizeof(c.expect.rvn), "b0-3");
    }
    snprintf(c.new_rvn, sizeof(c.new_rvn), "n1-6");
    return c;
}

static void expect_target(struct fixture *fx, size_t i, const char *op)
{
    const struct fx_request *r = fx_request(fx->server, i);
    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/");
    char buf[128], want[128];
    snprintf(want, sizeof(want), "DynamoDB_20120810.%s", op);
    assert_non_null(fx_header(r, "X-Amz-Target", buf, sizeof(buf)));
    assert_string_equal(buf, want);
}

/* The wall-clock "updated" at path is a UTC time within a minute of now; replaced by "T" for comparison. */
static void check_updated(json_t *holder, const char *member)
{
    json_t *v = json_object_get(json_object_get(holder, member), "S");
    assert_true(json_is_string(v));
    struct tm tm = {0};
    const char *end = strptime(json_string_value(v), "%Y-%m-%dT%H:%M:%SZ", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    time_t t = timegm(&tm), now = time(NULL);
    assert_true(t <= now + 1 && t >= now - 60);
    json_object_set_new(json_object_get(holder, member), "S", json_string("T"));
}

/* Request i's body, with its "updated" checked and replaced by "T", compact in its own order. */
static char *normalised_body(struct fixture *fx, size_t i)
{
    const struct fx_request *r = fx_request(fx->server, i);
    assert_non_null(r);
    json_error_t jerr;
    json_t *body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        fail_msg("request %zu: not JSON: %s", i, jerr.text);
    json_t *values = json_object_get(body, "ExpressionAttributeValues");
    json_t *items = json_object_get(body, "TransactItems");
    if (values != NULL)
        check_updated(values, ":now");
    else if (items != NULL)
        check_updated(json_object_get(json_object_get(json_array_get(items, 0), "Put"), "Item"), "updated");
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    return text;
}

static void expect_body(struct fixture *fx, size_t i, const char *want)
{
    char *got = normalised_body(fx, i);
    assert_string_equal(got, want);
    free(got);
}

/* ---- the requests ---- */

static void test_read_body_and_item(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {{"POST", "/", 200, ITEM("bravo", "b0-3", "7", "false"), 0}};
    start(fx, steps, 1, 1);
    struct wd_lease_call c = {.op = WD_LEASE_OP_READ};
    struct wd_lease_record rec = {0};
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, &rec, &err), WD_LEASE_OK);
    assert_true(rec.exists);
    assert_string_equal(rec.owner, "bravo");
    assert_string_equal(rec.rvn, "b0-3");
    assert_int_equal(rec.leadership, 7);
    assert_false(rec.released);
    expect_target(fx, 0, "GetItem");
    expect_body(fx, 0,
                "{\"TableName\":\"locks\",\"Key\":{\"key\":{\"S\":\"widgetd\"}},\"ConsistentRead\":true}");
    assert_true(fx_all_expected(fx->server));
}

static void test_read_absent_and_released(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {{"POST", "/", 200, "{}", 0},
                              {"POST", "/", 200, ITEM("bravo", "b0-9", "123456789012345678", "true"), 0}};
    start(fx, steps, 2, 1);
    struct wd_lease_call c = {.op = WD_LEASE_OP_READ};
    struct wd_lease_record rec = {.exists = true};
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, &rec, &err), WD_LEASE_OK);
    assert_false(rec.exists);
    assert_int_equal(call(fx, &c, &rec, &err), WD_LEASE_OK);
    assert_true(rec.exists);
    assert_true(rec.released);
    assert_int_equal(rec.leadership, 123456789012345678ULL);
}

static void test_renew_body(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {{"POST", "/", 200, "{}", 0}};
    start(fx, steps, 1, 1);
    struct wd_lease_call c = renew_call();
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_OK);
    expect_target(fx, 0, "UpdateItem");
    expect_body(fx, 0,
                "{\"TableName\":\"locks\",\"Key\":{\"key\":{\"S\":\"widgetd\"}},"
                "\"UpdateExpression\":\"SET #r = :new, #u = :now\","
                "\"ConditionExpression\":\"#r = :old AND #o = :me\","
                "\"ExpressionAttributeNames\":{\"#r\":\"rvn\",\"#u\":\"updated\",\"#o\":\"owner\"},"
                "\"ExpressionAttributeValues\":{\":new\":{\"S\":\"n1-5\"},\":now\":{\"S\":\"T\"},"
                "\":old\":{\"S\":\"n1-4\"},\":me\":{\"S\":\"alpha\"}}}");
}

static void test_release_body(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {{"POST", "/", 200, "{}", 0}};
    start(fx, steps, 1, 1);
    struct wd_lease_call c = renew_call();
    c.op = WD_LEASE_OP_RELEASE;
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_OK);
    expect_target(fx, 0, "UpdateItem");
    expect_body(fx, 0,
                "{\"TableName\":\"locks\",\"Key\":{\"key\":{\"S\":\"widgetd\"}},"
                "\"UpdateExpression\":\"SET #rel = :true, #r = :new, #u = :now\","
                "\"ConditionExpression\":\"#r = :old AND #o = :me\","
                "\"ExpressionAttributeNames\":{\"#r\":\"rvn\",\"#u\":\"updated\",\"#o\":\"owner\","
                "\"#rel\":\"released\"},"
                "\"ExpressionAttributeValues\":{\":new\":{\"S\":\"n1-5\"},\":now\":{\"S\":\"T\"},"
                "\":old\":{\"S\":\"n1-4\"},\":me\":{\"S\":\"alpha\"},\":true\":{\"BOOL\":true}}}");
}

/* The expected TransactWriteItems body of an acquisition with this condition on the lease item. */
static char *acquire_expected(const char *leadership, const char *condition)
{
    struct wd_buf b = {0};
    wd_buf_printf(
        &b,
        "{\"TransactItems\":[{\"Put\":{\"TableName\":\"locks\",\"Item\":{\"key\":{\"S\":\"widgetd\"},"
        "\"owner\":{\"S\":\"alpha\"},\"rvn\":{\"S\":\"n1-6\"},\"leadership\":{\"N\":\"%s\"},"
        "\"released\":{\"BOOL\":false},\"updated\":{\"S\":\"T\"}},%s}}",
        leadership, condition);
    for (int i = 0; i < WD_FENCE_SHARDS; i++)
        wd_buf_printf(&b,
                      ",{\"Update\":{\"TableName\":\"locks\",\"Key\":{\"key\":{\"S\":\"widgetd#fence-%d\"}},"
                      "\"UpdateExpression\":\"SET #l = :n\","
                      "\"ConditionExpression\":\"attribute_not_exists(#k) OR #l < :n\","
                      "\"ExpressionAttributeNames\":{\"#k\":\"key\",\"#l\":\"leadership\"},"
                      "\"ExpressionAttributeValues\":{\":n\":{\"N\":\"%s\"}}}}",
                      i, leadership);
    wd_buf_printf(&b, "]}");
    return wd_buf_steal(&b);
}

static void test_acquire_bodies(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {{"POST", "/", 200, "{}", 0}, {"POST", "/", 200, "{}", 0}};
    start(fx, steps, 2, 1);
    struct wd_error err = {0};
    struct wd_lease_call c = acquire_call(false);
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_OK);
    c = acquire_call(true);
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_OK);
    expect_target(fx, 0, "TransactWriteItems");
    expect_target(fx, 1, "TransactWriteItems");
    char *want = acquire_expected(
        "1",
        "\"ConditionExpression\":\"attribute_not_exists(#k)\",\"ExpressionAttributeNames\":{\"#k\":\"key\"}");
    expect_body(fx, 0, want);
    free(want);
    want = acquire_expected("8", "\"ConditionExpression\":\"#r = :old\",\"ExpressionAttributeNames\":{\"#r\":"
                                 "\"rvn\"},\"ExpressionAttributeValues\":{\":old\":{\"S\":\"b0-3\"}}");
    expect_body(fx, 1, want);
    free(want);
}

/* ---- the answers ---- */

struct mapping {
    const char *what;
    enum wd_lease_op op;
    struct fx_step steps[4];
    size_t n_steps;
    int attempts;
    enum wd_lease_outcome outcome;
    enum wd_error_class cls; /* for FAILED */
    const char *code;        /* for FAILED and CONFLICT, or NULL */
    size_t check;            /* 1 + the index of the GetItem that checks a failed condition, or 0 */
};

static const struct mapping mappings[] = {
    {"a renewal that condition failed: someone else's rvn",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 400, ERR("ConditionalCheckFailedException", "The conditional request failed"), 0},
      {"POST", "/", 200, ITEM("bravo", "b0-1", "8", "false"), 0}},
     2,
     1,
     WD_LEASE_CONDITION_FAILED,
     WD_ERR_CONDITION,
     "ConditionalCheckFailedException",
     2},
    {"a renewal whose first attempt landed unanswered: the retry fails on our own rvn",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 0, NULL, 0},
      {"POST", "/", 400, ERR("ConditionalCheckFailedException", "The conditional request failed"), 0},
      {"POST", "/", 200, ITEM(NAME, "n1-5", "7", "false"), 0}},
     3,
     3,
     WD_LEASE_OK,
     WD_OK,
     NULL,
     3},
    {"the same rvn under another name is not ours",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 400, ERR("ConditionalCheckFailedException", "x"), 0},
      {"POST", "/", 200, ITEM("mallory", "n1-5", "7", "false"), 0}},
     2,
     1,
     WD_LEASE_CONDITION_FAILED,
     WD_ERR_CONDITION,
     "ConditionalCheckFailedException",
     2},
    {"a condition failure that cannot be checked is unknown",
     WD_LEASE_OP_RELEASE,
     {{"POST", "/", 400, ERR("ConditionalCheckFailedException", "x"), 0},
      {"POST", "/", 500, ERR("InternalServerError", "boom"), 0}},
     2,
     1,
     WD_LEASE_FAILED,
     WD_ERR_TRANSIENT,
     "InternalServerError",
     2},
    {"an acquisition cancelled on the lease item's condition",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"ConditionalCheckFailed\"},{\"Code\":\"None\"}"), 0},
      {"POST", "/", 200, ITEM("charlie", "c0-1", "8", "false"), 0}},
     2,
     1,
     WD_LEASE_CONDITION_FAILED,
     WD_ERR_CONDITION,
     "TransactionCanceledException",
     2},
    {"an acquisition cancelled on a fence item alone: the lease item was reset by hand",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"None\"},{\"Code\":\"ConditionalCheckFailed\"}"), 0},
      {"POST", "/", 200, ITEM("bravo", "b0-3", "7", "false"), 0}},
     2,
     1,
     WD_LEASE_FAILED,
     WD_ERR_CONFIG,
     "FenceAhead",
     2},
    {"an acquisition in a transaction conflict",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"None\"},{\"Code\":\"TransactionConflict\"}"), 0}},
     1,
     1,
     WD_LEASE_CONFLICT,
     WD_ERR_TRANSIENT,
     "TransactionCanceledException",
     0},
    {"a conflict retried by the AWS layer, still a conflict",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"TransactionConflict\"}"), 0},
      {"POST", "/", 400, CANCELED("{\"Code\":\"TransactionConflict\"}"), 0},
      {"POST", "/", 400, CANCELED("{\"Code\":\"TransactionConflict\"}"), 0}},
     3,
     3,
     WD_LEASE_CONFLICT,
     WD_ERR_TRANSIENT,
     "TransactionCanceledException",
     0},
    {"a renewal meeting a transaction on its item",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 400, ERR("TransactionConflictException", "in a transaction"), 0}},
     1,
     1,
     WD_LEASE_CONFLICT,
     WD_ERR_TRANSIENT,
     "TransactionConflictException",
     0},
    {"a cancellation for a reason no retry cures",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"ValidationError\"},{\"Code\":\"ConditionalCheckFailed\"}"),
       0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_CLIENT,
     "TransactionCanceledException",
     0},
    {"a throttled cancellation is no conflict",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, CANCELED("{\"Code\":\"ThrottlingError\"}"), 0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_THROTTLED,
     "TransactionCanceledException",
     0},
    {"a server error",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 500, ERR("InternalServerError", "boom"), 0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_TRANSIENT,
     "InternalServerError",
     0},
    {"no answer",
     WD_LEASE_OP_RENEW,
     {{"POST", "/", 0, NULL, 0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_TRANSIENT,
     NULL,
     0},
    {"refused credentials",
     WD_LEASE_OP_READ,
     {{"POST", "/", 400, ERR("AccessDeniedException", "no"), 0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_AUTH,
     "AccessDeniedException",
     0},
    {"no lease table",
     WD_LEASE_OP_ACQUIRE,
     {{"POST", "/", 400, ERR("ResourceNotFoundException", "Requested resource not found"), 0}},
     1,
     1,
     WD_LEASE_FAILED,
     WD_ERR_MISSING,
     "ResourceNotFoundException",
     0},
};

static void test_answer_mapping(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++) {
        const struct mapping *m = &mappings[i];
        start(fx, m->steps, m->n_steps, m->attempts);
        struct wd_lease_call c = m->op == WD_LEASE_OP_ACQUIRE ? acquire_call(true) : renew_call();
        c.op = m->op;
        struct wd_lease_record rec = {0};
        struct wd_error err = {0};
        enum wd_lease_outcome got = call(fx, &c, &rec, &err);
        if (got != m->outcome)
            fail_msg("%s: outcome %d, expected %d (%s)", m->what, (int)got, (int)m->outcome, err.message);
        if (m->outcome != WD_LEASE_OK) {
            if (err.cls != m->cls)
                fail_msg("%s: class %s, expected %s (%s)", m->what, wd_error_class_name(err.cls),
                         wd_error_class_name(m->cls), err.message);
            if (m->code != NULL && strcmp(err.code, m->code) != 0)
                fail_msg("%s: code \"%s\", expected \"%s\"", m->what, err.code, m->code);
            assert_true(err.message[0] != '\0');
        }
        /* every step of the script was used, and nothing beyond it */
        if (fx_count(fx->server) != m->n_steps || !fx_all_expected(fx->server))
            fail_msg("%s: %zu requests for %zu steps", m->what, fx_count(fx->server), m->n_steps);
        for (size_t k = 0; k < m->n_steps; k++) /* the write (retried), then the check after its condition */
            expect_target(fx, k,
                          m->check == k + 1
                              ? "GetItem"
                              : wd_op_name(m->op == WD_LEASE_OP_ACQUIRE ? WD_OP_DDB_TRANSACT_WRITE_ITEMS
                                           : m->op == WD_LEASE_OP_READ  ? WD_OP_DDB_GET_ITEM
                                                                        : WD_OP_DDB_UPDATE_ITEM));
        wd_aws_free(fx->aws);
        wd_http_free(fx->http);
        wd_endpoint_clear(&fx->endpoint);
        fx_free(fx->server);
        fx->aws = NULL;
        fx->http = NULL;
        fx->server = NULL;
    }
}

static void test_fence_ahead_message(void **state)
{
    struct fixture *fx = *state;
    struct fx_step steps[] = {
        {"POST", "/", 400, CANCELED("{\"Code\":\"None\"},{\"Code\":\"ConditionalCheckFailed\"}"), 0},
        {"POST", "/", 200, "{}", 0}};
    start(fx, steps, 2, 1);
    struct wd_lease_call c = acquire_call(false);
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_FAILED);
    assert_string_equal(err.message, "lease item \"widgetd\" says leadership 0 but a fence item "
                                     "\"widgetd#fence-N\" holds 1 or more: the lease item was deleted or "
                                     "rewritten by hand; delete the fence items too");
}

/* ---- hostile answers to the read ---- */

static char *huge_owner_item(void)
{
    size_t n = 1 << 20;
    struct wd_buf b = {0};
    wd_buf_printf(&b, "{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"");
    char *x = malloc(n + 1);
    assert_non_null(x);
    memset(x, 'x', n);
    x[n] = '\0';
    wd_buf_printf(
        &b, "%s\"},\"rvn\":{\"S\":\"b0-1\"},\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}", x);
    free(x);
    return wd_buf_steal(&b);
}

static void test_hostile_reads(void **state)
{
    struct fixture *fx = *state;
    char long_owner[600], long_rvn[300];
    snprintf(long_owner, sizeof(long_owner),
             "{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"%0256d\"},\"rvn\":{\"S\":\"b0-1\"},"
             "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
             0);
    snprintf(long_rvn, sizeof(long_rvn),
             "{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\"},\"rvn\":{\"S\":\"%080d\"},"
             "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
             0);
    char *huge = huge_owner_item();
    struct {
        const char *body, *says;
    } cases[] = {
        {"not json", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"Item\":[]}", "\"Item\" is not an object"},
        {"{\"Item\":{}}", "another item"},
        {"{\"Item\":{\"key\":{\"S\":\"other\"}}}", "another item"},
        {"{\"Item\":{\"key\":{\"N\":\"1\"}}}", "another item"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"rvn\":{\"S\":\"b0-1\"},\"leadership\":{\"N\":\"1\"},"
         "\"released\":{\"BOOL\":false}}}",
         "\"owner\" is not a string"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"N\":\"5\"},\"rvn\":{\"S\":\"b0-1\"},"
         "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
         "\"owner\" is not a string"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":\"bravo\",\"rvn\":{\"S\":\"b0-1\"},"
         "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
         "\"owner\" is not a string"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\",\"N\":\"1\"},\"rvn\":{\"S\":\"b0-"
         "1\"},"
         "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
         "\"owner\" is not a string"},
        {long_owner, "\"owner\" is not a string"},
        {huge, "\"owner\" is not a string"},
        {ITEM("", "b0-1", "1", "false"), "\"owner\" is not a string"},
        {ITEM("a\\u0000b", "b0-1", "1", "false"), "not JSON"}, /* jansson refuses NUL */
        {ITEM("a\\nb", "b0-1", "1", "false"), "\"owner\" is not a string"},
        {ITEM("caf\\u00e9", "b0-1", "1", "false"), "\"owner\" is not a string"},
        {long_rvn, "\"rvn\" is not a string"},
        {ITEM("bravo", "", "1", "false"), "\"rvn\" is not a string"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\"},\"rvn\":{\"B\":\"YWJj\"},"
         "\"leadership\":{\"N\":\"1\"},\"released\":{\"BOOL\":false}}}",
         "\"rvn\" is not a string"},
        {ITEM("bravo", "b0-1", "-1", "false"), "\"leadership\" is not a number"},
        {ITEM("bravo", "b0-1", "1e3", "false"), "\"leadership\" is not a number"},
        {ITEM("bravo", "b0-1", "1.5", "false"), "\"leadership\" is not a number"},
        {ITEM("bravo", "b0-1", "1234567890123456789", "false"), "\"leadership\" is not a number"},
        {ITEM("bravo", "b0-1", "", "false"), "\"leadership\" is not a number"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\"},\"rvn\":{\"S\":\"b0-1\"},"
         "\"leadership\":{\"S\":\"1\"},\"released\":{\"BOOL\":false}}}",
         "\"leadership\" is not a number"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\"},\"rvn\":{\"S\":\"b0-1\"},"
         "\"leadership\":{\"N\":\"1\"}}}",
         "\"released\" is not a boolean"},
        {"{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"bravo\"},\"rvn\":{\"S\":\"b0-1\"},"
         "\"leadership\":{\"N\":\"1\"},\"released\":{\"S\":\"true\"}}}",
         "\"released\" is not a boolean"},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    struct fx_step steps[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < n; i++)
        steps[i] = (struct fx_step){"POST", "/", 200, cases[i].body, 0};
    start(fx, steps, n, 1);
    free(huge);
    struct wd_lease_call c = {.op = WD_LEASE_OP_READ};
    for (size_t i = 0; i < n; i++) {
        struct wd_lease_record rec = {.exists = true, .owner = "untouched", .leadership = 99};
        struct wd_error err = {0};
        if (call(fx, &c, &rec, &err) != WD_LEASE_FAILED)
            fail_msg("case %zu accepted", i);
        if (strstr(err.message, cases[i].says) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.message, cases[i].says);
        assert_int_equal(err.cls, WD_ERR_INTERNAL);
        assert_string_equal(rec.owner, "untouched");
        assert_int_equal(rec.leadership, 99);
    }
    assert_true(fx_all_expected(fx->server));

    /* the longest owner and rvn an instance writes are read back whole */
    fx_free(fx->server);
    char longest[800];
    char owner[WD_LEASE_NAME_MAX], rvn[WD_LEASE_RVN_MAX];
    memset(owner, 'o', sizeof(owner) - 1);
    owner[sizeof(owner) - 1] = '\0';
    memset(rvn, 'r', sizeof(rvn) - 1);
    rvn[sizeof(rvn) - 1] = '\0';
    snprintf(longest, sizeof(longest),
             "{\"Item\":{\"key\":{\"S\":\"widgetd\"},\"owner\":{\"S\":\"%s\"},\"rvn\":{\"S\":\"%s\"},"
             "\"leadership\":{\"N\":\"999999999999999999\"},\"released\":{\"BOOL\":false}}}",
             owner, rvn);
    struct fx_step one[] = {{"POST", "/", 200, longest, 0}};
    wd_aws_free(fx->aws);
    wd_http_free(fx->http);
    wd_endpoint_clear(&fx->endpoint);
    start(fx, one, 1, 1);
    struct wd_lease_record rec = {0};
    struct wd_error err = {0};
    assert_int_equal(call(fx, &c, &rec, &err), WD_LEASE_OK);
    assert_string_equal(rec.owner, owner);
    assert_string_equal(rec.rvn, rvn);
    assert_int_equal(rec.leadership, 999999999999999999ULL);
}

static void test_bad_arguments(void **state)
{
    struct fixture *fx = *state;
    start(fx, NULL, 0, 1);
    struct wd_lease_call c = renew_call();
    struct wd_error err = {0};
    struct wd_fence no_key = {.table = "locks", .lease_key = ""};
    assert_int_equal(wd_lease_ddb_call(fx->aws, fx->http, &fx->endpoint, &no_key, NAME, &c, NULL, &err),
                     WD_LEASE_FAILED);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    assert_int_equal(wd_lease_ddb_call(fx->aws, fx->http, &fx->endpoint, NULL, NAME, &c, NULL, &err),
                     WD_LEASE_FAILED);
    assert_int_equal(wd_lease_ddb_call(fx->aws, fx->http, &fx->endpoint, &fence, "", &c, NULL, &err),
                     WD_LEASE_FAILED);
    c.new_rvn[0] = '\0';
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_FAILED);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    c = renew_call();
    c.op = WD_LEASE_OP_NONE;
    assert_int_equal(call(fx, &c, NULL, &err), WD_LEASE_FAILED);
    assert_int_equal(fx_count(fx->server), 0); /* nothing was sent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_body_and_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_absent_and_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence_ahead_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
