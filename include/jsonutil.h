/* jsonutil — pure helpers around cJSON shared by ottu-resend and ottu-mock: reading the
 * human-readable message out of any of the API's response shapes, whether an answer
 * confirms a send, and DRF's throttle wait. */
#ifndef OTTU_JSONUTIL_H
#define OTTU_JSONUTIL_H

#include <stddef.h>

/* Extracts a one-line, printable message from an API response body of any documented
 * shape: {"message"}, {"detail"}, {"error": {"message", "code", "field"}}, field errors
 * {"field": ["msg", ...]}, or the failure shape {"channels": "sms", "result": "failed"}.
 * A body that is not JSON is summarised as text. Control characters are replaced, the
 * result is truncated to size. Returns the length written. */
size_t jsonutil_response_message(const char *body, size_t len, char *out, size_t size);

/* The same as text_printable (text.h), kept for its callers. */
size_t jsonutil_printable(const char *s, size_t len, char *out, size_t size);

typedef enum {
    JSONUTIL_NOT_A_CONFIRMATION = 0, /* anything else: the API may or may not have acted */
    JSONUTIL_CONFIRMED,              /* {"message": ...} without a result, or "result": "success" */
    JSONUTIL_FAILED                  /* "result": "failed" */
} jsonutil_confirmation_kind;

/* Reads what an answer body says about the send of the requested channels (RULES_* bits).
 * For JSONUTIL_FAILED, *failed_channels holds the channels the body names in "channels"
 * (a string such as "email" or "sms,email", or a list) among the requested ones, or every
 * requested channel when it names none of them; 0 otherwise. Any other "result" than
 * success/failed is not a confirmation, even beside a "message". */
jsonutil_confirmation_kind jsonutil_confirmation(const char *body, size_t len, unsigned requested,
                                                 unsigned *failed_channels);

/* Django REST framework's throttle message "... Expected available in N seconds." (in any
 * body, JSON or not) -> N, rounded up; -1 when the body has no such phrase. */
long long jsonutil_throttle_wait_s(const char *body, size_t len);

#endif
