/* Unit tests: INI text read whole and parsed by inih line by line, with inih's line buffer wiped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini_text.h"

/* What the handler and on_line saw. */
struct seen {
    char out[1024];
    int lines[16];
    size_t n_lines;
    /* The last value as inih handed it: a pointer into inih's own line buffer. */
    const char *value;
    size_t value_len;
};

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct seen *s = user;
    size_t n = strlen(s->out);
    snprintf(s->out + n, sizeof(s->out) - n, "[%s]%s=%s;", section, name, value);
    s->value = value;
    s->value_len = strlen(value);
    return strcmp(name, "fail") != 0;
}

static void on_line(void *user, int lineno, const char *line, size_t len)
{
    struct seen *s = user;
    (void)line, (void)len;
    if (s->n_lines < 16)
        s->lines[s->n_lines++] = lineno;
}

static int parse(const char *data, size_t len, size_t max_line, struct seen *s, struct wd_ini_text *t)
{
    memset(s, 0, sizeof(*s));
    *t = (struct wd_ini_text){.data = data, .len = len, .max_line = max_line, .on_line = on_line};
    return wd_ini_parse_text(t, handler, s);
}

static void test_lines(void **state)
{
    (void)state;
    struct seen s;
    struct wd_ini_text t;
    /* CRLF, a BOM, an indented key (an ordinary line: no continuation), a comment, no final newline. */
    const char *text = "\xEF\xBB\xBF[a]\r\nk = v\r\n  indented = yes\n; comment\n[b]\nx=1";
    assert_int_equal(parse(text, strlen(text), 198, &s, &t), 0);
    assert_string_equal(s.out, "[a]k=v;[a]indented=yes;[b]x=1;");
    assert_int_equal(s.n_lines, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(s.lines[i], i + 1);

    /* inih's error line: a syntax error, or the first line whose handler call failed. */
    text = "[a]\nok = 1\nnot a pair\nfail = 1\n";
    assert_int_equal(parse(text, strlen(text), 198, &s, &t), 3);
    text = "[a]\nok = 1\nfail = 1\nnot a pair\n";
    assert_int_equal(parse(text, strlen(text), 198, &s, &t), 3);
    assert_int_equal(parse("", 0, 198, &s, &t), 0);
    assert_string_equal(s.out, "");
}

static void test_nul_and_long_lines(void **state)
{
    (void)state;
    struct seen s;
    struct wd_ini_text t;
    const char text[] = "[a]\nk = v\nx = before\0after\ny = 2\n";
    assert_int_equal(parse(text, sizeof(text) - 1, 198, &s, &t), WD_INI_NUL);
    assert_int_equal(t.lineno, 3);
    assert_string_equal(s.out, ""); /* checked before anything is handled */

    char line[300];
    memset(line, 'v', sizeof(line));
    memcpy(line, "[a]\nk = ", 8);
    line[8 + 20] = '\n'; /* line 2: "k = " and 20 bytes = 24 */
    assert_int_equal(parse(line, 8 + 21, 24, &s, &t), 0);
    assert_int_equal(parse(line, 8 + 21, 23, &s, &t), WD_INI_TOO_LONG);
    assert_int_equal(t.lineno, 2);
    /* "\r\n" does not count. */
    memcpy(line + 8 + 20, "\r\n", 2);
    assert_int_equal(parse(line, 8 + 22, 24, &s, &t), 0);
}

static void test_options_restored(void **state)
{
    (void)state;
    struct seen s;
    struct wd_ini_text t;
    bool stack = ini_use_stack, multi = ini_allow_multiline;
    int max = ini_max_line, initial = ini_initial_alloc;
    assert_int_equal(parse("[a]\nk=v\n", 8, 4000, &s, &t), 0);
    assert_int_equal(ini_use_stack, stack);
    assert_int_equal(ini_allow_multiline, multi);
    assert_int_equal(ini_max_line, max);
    assert_int_equal(ini_initial_alloc, initial);
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

static void test_line_buffer_wiped(void **state)
{
    (void)state;
    struct seen s;
    struct wd_ini_text t;
    /* A key name longer than 16 bytes keeps the value clear of what the allocator writes into a freed
     * block's first bytes. */
    const char *text = "[default]\naws_secret_access_key_padding = wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET\n";
    assert_int_equal(parse(text, strlen(text), 198, &s, &t), 0);
    assert_non_null(s.value);
    assert_int_equal(s.value_len, 36);
    char after[36];
    ssize_t r = peek(s.value, after, sizeof(after));
    if (r < 0)
        return; /* unmapped: nothing left to read */
    assert_int_equal(r, (ssize_t)sizeof(after));
    for (size_t i = 0; i < sizeof(after); i++)
        if (after[i] != '\0')
            fail_msg("inih's line buffer still holds %.36s after the parse", after);
}

static char dir[64];

static const char *temp_file(const char *name, const void *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_file_read(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wdini-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct wd_buf b = {0};

    char big[10000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    big[5000] = '\0'; /* read as it is: the parser refuses it, not the reader */
    const char *path = temp_file("big", big, sizeof(big));
    assert_int_equal(wd_ini_file_read(path, sizeof(big), &b), 0);
    assert_int_equal(b.len, sizeof(big));
    assert_memory_equal(b.data, big, sizeof(big));
    assert_int_equal(b.data[b.len], '\0');
    wd_buf_free_secure(&b);

    errno = 0;
    assert_int_equal(wd_ini_file_read(path, sizeof(big) - 1, &b), -1);
    assert_int_equal(errno, EFBIG);
    assert_null(b.data);
    unlink(path);

    assert_int_equal(wd_ini_file_read(dir, 1000, &b), -1);
    assert_int_equal(errno, EISDIR);
    assert_null(b.data);

    snprintf(big, sizeof(big), "%s/none", dir);
    assert_int_equal(wd_ini_file_read(big, 1000, &b), -1);
    assert_int_equal(errno, ENOENT);

    /* A source that never ends stops at the limit; one that is not a regular file grows as it is read. */
    assert_int_equal(wd_ini_file_read("/dev/zero", 100000, &b), -1);
    assert_int_equal(errno, EFBIG);
    assert_null(b.data);

    path = temp_file("empty", "", 0);
    assert_int_equal(wd_ini_file_read(path, 1000, &b), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    wd_buf_free_secure(&b);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_nul_and_long_lines),
        cmocka_unit_test(test_options_restored),
        cmocka_unit_test(test_line_buffer_wiped),
        cmocka_unit_test(test_file_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
