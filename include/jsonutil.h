/* jsonutil — pure helpers around cJSON shared by ottu-resend and ottu-mock: reading the
 * human-readable message out of any of the API's response shapes. */
#ifndef OTTU_JSONUTIL_H
#define OTTU_JSONUTIL_H

#include <stddef.h>

/* Extracts a one-line, printable message from an API response body of any documented
 * shape: {"message"}, {"detail"}, {"error": {"message", "code", "field"}}, field errors
 * {"field": ["msg", ...]}, or the failure shape {"channels": "sms", "result": "failed"}.
 * A body that is not JSON is summarised as text. Control characters are replaced, the
 * result is truncated to size. Returns the length written. */
size_t jsonutil_response_message(const char *body, size_t len, char *out, size_t size);

/* Copies text into out with control characters and invalid UTF-8 replaced by '?',
 * truncating at size with "...". Returns the length written. */
size_t jsonutil_printable(const char *s, size_t len, char *out, size_t size);

#endif
