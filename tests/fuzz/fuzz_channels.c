/* fuzz_channels — libFuzzer target: channel lists, payment states, identifiers, headers. */
#include <stdint.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *s = (const char *)data;
    unsigned mask;
    char err[256], buf[64], norm[128];
    if (rules_parse_channels(s, size, &mask, err, sizeof err) == 0) {
        rules_format_channels(mask, buf, sizeof buf);
        if (mask & ~RULES_ALL_CHANNELS)
            __builtin_trap();
    }
    rules_state st = rules_parse_state(s, size);
    if (st != RULES_STATE_NONE && (rules_channels_for_state(st) & ~RULES_ALL_CHANNELS))
        __builtin_trap();
    rules_check_identifier(s, size, err, sizeof err);
    rules_normalize_header(s, size, norm, sizeof norm);
    rules_utf8_count(s, size, NULL);
    return 0;
}
