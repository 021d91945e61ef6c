/* widgetd: command line, start-up order and the only exits (0, 1, 75, 78). */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "secrets.h"

#define EX_CONFIG 78

static void usage(FILE *f)
{
    fprintf(f,
            "usage: widgetd [-c FILE] [-n] [--once] [--requests_bucket B] [--destination_flag wb|dwt]\n"
            "               [--destination_name N] [--version]\n"
            "  -c, --config FILE        configuration file (default " WD_DEFAULT_CONFIG ")\n"
            "  -n, --check-config       validate the configuration, print \"configuration OK\" or the error\n"
            "      --once               drain the requests bucket, then exit\n"
            "      --requests_bucket B  the requests bucket (overrides the file)\n"
            "      --destination_flag F wb: S3 bucket store, dwt: DynamoDB table store\n"
            "      --destination_name N the store's bucket or table name\n"
            "      --version            print the version and exit\n");
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct wd_config_sources *src, bool *check, bool *once)
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
    src->path = WD_DEFAULT_CONFIG;
    while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            src->path = optarg;
            src->path_given = true;
            break;
        case 'n':
            *check = true;
            break;
        case OPT_ONCE:
            *once = true;
            break;
        case OPT_RB:
            src->requests_bucket = optarg;
            break;
        case OPT_DF:
            src->destination_flag = optarg;
            break;
        case OPT_DN:
            src->destination_name = optarg;
            break;
        case OPT_VERSION:
            printf("widgetd %s\n", WIDGETD_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_CONFIG;
        }
    }
    if (optind < argc) {
        wd_log(LOG_ERR, "unexpected argument \"%s\"", argv[optind]);
        return EX_CONFIG;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct wd_config_sources src = {0};
    struct wd_config cfg;
    struct wd_error err = {0};
    bool check = false, once = false;

    /*
     * glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what they free.
     * The pipeline runs on one thread, but libcurl resolves host names on threads of its own: two
     * arenas keep memory flat whatever they do (with 32 worker threads, as widgetd once had, memory grew
     * with the backlog: 20 MB at 5k requests, 37 MB at 100k).
     */
    mallopt(M_ARENA_MAX, 2);
    wd_log_open();
    /* Before anything reads a secret: no core dump of the keys, no JSON buffer freed unwiped. */
    if (wd_secrets_protect(&err) < 0)
        wd_log(LOG_WARNING, "%s; a core dump could hold the credentials", err.message);
    int rc = parse_args(argc, argv, &src, &check, &once);
    if (rc >= 0)
        return rc;
    if (wd_config_load(&src, &cfg, &err) < 0) {
        /* Once, on stderr (with --check-config too): stdout gets only "configuration OK". */
        wd_log(LOG_ERR, "%s", err.message);
        return EX_CONFIG;
    }
    wd_log_set_level(cfg.log_level);
    if (check) {
        wd_config_log_warnings(&cfg, src.path);
        printf("configuration OK\n");
        wd_config_clear(&cfg);
        return 0;
    }
    /* curl_global_init must run before any thread starts. */
    if (wd_http_global_init() < 0) {
        wd_log(LOG_ERR, "cannot initialise libcurl");
        wd_config_clear(&cfg);
        return 1;
    }
    rc = wd_loop_run(&cfg, &src, once);
    wd_http_global_cleanup();
    return rc;
}
