/*
 * test_toolkit.c — the internal toolkit (src/internal.h): inputs that are
 * not regular files, output targets that must not be replaced, symbolic
 * links written through, path identity, CRC-32 and the clock.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* A fresh directory per test, removed (with what the test made) after. */
typedef struct {
    char dir[512];
} tdir;

static int setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    tu_tmp_path(t->dir, sizeof t->dir, "toolkit");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0 || mkdir(t->dir, 0755) != 0)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tdir *t = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static const char *in_dir(const tdir *t, const char *name, char *buf)
{
    snprintf(buf, 600, "%s/%s", t->dir, name);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    bs_error err;
    assert_int_equal(bs__write_file(path, text, strlen(text), &err), BS_OK);
}

static void assert_text(const char *path, const char *text)
{
    void *buf;
    size_t len;
    bs_error err;
    assert_int_equal(bs__read_file(path, 1 << 20, &buf, &len, &err), BS_OK);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(buf, text, len);
    free(buf);
}

/* A FIFO as an input fails at once (no reader blocks on it); so do a
   directory and an empty name. */
static void test_input_not_regular(void **state)
{
    tdir *t = *state;
    char p[600];
    in_dir(t, "fifo", p);
    assert_int_equal(mkfifo(p, 0644), 0);
    FILE *f = (FILE *)p;
    bs_error err;
    tu_assert_fails(bs__open_read(p, &f, NULL, &err), BS_ERR_IO, &err,
                    "not a regular file (it is a FIFO)");
    assert_null(f);
    void *buf;
    size_t len;
    tu_assert_fails(bs__read_file(p, 100, &buf, &len, &err), BS_ERR_IO, &err,
                    "a FIFO");
    bs_array a;
    tu_assert_fails(bs_npy_read(p, &a, &err), BS_ERR_IO, &err, "a FIFO");
    bs_graph *g;
    tu_assert_fails(bs_graph_load(p, &g, &err), BS_ERR_IO, &err, "a FIFO");
    tu_assert_fails(bs__open_read(t->dir, &f, NULL, &err), BS_ERR_IO, &err,
                    "a directory");
    tu_assert_fails(bs__open_read("", &f, NULL, &err), BS_ERR_INVALID_ARG, &err,
                    "input path is empty");
}

/* Existing targets that are not regular files are never replaced. */
static void test_output_not_regular(void **state)
{
    tdir *t = *state;
    char p[600];
    bs_error err;
    in_dir(t, "fifo", p);
    assert_int_equal(mkfifo(p, 0644), 0);
    tu_assert_fails(bs__write_file(p, "x", 1, &err), BS_ERR_IO, &err,
                    "exists and is a FIFO, not a regular file");
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    tu_assert_fails(bs__write_file(t->dir, "x", 1, &err), BS_ERR_IO, &err,
                    "is a directory");
    /* /dev/null as root used to become a regular file */
    tu_assert_fails(bs__output_check("/dev/null", &err), BS_ERR_IO, &err,
                    "/dev/null: exists and is a character device");
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    tu_assert_fails(bs__write_file("", "x", 1, &err), BS_ERR_INVALID_ARG, &err,
                    "output path is empty");
    assert_int_equal(tu_count_prefix(t->dir, "fifo.tmp."), 0);
}

/* The directory must exist, be a directory and take files. */
static void test_output_bad_directory(void **state)
{
    tdir *t = *state;
    char p[600], q[700];
    bs_error err;
    tu_assert_fails(bs__output_check(in_dir(t, "no/x", p), &err), BS_ERR_IO,
                    &err, "cannot use directory");
    write_text(in_dir(t, "file", p), "data");
    snprintf(q, sizeof q, "%s/x", p);
    tu_assert_fails(bs__output_check(q, &err), BS_ERR_IO, &err,
                    strerror(ENOTDIR));
    assert_int_equal(bs__output_check(in_dir(t, "new", p), &err), BS_OK);
    assert_int_equal(bs__output_check(in_dir(t, "file", p), &err), BS_OK);
}

/* Written through a link: the link stays a link, its target gets the
   bytes; a dangling link is refused. */
static void test_output_symlink(void **state)
{
    tdir *t = *state;
    char target[600], link[600], dangling[600];
    bs_error err;
    write_text(in_dir(t, "target", target), "old");
    assert_int_equal(symlink("target", in_dir(t, "link", link)), 0);
    write_text(link, "new");
    struct stat sb;
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_text(target, "new");
    assert_int_equal(tu_count_prefix(t->dir, "target.tmp."), 0);
    assert_int_equal(symlink("nowhere", in_dir(t, "dangling", dangling)), 0);
    tu_assert_fails(bs__write_file(dangling, "x", 1, &err), BS_ERR_IO, &err,
                    "symbolic link to a missing or unreachable file");
    assert_int_equal(lstat(dangling, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
}

/* A failed write (RLIMIT_FSIZE: EFBIG, with SIGXFSZ ignored as the CLI
   does) leaves the old file and no temporary. */
static void test_write_fails_no_temp(void **state)
{
    tdir *t = *state;
    char p[600];
    bs_error err;
    write_text(in_dir(t, "out", p), "old");
    static char big[1 << 16];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(bs__write_file(p, big, sizeof big, &err) == BS_ERR_IO &&
                      strstr(err.msg, strerror(EFBIG))
                  ? 0
                  : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_text(p, "old");
    assert_int_equal(tu_count_prefix(t->dir, "out.tmp."), 0);
}

static void test_same_file(void **state)
{
    tdir *t = *state;
    char a[600], b[600], l[600], rel[700];
    write_text(in_dir(t, "a", a), "a");
    in_dir(t, "b", b);
    assert_true(bs__same_file(a, a));
    assert_false(bs__same_file(a, b));
    assert_true(bs__same_file(b, b)); /* neither need exist */
    assert_int_equal(symlink("a", in_dir(t, "l", l)), 0);
    assert_true(bs__same_file(a, l));
    assert_true(link(a, b) == 0);
    assert_true(bs__same_file(a, b)); /* hard link: same inode */
    snprintf(rel, sizeof rel, "%s/./../%s/new", t->dir,
             strrchr(t->dir, '/') + 1);
    in_dir(t, "new", a);
    assert_true(bs__same_file(a, rel));
}

static void test_crc_and_clock(void **state)
{
    (void)state;
    const char *s = "123456789";
    assert_int_equal(bs__crc32(0, s, 9), 0xcbf43926u);
    assert_int_equal(bs__crc32(bs__crc32(0, s, 4), s + 4, 5), 0xcbf43926u);
    assert_int_equal(bs__crc32(0, s, 9),
                     (uint32_t)crc32(0, (const Bytef *)s, 9));
    double t0 = bs__now(), t1 = bs__now();
    assert_true(t1 >= t0 && t0 > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_input_not_regular, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_not_regular, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_bad_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_fails_no_temp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crc_and_clock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
