/* Shared by the fuzz targets: the libFuzzer entry point's prototype and small property-check helpers. */
#ifndef WD_FUZZ_H
#define WD_FUZZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer calls this once per input; so does replay_main.c for every file of a corpus. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property is a finding: say which one and abort, so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/*
 * True when s is one printable line, as log-ready messages promise (lib/escape.c): valid UTF-8 without
 * C0 controls, DEL or C1 controls.
 */
static inline bool fuzz_one_line(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = *p >= 0xf0 && *p <= 0xf4   ? 4
                   : *p >= 0xe0 && *p <= 0xef ? 3
                   : *p >= 0xc2 && *p <= 0xdf ? 2
                                              : 0;
        if (n == 0 || (n == 2 && *p == 0xc2 && p[1] < 0xa0)) /* not a lead byte, or a C1 control */
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

/* True when a fixed-size char array holds a NUL (the string in it is terminated). */
static inline bool fuzz_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* Parses text[0..len) as strict JSON (duplicates refused); the caller json_decref()s. NULL: not JSON. */
static inline json_t *fuzz_json(const char *text, size_t len)
{
    json_error_t jerr;
    return json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
}

/* obj[key] as a string, or NULL when absent or not a string. */
static inline const char *fuzz_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

#endif
