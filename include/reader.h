/* reader — streams CSV records from a file or stdin with libcsv, one record at a time, in
 * fixed-size chunks: memory depends on the largest record, never on the file size. */
#ifndef OTTU_READER_H
#define OTTU_READER_H

#include <stddef.h>
#include <stdio.h>

#include "record.h"


typedef struct reader reader;

#define READER_MAX_RECORD (16u << 20) /* a record larger than this is malformed */

/* path "-" = stdin. delim 0 = detect from the header line (, ; tab |). encoding: the
 * --encoding name (any iconv name), NULL = UTF-8; a UTF-8 or UTF-16 byte order mark wins.
 * Never blocks: a FIFO is opened without waiting for its writer (reads then wait).
 * Returns NULL with err set when the file cannot be opened.
 * Without an encoding, the first reader_next fails (err names the row, the column and the
 * likely encoding) when the header or the first 64 KiB is not UTF-8, and a later row that
 * is not comes back malformed, its bad bytes as U+FFFD. A workbook (.xlsx, .ods, .xls) as
 * input also fails the first reader_next, saying how to save it as CSV. */
/* 1 when path names a regular file (not "-", a FIFO, a device): one that can be read
 * again (fingerprint, --resume, the confirmation's count) without waiting or losing data. */
int reader_path_is_regular(const char *path);
/* The lines of a regular file (a final line without a newline counts): a cheap upper bound
 * of its records, read once with memchr. -1 when path is not a regular file or cannot be
 * read (a pipe is never read ahead). */
long long reader_count_lines(const char *path);
reader *reader_open(const char *path, char delim, const char *encoding, char *err, size_t errlen);
/* A FIFO with no writer yet is waited for at the first reader_next; cancel (when set) is
 * asked every 200 ms and ends the wait with an error when it returns non-zero (e.g. a
 * SIGINT pending while signals are blocked). */
void reader_set_cancel(reader *r, int (*cancel)(void *), void *arg);
/* Reads UTF-8 from an open stream the caller keeps owning (tests, fuzzing). */
reader *reader_from_stream(FILE *fp, char delim);
/* Reads the next record into rec. Returns 1, 0 at end of input, -1 on an I/O error (err). */
int reader_next(reader *r, record *rec, char *err, size_t errlen);
char reader_delimiter(const reader *r);
/* Bytes consumed so far and the input size (0 when unknown, e.g. a pipe). */
unsigned long long reader_bytes(const reader *r);
unsigned long long reader_size(const reader *r);
/* 1 when the input is a regular file that can be opened and read again (not stdin, a FIFO,
 * a device): only then may the journal fingerprint it or --resume re-read it. */
int reader_is_regular(const reader *r);
/* Data rows read so far (the header not counted). */
long reader_data_rows(const reader *r);
void reader_close(reader *r);

/* Removes the spreadsheet guard: a cell starting with ' followed by = + - @ tab or CR
 * loses the '. Returns the new length (in place). */
size_t reader_unguard(char *s, size_t len);

#endif
