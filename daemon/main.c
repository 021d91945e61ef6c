/* widgetd: command line, start-up order and the only exits (0, 1, 75, 78). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "aws.h"
#include "config.h"
#include "consumer.h"
#include "credentials.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "report.h"
#include "s3.h"

#define EX_CONFIG 78

static void usage(FILE *f)
{
    fprintf(f, "usage: widgetd [-c FILE] [-n] [--once] [--requests_bucket B] [--destination_flag wb|dwt]\n"
               "               [--destination_name N] [--version]\n"
               "  -c, --config FILE        configuration file (default " WD_DEFAULT_CONFIG ")\n"
               "  -n, --check-config       validate the configuration and exit\n"
               "      --once               drain the requests bucket, then exit\n"
               "      --requests_bucket B  the requests bucket (overrides the file)\n"
               "      --destination_flag F wb: S3 bucket store, dwt: DynamoDB table store\n"
               "      --destination_name N the store's bucket or table name\n");
}

struct args {
    const char *config;
    bool config_given;
    bool check;
    bool once;
    const char *requests_bucket;
    const char *destination_flag;
    const char *destination_name;
};

/* Returns 0 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct args *a)
{
    enum { OPT_ONCE = 256, OPT_RB, OPT_DF, OPT_DN, OPT_VERSION };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'n'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"requests_bucket", required_argument, NULL, OPT_RB},
        {"destination_flag", required_argument, NULL, OPT_DF},
        {"destination_name", required_argument, NULL, OPT_DN},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    a->config = WD_DEFAULT_CONFIG;
    while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            a->config_given = true;
            break;
        case 'n':
            a->check = true;
            break;
        case OPT_ONCE:
            a->once = true;
            break;
        case OPT_RB:
            a->requests_bucket = optarg;
            break;
        case OPT_DF:
            a->destination_flag = optarg;
            break;
        case OPT_DN:
            a->destination_name = optarg;
            break;
        case OPT_VERSION:
            printf("widgetd %s\n", WIDGETD_VERSION);
            return -1;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return EX_CONFIG;
        }
    }
    if (optind < argc) {
        wd_log(LOG_ERR, "unexpected argument \"%s\"", argv[optind]);
        return EX_CONFIG;
    }
    return 0;
}

/* File, then environment, then flags: each later source wins. */
static int load_config(const struct args *a, struct wd_config *cfg, struct wd_error *err)
{
    bool old_flags = a->requests_bucket || a->destination_flag || a->destination_name;
    wd_config_defaults(cfg);
    /* The old script's command line needs no file: a missing default file is fine then (SPEC 6). */
    if (wd_config_read_file(cfg, a->config, old_flags && !a->config_given, err) < 0)
        return -1;
    if (wd_config_apply_env(cfg, err) < 0)
        return -1;
    if (a->requests_bucket && wd_config_set(cfg, "requests", "bucket", a->requests_bucket, err) < 0)
        return -1;
    if (a->destination_flag) {
        const char *kind = strcmp(a->destination_flag, "wb") == 0    ? "s3"
                           : strcmp(a->destination_flag, "dwt") == 0 ? "dynamodb"
                                                                     : NULL;
        if (kind == NULL)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "--destination_flag \"%s\" is not wb or dwt",
                                a->destination_flag);
        wd_config_set(cfg, "store", "kind", kind, err);
    }
    if (a->destination_name && wd_config_set(cfg, "store", "name", a->destination_name, err) < 0)
        return -1;
    return wd_config_validate(cfg, err);
}

