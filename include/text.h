/* text — small pure helpers for text that came from outside (the API's answers, input
 * cells) on its way into results and logs: printable copies and secret scrubbing. */
#ifndef OTTU_TEXT_H
#define OTTU_TEXT_H

#include <stddef.h>

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

#endif
