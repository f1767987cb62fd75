/* test_keys — where cli_load_key finds the key (--api-key-file, OTTU_API_KEY_FILE,
 * $CREDENTIALS_DIRECTORY/ottu-api-key, OTTU_API_KEY, in that order), what it trims (a BOM,
 * surrounding blanks and line ends) and what it refuses (inner spaces and controls, files
 * others can read, a group-readable file on a writable disk, a FIFO), never echoing the key.
 * The read-only-mount rule needs a mount: tests/integration/test_ops.sh covers it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TESTDIR_NAME "keys"
#include "testdir.h"

#include "cli.h"

static char err[1024];

static const char *key_file(const char *name, const char *content, mode_t mode)
{
    const char *p = testdir_write(name, content, strlen(content));
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

/* Loads with a fresh config; returns the key (static copy) or NULL. */
static const char *load(const char *file)
{
    static char got[256];
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.api_key_file = file;
    err[0] = '\0';
    int rc = cli_load_key(&cfg, err, sizeof err);
    if (rc < 0) {
        assert_null(cfg.api_key);
        assert_true(err[0] != '\0');
        return NULL;
    }
    snprintf(got, sizeof got, "%s", cfg.api_key);
    cli_free(&cfg);
    return got;
}

static int setup(void **state)
{
    (void)state;
    unsetenv("OTTU_API_KEY");
    unsetenv("OTTU_API_KEY_FILE");
    unsetenv("CREDENTIALS_DIRECTORY");
    return 0;
}

static void test_trim(void **state)
{
    (void)state;
    assert_string_equal(load(key_file("bom", "\xEF\xBB\xBFsk_live_1\r\n", 0600)), "sk_live_1");
    assert_string_equal(load(key_file("blanks", "  sk_live_2 \t\n\n", 0400)), "sk_live_2");
    assert_null(load(key_file("empty", "\xEF\xBB\xBF\n", 0600)));
    assert_non_null(strstr(err, "empty"));
    /* inside the key: refused, saying where but not what */
    assert_null(load(key_file("inner", "sk_live secret\n", 0600)));
    assert_non_null(strstr(err, "space at character 8"));
    assert_null(strstr(err, "secret"));
    assert_null(load(key_file("two-lines", "sk_first\nsk_second\n", 0600)));
    assert_non_null(strstr(err, "line break"));
    assert_null(strstr(err, "sk_"));
    assert_null(load(key_file("ctrl", "sk\x01x", 0600)));
    assert_non_null(strstr(err, "control character"));
    /* the same rules for the variable */
    setenv("OTTU_API_KEY", "\xEF\xBB\xBFsk_env\r\n", 1);
    assert_string_equal(load(NULL), "sk_env");
    setenv("OTTU_API_KEY", "sk env", 1);
    assert_null(load(NULL));
    assert_non_null(strstr(err, "OTTU_API_KEY"));
    unsetenv("OTTU_API_KEY");
    assert_null(load(NULL));
    assert_non_null(strstr(err, "no API key"));
}

static void test_permissions(void **state)
{
    (void)state;
    assert_null(load(key_file("world", "sk_w", 0644)));
    assert_non_null(strstr(err, "readable by others"));
    assert_null(strstr(err, "sk_w"));
    /* group-readable on a writable disk (the test folder): refused */
    assert_null(load(key_file("group", "sk_g", 0640)));
    assert_non_null(strstr(err, "group or others"));
    assert_null(load(key_file("group-only", "sk_g", 0440)));
    assert_null(load(testdir_path("missing")));
    assert_non_null(strstr(err, "missing"));
    /* a FIFO is refused at once, not waited on */
    const char *fifo = testdir_path("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(load(fifo));
    assert_non_null(strstr(err, "not a regular file"));
    assert_null(load(tmpdir));
}

static void test_order(void **state)
{
    (void)state;
    const char *flag = key_file("flag", "sk_flag", 0600);
    const char *envf = key_file("envfile", "sk_envfile", 0600);
    char creds[400];
    snprintf(creds, sizeof creds, "%s/creds", tmpdir);
    assert_int_equal(mkdir(creds, 0700), 0);
    key_file("creds/ottu-api-key", "sk_cred\n", 0400);

    setenv("OTTU_API_KEY", "sk_var", 1);
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    setenv("OTTU_API_KEY_FILE", envf, 1);
    assert_string_equal(load(flag), "sk_flag");
    assert_string_equal(load(NULL), "sk_envfile");
    unsetenv("OTTU_API_KEY_FILE");
    assert_string_equal(load(NULL), "sk_cred");
    /* OTTU_API_KEY_FILE gets the same checks as --api-key-file, and names itself */
    setenv("OTTU_API_KEY_FILE", key_file("envfile-open", "sk_x", 0644), 1);
    assert_null(load(NULL));
    assert_non_null(strstr(err, "OTTU_API_KEY_FILE"));
    unsetenv("OTTU_API_KEY_FILE");
    /* the credential gets them too */
    assert_int_equal(chmod(testdir_path("creds/ottu-api-key"), 0644), 0);
    assert_null(load(NULL));
    assert_non_null(strstr(err, "credential"));
    /* a credentials folder without our credential: the variable is used */
    assert_int_equal(unlink(testdir_path("creds/ottu-api-key")), 0);
    assert_string_equal(load(NULL), "sk_var");
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("OTTU_API_KEY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_trim, setup),
        cmocka_unit_test_setup(test_permissions, setup),
        cmocka_unit_test_setup(test_order, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