/* The endpoint URL for a service: its own setting, else the shared one, else AWS's public one. */
static int make_endpoint(const struct wd_config *cfg, const char *specific, const char *service,
                         struct wd_endpoint *out, struct wd_error *err)
{
    char url[512];
    const char *u = specific ? specific : cfg->endpoint;
    if (u == NULL) {
        snprintf(url, sizeof(url), "https://%s.%s.amazonaws.com", service, cfg->region);
        u = url;
    }
    return wd_endpoint_parse(u, out, err);
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct wd_config cfg;
    struct wd_error err = {0};
    struct wd_aws aws = {0};
    struct wd_s3 s3 = {0};
    struct wd_endpoint ddb = {0};
    struct wd_consumer *consumer = NULL;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    if (load_config(&a, &cfg, &err) < 0) {
        wd_log(LOG_ERR, "%s", err.message);
        if (a.check)
            fprintf(stdout, "%s\n", err.message);
        wd_config_clear(&cfg);
        return EX_CONFIG;
    }
    wd_log_set_level(cfg.log_level);
    if (make_endpoint(&cfg, cfg.s3_endpoint, "s3", &s3.endpoint, &err) < 0 ||
        make_endpoint(&cfg, cfg.dynamodb_endpoint, "dynamodb", &ddb, &err) < 0) {
        wd_log(LOG_ERR, "%s", err.message);
        rc = EX_CONFIG;
        goto out;
    }
    if (a.check) {
        printf("configuration OK\n");
        rc = 0;
        goto out;
    }
    /* A custom S3 endpoint (a stand-in, MinIO, ...) rarely serves virtual-hosted names (SPEC 6). */
    bool custom_s3 = cfg.s3_endpoint || cfg.endpoint;
    s3.path_style =
        cfg.path_style == WD_PATH_STYLE_YES || (cfg.path_style == WD_PATH_STYLE_AUTO && custom_s3);

    if (wd_credentials_load(cfg.profile, &aws.creds, &err) < 0) {
        wd_log(LOG_ERR, "no AWS credentials: %s", err.message);
        rc = EX_CONFIG;
        goto out;
    }
    aws.region = cfg.region;
    aws.retry = wd_retry_policy_default();
    if (wd_http_global_init() < 0) {
        wd_log(LOG_ERR, "cannot initialise libcurl");
        rc = 1;
        goto out;
    }

    struct wd_report report = {.store_name = cfg.store_name, .dynamodb = cfg.store_kind == WD_STORE_DYNAMODB};
    struct wd_consumer_config cc = {
        .requests_bucket = cfg.requests_bucket,
        .requests_prefix = cfg.requests_prefix ? cfg.requests_prefix : "",
        .dead_letter_bucket = cfg.dead_letter_bucket,
        .dead_letter_prefix = cfg.dead_letter_prefix,
        .s3 = &s3,
        .store = {.kind = cfg.store_kind, .name = cfg.store_name, .s3 = &s3, .ddb = &ddb},
        .workers = cfg.workers,
        .list_page = 1000,
        .once = a.once,
        .hold_min_s = 1.0,
        .hold_max_s = 60.0,
        .http = {.connect_timeout_ms = cfg.connect_timeout_ms,
                 .timeout_ms = cfg.timeout_ms,
                 .ca_file = cfg.ca_file,
                 .verify_tls = cfg.verify_tls},
    };
    consumer = wd_consumer_new(&cc, &aws, wd_report_event, &report, &err);
    if (consumer == NULL) {
        wd_log(LOG_ERR, "cannot start the pipeline: %s", err.message);
        rc = 1;
        goto out_curl;
    }
    wd_log(LOG_INFO, "widgetd %s starting: requests bucket '%s', %s store '%s', %d workers%s",
           WIDGETD_VERSION, cfg.requests_bucket, cfg.store_kind == WD_STORE_S3 ? "s3" : "dynamodb",
           cfg.store_name, cfg.workers, a.once ? ", once" : "");
    struct wd_loop_options lo = {.once = a.once,
                                 .poll_interval_ms = cfg.poll_interval_ms,
                                 .poll_max_interval_ms = cfg.poll_max_interval_ms};
    rc = wd_loop_run(consumer, &lo);

    struct wd_buf calls = {0};
    for (int op = 0; op < WD_OP_COUNT; op++)
        if (atomic_load(&aws.calls[op]) > 0)
            wd_buf_printf(&calls, "%s%s=%lu", calls.len ? " " : "", wd_op_name((enum wd_op)op),
                          atomic_load(&aws.calls[op]));
    wd_log(LOG_INFO, "exiting: %lu applied, %lu not found, %lu dead-lettered, %lu failed attempts; calls: %s",
           report.applied, report.not_found, report.dead_lettered, report.failed,
           calls.data ? calls.data : "none");
    wd_buf_free(&calls);
    wd_consumer_free(consumer);
out_curl:
    wd_http_global_cleanup();
out:
    wd_credentials_clear(&aws.creds);
    wd_endpoint_clear(&s3.endpoint);
    wd_endpoint_clear(&ddb);
    wd_config_clear(&cfg);
    return rc;
}
