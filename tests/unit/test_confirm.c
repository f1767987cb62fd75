/* test_confirm — the question before real sends: only "yes" sends; the counts it shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confirm.h"
#include "reader.h"

static int ask(const char *answer, size_t len, char *prompt, size_t psize, const char *url)
{
    static const long ch[3] = {3, 2, 0};
    FILE *in = fmemopen((void *)answer, len ? len : 1, "r");
    FILE *out = fmemopen(prompt, psize, "w");
    assert_non_null(in);
    assert_non_null(out);
    if (!len)
        fgetc(in); /* an empty stream: at its end */
    int rc = confirm_send(in, out, 4, ch, url);
    fclose(in);
    fclose(out);
    return rc;
}

static void test_only_yes_sends(void **state)
{
    (void)state;
    char prompt[512];
    static const struct {
        const char *answer;
        int want;
    } cases[] = {
        {"yes\n", 1}, {"  yes \r\n", 1}, {"yes", 1}, {"YES\n", 0}, {"y\n", 0}, {"no\n", 0},
        {"\n", 0},    {"yes please\n", 0}, {"yesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyesyes\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = ask(cases[i].answer, strlen(cases[i].answer), prompt, sizeof prompt, "https://m.ottu.net");
        if (rc != cases[i].want)
            fail_msg("answer \"%s\": %d, want %d", cases[i].answer, rc, cases[i].want);
    }
    assert_int_equal(ask("", 0, prompt, sizeof prompt, "https://m.ottu.net"), 0); /* end of input */
}

static void test_prompt_text(void **state)
{
    (void)state;
    char prompt[512];
    ask("no\n", 3, prompt, sizeof prompt, "https://user:secret@merchant.ottu.net:8443/b/checkout?x=1");
    assert_string_equal(prompt, "About to send 5 notifications (sms 3, email 2, whatsapp 0) for 4 rows to "
                                "https://merchant.ottu.net:8443 \xe2\x80\x94 type yes to send: ");
    assert_null(strstr(prompt, "secret"));
    ask("no\n", 3, prompt, sizeof prompt, "http://127.0.0.1:8080");
    assert_non_null(strstr(prompt, " to http://127.0.0.1:8080 \xe2\x80\x94"));
}

static void test_count_as_the_job_would(void **state)
{
    (void)state;
    char path[] = "/tmp/test_confirm.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *csv = "order_no,channels\n"
                      "A1,sms;email\n"
                      "A2,whatsapp\n"
                      "A1,sms;email\n" /* duplicate: not sent again */
                      "A4,fax\n"       /* invalid */
                      ",sms\n"         /* invalid: no identifier */
                      "A6,sms\n";
    assert_int_equal(write(fd, csv, strlen(csv)), (ssize_t)strlen(csv));
    close(fd);
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.input = path;
    char err[256] = "";
    reader *r = reader_open(path, 0, NULL, err, sizeof err);
    assert_non_null(r);
    record hdr;
    record_init(&hdr);
    assert_int_equal(reader_next(r, &hdr, err, sizeof err), 1);
    columns cols;
    assert_int_equal(columns_parse(&cols, &hdr, MODE_AUTO, NULL, 0, err, sizeof err), 0);
    request_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.mode = cols.mode;
    ro.job_id = "";
    long rows, ch[3];
    if (confirm_count(&cfg, &cols, &ro, &rows, ch, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(rows, 3);
    assert_int_equal(ch[0], 2);
    assert_int_equal(ch[1], 1);
    assert_int_equal(ch[2], 1);
    /* a shard sees only its rows */
    cfg.shard_n = 2;
    long total = 0;
    for (unsigned k = 0; k < 2; k++) {
        cfg.shard_k = k;
        assert_int_equal(confirm_count(&cfg, &cols, &ro, &rows, ch, err, sizeof err), 0);
        total += rows;
    }
    assert_int_equal(total, 3);
    columns_free(&cols);
    record_free(&hdr);
    reader_close(r);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_yes_sends),
        cmocka_unit_test(test_prompt_text),
        cmocka_unit_test(test_count_as_the_job_would),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
