/* Unit tests: jansson's wiping allocator leaves no secret in freed memory; the process is not dumpable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "secrets.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

/* Every block jansson holds, with its size: what the test's free needs to look at it once freed. */
struct block {
    void *p;
    size_t size;
};
static struct block blocks[4096];
static size_t n_blocks;
static size_t frees, frees_with_secret, unwiped;

static void *spy_malloc(size_t size)
{
    void *p = wd_wipe_malloc(size);
    if (p != NULL && n_blocks < sizeof(blocks) / sizeof(blocks[0]))
        blocks[n_blocks++] = (struct block){p, size};
    return p;
}

/* Reads memory the way a debugger would (past the allocator, past ASan): -1 when it is unmapped. */
static ssize_t peek(const void *p, void *out, size_t n)
{
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t r = pread(fd, out, n, (off_t)(uintptr_t)p);
    close(fd);
    return r;
}

static void spy_free(void *p)
{
    if (p == NULL)
        return;
    size_t size = 0;
    for (size_t i = 0; i < n_blocks; i++) {
        if (blocks[i].p == p) {
            size = blocks[i].size;
            blocks[i] = blocks[--n_blocks];
            break;
        }
    }
    if (memmem(p, size, "EXAMPLEKEY", 10) != NULL)
        frees_with_secret++;
    frees++;
    wd_wipe_free(p);
    unsigned char *after = malloc(size + 1);
    assert_non_null(after);
    if (peek(p, after, size) == (ssize_t)size) {
        for (size_t i = 0; i < size; i++)
            if (after[i] != 0) {
                unwiped++;
                break;
            }
    }
    free(after);
}

static void test_blocks(void **state)
{
    (void)state;
    for (size_t n = 0; n < 100; n++) {
        unsigned char *p = wd_wipe_malloc(n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, 0xA5, n);
        wd_wipe_free(p);
    }
    assert_null(wd_wipe_malloc(SIZE_MAX));
    assert_null(wd_wipe_malloc(SIZE_MAX - 8));
    wd_wipe_free(NULL);
}

static void test_jansson_buffers_wiped(void **state)
{
    (void)state;
    json_set_alloc_funcs(spy_malloc, spy_free);
    /* What a container credentials endpoint answers; the lexer copies each string as it grows. */
    const char *answer =
        "{\"AccessKeyId\": \"ASIAEXAMPLE\", \"SecretAccessKey\": \"" SECRET "\", "
        "\"Token\": \"" SECRET SECRET SECRET SECRET "\", \"Expiration\": \"2030-01-01T00:00:00Z\"}";
    json_error_t jerr;
    json_t *root = json_loads(answer, 0, &jerr);
    assert_non_null(root);
    char *dumped = json_dumps(root, 0);
    assert_non_null(dumped);
    assert_non_null(strstr(dumped, SECRET));
    spy_free(dumped); /* what jansson's own free would be */
    json_decref(root);
    json_set_alloc_funcs(malloc, free);

    assert_int_equal(n_blocks, 0); /* everything allocated was freed through the test's free */
    /* The lexer's buffers and the values held the secret: not just one block. */
    if (frees_with_secret < 3)
        fail_msg("only %zu of %zu freed blocks held the secret: the test does not see jansson's copies",
                 frees_with_secret, frees);
    if (unwiped != 0)
        fail_msg("%zu of %zu blocks jansson freed were not wiped", unwiped, frees);
}

static void test_protect(void **state)
{
    (void)state;
    struct wd_error err = {0};
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    assert_int_equal(wd_secrets_protect(&err), 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    assert_ptr_equal(m, wd_wipe_malloc);
    assert_ptr_equal(f, wd_wipe_free);
    /* jansson works with it. */
    json_t *v = json_pack("{s:s}", "k", SECRET);
    assert_non_null(v);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_jansson_buffers_wiped),
        cmocka_unit_test(test_protect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
