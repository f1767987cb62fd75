/* reader_detect — the reader's look at the head of its input (reader_detect.c): private
 * to reader.c. label names the input in messages. */
#ifndef OTTU_READER_DETECT_H
#define OTTU_READER_DETECT_H

#include <stddef.h>

/* -1 with err (saying what the file is and what to do) when p[0..n), the input's first
 * chunk, is a workbook, compressed data, a document, or has a NUL in its header line
 * (unless encoding_given or a byte order mark: then it may be UTF-16); else 0. */
int reader_check_text(const char *label, const char *p, size_t n, int encoding_given, char *err, size_t errlen);
/* The delimiter (, ; tab |) that occurs most often outside quotes in the header line. */
char reader_detect_delimiter(const char *s, size_t len);
/* 0 when s[0..len) is UTF-8 (final: s is the whole input, so a sequence cut at the end is
 * bad too); else -1 with err naming the row and column and, unless the text was converted
 * from conv_name, the likely encoding. */
int reader_check_utf8(const char *label, const char *s, size_t len, char delim, int final, const char *conv_name,
                      char *err, size_t errlen);

#endif
