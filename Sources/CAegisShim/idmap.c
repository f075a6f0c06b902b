// idmap.c — the user namespace an ID-mapped mount takes its mapping from (mount_setattr(2)
// MOUNT_ATTR_IDMAP needs one as an fd): a short-lived child unshares a user namespace and waits;
// the caller writes its uid_map and gid_map, opens /proc/PID/ns/user and lets it exit. Raw system
// calls only in the child (the caller is multi-threaded).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_proc(pid_t pid, const char *name, const char *text, struct aegis_idmap_result *res, int step) {
    char p[64], num[24];
    shim_strlcpy(p, "/proc/", sizeof p);
    shim_strlcat(p, shim_itoa(pid, num), sizeof p);
    shim_strlcat(p, "/", sizeof p);
    shim_strlcat(p, name, sizeof p);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    size_t len = shim_strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        res->step = step;
        res->err = errno;
        shim_strlcpy(res->detail, p, sizeof res->detail);
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int aegis_idmap_userns(const char *uid_map, const char *gid_map, struct aegis_idmap_result *res) {
    memset(res, 0, sizeof *res);
    int ready[2] = { -1, -1 }, release[2] = { -1, -1 };
    int ns = -1;
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0) { res->step = AEGIS_STEP_PIPE; res->err = errno; goto out; }
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) { res->step = AEGIS_STEP_FORK; res->err = errno; goto out; }
    if (pid == 0) {
        // Only this end of each pipe: the parent's close of `release` must reach read() as EOF.
        close(release[1]);
        close(ready[0]);
        char c = syscall(SYS_unshare, CLONE_NEWUSER) == 0 ? 1 : 0;
        (void)!write(ready[1], &c, 1);
        (void)!read(release[0], &c, 1);
        syscall(SYS_exit_group, 0);
    }
    close(ready[1]); ready[1] = -1;
    close(release[0]); release[0] = -1;
    char ok = 0;
    if (read(ready[0], &ok, 1) != 1 || !ok) {
        res->step = AEGIS_STEP_IDMAP;
        res->err = EPERM;
        shim_strlcpy(res->detail, "unshare(CLONE_NEWUSER)", sizeof res->detail);
    } else if (write_proc(pid, "uid_map", uid_map, res, AEGIS_STEP_UID_MAP) == 0 &&
               write_proc(pid, "gid_map", gid_map, res, AEGIS_STEP_GID_MAP) == 0) {
        char p[64], num[24];
        shim_strlcpy(p, "/proc/", sizeof p);
        shim_strlcat(p, shim_itoa(pid, num), sizeof p);
        shim_strlcat(p, "/ns/user", sizeof p);
        ns = open(p, O_RDONLY | O_CLOEXEC);
        if (ns < 0) { res->step = AEGIS_STEP_IDMAP; res->err = errno; shim_strlcpy(res->detail, p, sizeof res->detail); }
    }
    close(release[1]); release[1] = -1;  // the child exits
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
out:
    for (int i = 0; i < 2; i++) {
        if (ready[i] >= 0) close(ready[i]);
        if (release[i] >= 0) close(release[i]);
    }
    return ns;
}
