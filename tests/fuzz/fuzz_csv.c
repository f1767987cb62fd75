/* fuzz_csv — libFuzzer target: the CSV reader and the validation rules on whatever bytes
 * come in (header interpretation, both modes, request building, output quoting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "reader.h"
#include "request.h"
#include "writer.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    FILE *fp = fmemopen((void *)data, size ? size : 1, "rb");
    if (!fp)
        return 0;
    if (!size) {
        fclose(fp);
        return 0;
    }
    reader *r = reader_from_stream(fp, 0);
    record rec;
    record_init(&rec);
    char err[512];
    columns c;
    int have_cols = 0;
    request req;
    request_init(&req);
    request_opts o = {MODE_AUTO, 1, (int)(size & 1), "fuzzjob"};
    char out[256];
    int n = 0;
    while (reader_next(r, &rec, err, sizeof err) == 1 && n++ < 10000) {
        if (!have_cols) {
            if (columns_parse(&c, &rec, MODE_AUTO, NULL, 0, err, sizeof err) < 0) {
                columns_free(&c);
                break;
            }
            have_cols = 1;
            o.mode = c.mode;
            continue;
        }
        request_build(&c, &rec, &o, 0, &req);
        for (size_t i = 0; i < rec.n; i++)
            writer_quote(record_field(&rec, i), rec.flen[i], 1, out, sizeof out);
    }
    if (have_cols)
        columns_free(&c);
    request_free(&req);
    record_free(&rec);
    reader_close(r);
    fclose(fp);
    return 0;
}
