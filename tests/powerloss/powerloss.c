/* powerloss — an LD_PRELOAD shim that models a power cut: for every file under
 * $POWERLOSS_DIR it keeps, in $POWERLOSS_SHADOW, the file's content as of its last
 * fsync/fdatasync (copy on sync), so that after `kill -9` the shadow folder is what the
 * disk would hold had the power gone at that instant: data written but never synced is
 * lost, a file never synced does not exist. Names follow rename(2) and unlink(2) at once
 * (the metadata journal of ext4 and XFS keeps such operations in order); a name given to a
 * file that was never synced has no content in the image. So SQLite's -wal holds the
 * commits it synced (claims: synchronous=FULL), its -shm (never synced) is absent and
 * rebuilt from the -wal, as after a real power cut; the journal holds what its group
 * commits synced. A folder's fsync is a no-op here (names are kept at once): the shim
 * cannot catch a missing folder sync, only a missing file sync. Test-only: built into
 * build/tests/libpowerloss.so, never part of the product. The model is the LazyFS paper's
 * ("lose what was not fsynced"). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_remove)(const char *);
static char dir[PATH_MAX], shadow[PATH_MAX];
static size_t dirlen;
static unsigned long tmpno;

__attribute__((constructor)) static void init(void)
{
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    real_renameat = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
    real_unlink = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    real_remove = (int (*)(const char *))dlsym(RTLD_NEXT, "remove");
    const char *d = getenv("POWERLOSS_DIR"), *s = getenv("POWERLOSS_SHADOW");
    if (d && s && realpath(d, dir) && realpath(s, shadow))
        dirlen = strlen(dir);
}

/* The shadow path of an absolute path under the watched folder; 0 when it is not under it. */
static int shadow_of(const char *abs, char *out, size_t size)
{
    if (!dirlen || strncmp(abs, dir, dirlen) != 0 || abs[dirlen] != '/')
        return 0;
    const char *rel = abs + dirlen + 1;
    char flat[PATH_MAX];
    size_t i = 0;
    for (; rel[i] && i + 1 < sizeof flat; i++)
        flat[i] = rel[i] == '/' ? '#' : rel[i]; /* one flat folder: sub-folders as a#b */
    flat[i] = '\0';
    return snprintf(out, size, "%s/%s", shadow, flat) < (int)size;
}

/* Absolute form of path (relative to dirfd), whether or not it exists any more. */
static int absolute(int dirfd, const char *path, char *out, size_t size)
{
    char base[PATH_MAX];
    if (path[0] == '/') {
        snprintf(base, sizeof base, "%s", path);
    } else {
        char d[PATH_MAX / 2];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(d, sizeof d))
                return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, d, sizeof d - 1);
            if (n < 0)
                return 0;
            d[n] = '\0';
        }
        snprintf(base, sizeof base, "%s/%s", d, path);
    }
    /* resolve the folder (symbolic links, ..), keep the last name as it is */
    char *slash = strrchr(base, '/');
    char parent[PATH_MAX], real[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - base), base);
    if (!realpath(parent[0] ? parent : "/", real))
        return 0;
    return snprintf(out, size, "%s/%s", real, slash + 1) < (int)size;
}

/* Copies what fd holds now into its shadow (tmp, then rename: the image is never torn). */
static void capture(int fd)
{
    struct stat st;
    if (!dirlen || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    char link[64], path[PATH_MAX], sh[PATH_MAX], tmp[PATH_MAX + 32];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return;
    path[n] = '\0';
    if (!shadow_of(path, sh, sizeof sh))
        return;
    int in = open(link, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return;
    pthread_mutex_lock(&mu);
    snprintf(tmp, sizeof tmp, "%s/.pl-tmp.%d.%lu", shadow, (int)getpid(), tmpno++);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char buf[65536];
    ssize_t r;
    off_t off = 0;
    int ok = out >= 0;
    while (ok && (r = pread(in, buf, sizeof buf, off)) > 0) {
        ok = write(out, buf, (size_t)r) == r;
        off += r;
    }
    if (out >= 0)
        close(out);
    if (ok)
        real_rename(tmp, sh);
    else
        real_unlink(tmp);
    pthread_mutex_unlock(&mu);
    close(in);
}

int fsync(int fd)
{
    int rc = real_fsync(fd);
    if (rc == 0)
        capture(fd);
    return rc;
}

int fdatasync(int fd)
{
    int rc = real_fdatasync(fd);
    if (rc == 0)
        capture(fd);
    return rc;
}

/* After a successful rename: the shadow follows the name. */
static void renamed(int ofd, const char *from, int nfd, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX], sa[PATH_MAX], sb[PATH_MAX];
    int ha = absolute(ofd, from, a, sizeof a) && shadow_of(a, sa, sizeof sa);
    int hb = absolute(nfd, to, b, sizeof b) && shadow_of(b, sb, sizeof sb);
    pthread_mutex_lock(&mu);
    if (hb && ha && access(sa, F_OK) == 0)
        real_rename(sa, sb);
    else if (hb)
        real_unlink(sb); /* the name now holds a file never synced */
    else if (ha)
        real_unlink(sa);
    pthread_mutex_unlock(&mu);
}

static void removed(int dfd, const char *path)
{
    char a[PATH_MAX], sa[PATH_MAX];
    if (absolute(dfd, path, a, sizeof a) && shadow_of(a, sa, sizeof sa)) {
        pthread_mutex_lock(&mu);
        real_unlink(sa);
        pthread_mutex_unlock(&mu);
    }
}

int rename(const char *from, const char *to)
{
    int rc = real_rename(from, to);
    if (rc == 0)
        renamed(AT_FDCWD, from, AT_FDCWD, to);
    return rc;
}

int renameat(int ofd, const char *from, int nfd, const char *to)
{
    int rc = real_renameat(ofd, from, nfd, to);
    if (rc == 0)
        renamed(ofd, from, nfd, to);
    return rc;
}

int unlink(const char *path)
{
    int rc = real_unlink(path);
    if (rc == 0)
        removed(AT_FDCWD, path);
    return rc;
}

int unlinkat(int dfd, const char *path, int flags)
{
    int rc = real_unlinkat(dfd, path, flags);
    if (rc == 0 && !(flags & AT_REMOVEDIR))
        removed(dfd, path);
    return rc;
}

int remove(const char *path)
{
    int rc = real_remove(path);
    if (rc == 0)
        removed(AT_FDCWD, path);
    return rc;
}
