/*
 * A test-only tool of test_fencing.py: applies one widget request to a store through the library, with a
 * given fence (SPEC 9). The daemon has no [lease] yet, so the fenced store is tested through its own
 * interface: this program builds a struct wd_store exactly as daemon/service.c does, sets its fence from the
 * command line and calls ops->apply() once. It prints one line and exits 0 when the request was applied
 * ("ok", or "not_found" for an update/delete of nothing) and 1 when it was not ("error CLASS CODE: MESSAGE",
 * with " rejects_content" after CODE when the store refuses the request's content for good).
 *
 *   fence_apply --store s3|dynamodb --name BUCKET_OR_TABLE [--s3-endpoint URL] [--ddb-endpoint URL]
 *               [--fence-table TABLE --lease-key KEY --leadership N [--no-conditions]] REQUEST_FILE
 *
 * Credentials and region come from the environment (AWS_ACCESS_KEY_ID, ..., AWS_REGION).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "buf.h"
#include "credentials_chain.h"
#include "http.h"
#include "request.h"
#include "s3.h"
#include "store.h"
#include "store_dynamodb.h"
#include "store_s3.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: fence_apply --store s3|dynamodb --name NAME [--s3-endpoint URL] [--ddb-endpoint URL]\n"
            "                   [--fence-table TABLE --lease-key KEY --leadership N [--no-conditions]] "
            "REQUEST_FILE\n");
    return 2;
}

static int read_file(const char *path, struct wd_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = wd_buf_append(out, chunk, n);
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"s3-endpoint", required_argument, NULL, 'S'},
        {"ddb-endpoint", required_argument, NULL, 'D'},
        {"fence-table", required_argument, NULL, 't'},
        {"lease-key", required_argument, NULL, 'k'},
        {"leadership", required_argument, NULL, 'l'},
        {"no-conditions", no_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    const char *store_kind = NULL, *name = NULL, *s3_url = "http://127.0.0.1:1",
               *ddb_url = "http://127.0.0.1:1";
    struct wd_fence fence = {.s3_conditions = true, .ddb_conditions = true};
    bool fenced = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            store_kind = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'S':
            s3_url = optarg;
            break;
        case 'D':
            ddb_url = optarg;
            break;
        case 't':
            fence.table = optarg;
            break;
        case 'k':
            fence.lease_key = optarg;
            break;
        case 'l':
            fence.leadership = strtoull(optarg, NULL, 10);
            fenced = true;
            break;
        case 'x':
            fence.s3_conditions = fence.ddb_conditions = false;
            break;
        default:
            return usage();
        }
    }
    if (optind != argc - 1 || store_kind == NULL || name == NULL ||
        (strcmp(store_kind, "s3") != 0 && strcmp(store_kind, "dynamodb") != 0) ||
        (fenced && (fence.table == NULL || fence.lease_key == NULL)))
        return usage();

    struct wd_error err = {0};
    struct wd_buf text = {0};
    struct wd_request *req = NULL;
    struct wd_s3 s3 = {.path_style = true};
    struct wd_endpoint ddb = {0};
    struct wd_credentials_provider *creds = NULL;
    struct wd_http *http = NULL;
    struct wd_aws *aws = NULL;
    struct wd_store store = {0};
    struct wd_apply_result res;
    int rc = 1;
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    struct wd_http_options ho = {.connect_timeout_ms = 2000, .timeout_ms = 10000, .verify_tls = true};

    if (read_file(argv[optind], &text) < 0) {
        fprintf(stderr, "fence_apply: cannot read %s\n", argv[optind]);
        goto out;
    }
    if (wd_request_parse(text.data ? text.data : "", text.len, &req, &err) != 0 ||
        wd_endpoint_parse(s3_url, &s3.endpoint, &err) < 0 || wd_endpoint_parse(ddb_url, &ddb, &err) < 0 ||
        (creds = wd_credentials_provider_new(NULL, &err)) == NULL ||
        (http = wd_http_new(&ho, &err)) == NULL || (aws = wd_aws_new(region, creds, NULL, &err)) == NULL)
        goto fail;

    store = (struct wd_store){
        .ops = strcmp(store_kind, "s3") == 0 ? &wd_store_s3_ops : &wd_store_ddb_ops,
        .name = name,
        .s3 = &s3,
        .ddb = &ddb,
        .fence = fenced ? &fence : NULL,
    };
    if (store.ops->apply(&store, aws, http, req, &res, &err) < 0)
        goto fail;
    printf("%s\n", res.not_found ? "not_found" : "ok");
    rc = 0;
    goto out;
fail:
    printf("error %s %s%s: %s\n", wd_error_class_name(err.cls), err.code[0] ? err.code : "-",
           store.ops != NULL && store.ops->rejects_content(&err) ? " rejects_content" : "", err.message);
out:
    wd_aws_free(aws);
    wd_http_free(http);
    wd_credentials_provider_free(creds);
    wd_endpoint_clear(&ddb);
    wd_endpoint_clear(&s3.endpoint);
    wd_request_free(req);
    wd_buf_free(&text);
    return rc;
}
