/* rules — the pure validation rules of the Ottu Notifications API: channels, payment
 * states, identifiers, template recipients, header names. No I/O, no globals; shared by
 * ottu-resend and ottu-mock. Error texts are written into caller buffers. */
#ifndef OTTU_RULES_H
#define OTTU_RULES_H

#include <stddef.h>
#include <stdint.h>

/* Channels are a bit set; the bit order is the canonical output order sms;email;whatsapp. */
enum {
    RULES_SMS = 1u << 0,
    RULES_EMAIL = 1u << 1,
    RULES_WHATSAPP = 1u << 2,
    RULES_ALL_CHANNELS = RULES_SMS | RULES_EMAIL | RULES_WHATSAPP
};

/* Notification events, then the transaction states that have none (docs/formats.md has the
 * table). RULES_STATE_NONE = not a state. */
typedef enum {
    RULES_STATE_NONE = -1,
    RULES_STATE_CREATED = 0,
    RULES_STATE_PAID,
    RULES_STATE_CANCELED,
    RULES_STATE_FAILED,
    RULES_STATE_EXPIRED,
    RULES_STATE_AUTHORIZED,
    RULES_STATE_VOIDED,
    RULES_STATE_REFUNDED,
    RULES_STATE_CAPTURED,
    /* Transaction states with no notification event: a row in one is invalid. */
    RULES_STATE_PENDING,
    RULES_STATE_ATTEMPTED,
    RULES_STATE_COD,
    RULES_STATE_INVALIDED,
    RULES_STATE_REFUND_QUEUED,
    RULES_STATE_REFUND_REJECTED,
    RULES_STATE_COUNT
} rules_state;

#define RULES_ID_MAX_CHARS 128
#define RULES_TRACE_ID_MAX_CHARS 60

/* One channel name ("sms", any case) to its bit; 0 when not a channel. */
unsigned rules_channel_from_name(const char *s, size_t len);
/* Name of a single channel bit ("sms"), or NULL. */
const char *rules_channel_name(unsigned bit);
/* Parses a channels cell: tokens separated by , ; | or spaces, any case, repeats collapse.
 * Returns 0 and sets *mask (possibly 0 for an empty cell), or -1 with err naming the
 * first bad token. */
int rules_parse_channels(const char *s, size_t len, unsigned *mask, char *err, size_t errlen);
/* Writes "sms;email;whatsapp" order, ';'-joined; returns the length. */
size_t rules_format_channels(unsigned mask, char *buf, size_t size);

/* A state name, any case, surrounding spaces ignored; RULES_STATE_NONE when unknown. */
rules_state rules_parse_state(const char *s, size_t len);
const char *rules_state_name(rules_state st);
/* The channels that support a payment state (all three, sms+email for voided, refunded and
 * captured, none for a state with no notification event). */
unsigned rules_channels_for_state(rules_state st);
/* 1 when Ottu sends notifications for the state (an event), 0 for pending, cod, ... */
int rules_state_has_notification(rules_state st);

/* Trims surrounding ASCII spaces and tabs in place (adjusts pointer and length). */
void rules_trim(const char **s, size_t *len);
/* Validates a trimmed order_no/session_id value: <= 128 code points, valid UTF-8, no
 * C0/DEL/C1 control characters. Returns 0, or -1 with err (never echoing raw bytes). */
int rules_check_identifier(const char *s, size_t len, char *err, size_t errlen);
/* Decodes the one UTF-8 sequence at s[0..len) (len >= 1): returns its length with *cp set,
 * or 0 when it is not well-formed (overlong, surrogate, past U+10FFFF, truncated). The
 * project's one code-point decoder. */
size_t rules_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Checks UTF-8 validity; returns the number of code points or -1 (with *bad_at the byte
 * offset of the first invalid sequence when not NULL). */
long rules_utf8_count(const char *s, size_t len, size_t *bad_at);

/* Header normalisation: trim, lower case, each run of spaces/hyphens/underscores -> '_'.
 * "Order No" -> "order_no". Returns the length written (NUL-terminated, truncated). */
size_t rules_normalize_header(const char *in, size_t len, char *out, size_t size);

/* Template recipients. An email address: local@domain.tld, no spaces, one '@', a dot in
 * the domain, printable ASCII. Returns 1 when valid. */
int rules_is_email(const char *s, size_t len);
/* Normalises a phone number: removes spaces, hyphens, dots and brackets; the result must
 * be '+' then 8-15 digits. Returns 0 with out NUL-terminated, or -1 with err. */
int rules_normalize_phone(const char *in, size_t len, char *out, size_t size, char *err, size_t errlen);
/* Parses a decimal integer (optional sign, surrounding spaces ignored). Returns 0 or -1. */
int rules_parse_int(const char *s, size_t len, long long *out);
/* "en"/"ar" (any case); empty -> "en". Returns the canonical string or NULL. */
const char *rules_parse_language(const char *s, size_t len);

/* FNV-1a 64-bit, the shard hash of the contract. */
uint64_t rules_fnv1a64(const void *data, size_t len);
uint64_t rules_fnv1a64_update(uint64_t h, const void *data, size_t len);
#define RULES_FNV_OFFSET 0xcbf29ce484222325ULL

/* Masks for logs: "+9655****123", "f***@example.com". Returns the length written. */
size_t rules_mask_phone(const char *s, size_t len, char *out, size_t size);
size_t rules_mask_email(const char *s, size_t len, char *out, size_t size);

#endif
