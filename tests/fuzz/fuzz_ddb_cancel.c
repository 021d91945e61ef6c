/* Fuzz target: the cancellation reasons of a TransactionCanceledException (wd_store_ddb_cancel_reasons). */
#include <string.h>

#include "fuzz.h"
#include "store_dynamodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wd_store_ddb_cancel a, b;
    bool ok = wd_store_ddb_cancel_reasons((const char *)data, size, &a);
    FUZZ_CHECK(fuzz_terminated(a.fence, sizeof(a.fence)) && fuzz_terminated(a.widget, sizeof(a.widget)));
    FUZZ_CHECK(fuzz_terminated(a.widget_message, sizeof(a.widget_message)) &&
               fuzz_one_line(a.widget_message));
    /* Read: both codes named ("None" at least); not read: nothing to act on. */
    FUZZ_CHECK(ok ? a.fence[0] != '\0' && a.widget[0] != '\0'
                  : a.fence[0] == '\0' && a.widget[0] == '\0' && a.widget_message[0] == '\0');
    /* The same body always says the same. */
    FUZZ_CHECK(wd_store_ddb_cancel_reasons((const char *)data, size, &b) == ok);
    FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    return 0;
}
