/* text — small pure helpers for text that came from outside (the API's answers, input
 * cells) on its way into results and logs: printable copies and secret scrubbing. */
#ifndef OTTU_TEXT_H
#define OTTU_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define TEXT_REDACTED "[redacted]"

/* Copies text into out with control characters (C0, DEL, C1) and invalid UTF-8 replaced
 * by '?' (tab, CR and LF by a space), truncating at size with "..." on a character
 * boundary. Returns the length written (out is always NUL-terminated when size > 0). */
size_t text_printable(const char *s, size_t len, char *out, size_t size);

/* Replaces, in the NUL-terminated s (buffer of size bytes), every "Api-Key <secret>"
 * (the header value, any case of "Api-Key") and every other occurrence of secret with
 * "[redacted]". A text that grows past size is truncated (never a partial secret: the
 * scrub runs before the cut). NULL or empty secret: nothing to do. Returns the number of
 * occurrences replaced. */
int text_scrub_secret(char *s, size_t size, const char *secret);

/* 1 when cp is whitespace as Python's str.isspace() sees it (bidirectional class WS, B or
 * S, or category Zs): U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000. Not U+200B or U+FEFF. */
int text_is_space(uint32_t cp);
/* Trims that whitespace at both ends of s[0..*len), adjusting *s and *len: what Python's
 * str.strip() removes, and so what the API's framework (Django REST framework's CharField)
 * removes from an identifier. Invalid UTF-8 is kept as it is (never trimmed). */
void text_trim_space(const char **s, size_t *len);
/* ASCII lower case of s[0..len) into out (size > len); the comparison form of an email
 * address (only ASCII addresses are accepted). Returns len. */
size_t text_lower_ascii(const char *s, size_t len, char *out, size_t size);

#endif
