/* encoding — input text to UTF-8: byte order marks, streaming conversion with glibc's
 * iconv, and a guess at what a file that is not UTF-8 was saved as. */
#ifndef OTTU_ENCODING_H
#define OTTU_ENCODING_H

#include <stddef.h>

/* Written into the converted text for each input byte that is not valid in the source
 * encoding: 0xFF is never valid UTF-8, so the UTF-8 check downstream finds it. */
#define ENCODING_BAD_BYTE '\xff'

typedef struct encoding_conv encoding_conv;

/* The encoding a byte order mark at the start of p names ("UTF-8", "UTF-16LE",
 * "UTF-16BE"), with its length in *bomlen; NULL when there is none. */
const char *encoding_from_bom(const unsigned char *p, size_t n, size_t *bomlen);
/* 1 when name means UTF-8 ("utf-8", "UTF8", any case). */
int encoding_is_utf8(const char *name);
/* Opens a converter from the iconv encoding name to UTF-8. NULL with err when iconv
 * does not know the name. */
encoding_conv *encoding_conv_open(const char *name, char *err, size_t errlen);
const char *encoding_conv_name(const encoding_conv *cv);
/* Converts as much of *in as fits in *out, advancing both. A sequence cut at the end of
 * *in is left there for the next call (more input completes it), unless at_eof. Invalid
 * input bytes become ENCODING_BAD_BYTE. Returns the number of bad bytes met. */
size_t encoding_conv_step(encoding_conv *cv, const char **in, size_t *inleft, char **out, size_t *outleft,
                          int at_eof);
void encoding_conv_close(encoding_conv *cv);

/* Checks s for UTF-8. Returns 1 when valid, else 0 with *bad_at the first bad byte. When
 * !final, a sequence cut short by the end of s is not an error (the next chunk ends it). */
int encoding_utf8_ok(const char *s, size_t len, int final, size_t *bad_at);
/* Rewrites the invalid sequences of s (len bytes) as U+FFFD into out (room for 3 * len
 * bytes); returns the new length. */
size_t encoding_utf8_repair(const char *s, size_t len, char *out);
/* The single-byte encoding text that is not UTF-8 was most likely saved in: "windows-1256"
 * when most of its bytes >= 0x80 read as Arabic letters in it, else "windows-1252". */
const char *encoding_guess(const char *s, size_t len);

#endif
