/* Fuzz target: the lease item read back from the lease table (wd_lease_ddb_parse_item), a GetItem answer. */
#include <string.h>

#include "fuzz.h"
#include "lease_ddb_internal.h"

static const struct wd_fence fence = {.table = "locks", .lease_key = "widgetd"};

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct wd_lease_record rec, sentinel;
    memset(&sentinel, 0x5a, sizeof(sentinel));
    rec = sentinel;
    struct wd_error err = {0};
    int rc = wd_lease_ddb_parse_item(&fence, body, size, &rec, &err);
    if (rc < 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(memcmp(&rec, &sentinel, sizeof(rec)) == 0); /* out untouched on failure */
        FUZZ_CHECK(err.cls == WD_ERR_INTERNAL || err.cls == WD_ERR_NOMEM);
        FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)) && fuzz_one_line(err.message));
        FUZZ_CHECK(err.message[0] != '\0');
    } else {
        FUZZ_CHECK(rc == 0);
        if (rec.exists) {
            /* what the state machine may rely on: short, printable, terminated, a number that can grow */
            FUZZ_CHECK(fuzz_terminated(rec.owner, sizeof(rec.owner)) && rec.owner[0] != '\0');
            FUZZ_CHECK(fuzz_terminated(rec.rvn, sizeof(rec.rvn)) && rec.rvn[0] != '\0');
            FUZZ_CHECK(printable_ascii(rec.owner) && printable_ascii(rec.rvn));
            FUZZ_CHECK(rec.leadership < UINT64_C(1000000000000000000));
            FUZZ_CHECK(rec.released == true || rec.released == false);
        }
    }
    /* The same answer always reads the same. */
    struct wd_lease_record again = sentinel;
    struct wd_error err2 = {0};
    FUZZ_CHECK(wd_lease_ddb_parse_item(&fence, body, size, &again, &err2) == rc);
    FUZZ_CHECK(memcmp(&again, &rec, sizeof(rec)) == 0 && strcmp(err.message, err2.message) == 0);
    return 0;
}
