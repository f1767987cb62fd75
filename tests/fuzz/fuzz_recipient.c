/* fuzz_recipient — libFuzzer target: template recipients (phone, email), masks, numbers. */
#include <stdint.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *s = (const char *)data;
    char out[64], err[256];
    if (rules_normalize_phone(s, size, out, sizeof out, err, sizeof err) == 0) {
        size_t n = strlen(out);
        if (out[0] != '+' || n < 9 || n > 16)
            __builtin_trap(); /* + and 8-15 digits, nothing else */
    }
    rules_is_email(s, size);
    long long v;
    rules_parse_int(s, size, &v);
    rules_parse_language(s, size);
    rules_mask_phone(s, size, out, sizeof out);
    rules_mask_email(s, size, out, sizeof out);
    return 0;
}
