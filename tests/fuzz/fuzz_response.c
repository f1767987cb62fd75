/* fuzz_response — libFuzzer target: API answers (any body) to a one-line message, and
 * Retry-After values. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"
#include "retry.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char out[512];
    size_t n = jsonutil_response_message((const char *)data, size, out, sizeof out);
    if (n >= sizeof out)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20)
            __builtin_trap(); /* never a control character in a message */
    char *v = malloc(size + 1);
    if (v) {
        memcpy(v, data, size);
        v[size] = '\0';
        long long ms = retry_after_ms(v, 1700000000);
        if (ms > RETRY_AFTER_CAP_MS)
            __builtin_trap();
        free(v);
    }
    return 0;
}
