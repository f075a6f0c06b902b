// idmap.c — the user namespace an ID-mapped mount takes its mapping from (mount_setattr(2)
// MOUNT_ATTR_IDMAP needs one as an fd): a short-lived child unshares a user namespace and stops
// itself (SIGSTOP); the caller, seeing it stopped (waitpid WUNTRACED), writes its uid_map and
// gid_map, opens /proc/PID/ns/user and kills it. No pipe is involved: a descriptor copied into a
// process another thread forks meanwhile could otherwise keep an end open and hang the handshake.
// Raw system calls only in the child (the caller is multi-threaded).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void proc_path(char p[64], pid_t pid, const char *name) {
    char num[24];
    shim_strlcpy(p, "/proc/", 64);
    shim_strlcat(p, shim_itoa(pid, num), 64);
    shim_strlcat(p, "/", 64);
    shim_strlcat(p, name, 64);
}

static int write_proc(pid_t pid, const char *name, const char *text, struct aegis_idmap_result *res, int step) {
    char p[64];
    proc_path(p, pid, name);
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
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        res->step = AEGIS_STEP_FORK;
        res->err = errno;
        return -1;
    }
    if (pid == 0) {
        if (syscall(SYS_unshare, CLONE_NEWUSER) != 0) syscall(SYS_exit_group, 1);
        syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
        syscall(SYS_exit_group, 0);  // continued or killed: either way done
    }
    int status = 0, ns = -1;
    while (waitpid(pid, &status, WUNTRACED) < 0 && errno == EINTR) {}
    if (!WIFSTOPPED(status)) {
        res->step = AEGIS_STEP_IDMAP;
        res->err = EPERM;
        shim_strlcpy(res->detail, "unshare(CLONE_NEWUSER) in the mapping's helper", sizeof res->detail);
        return -1;  // it exited: already reaped
    }
    if (write_proc(pid, "uid_map", uid_map, res, AEGIS_STEP_UID_MAP) == 0 &&
        write_proc(pid, "gid_map", gid_map, res, AEGIS_STEP_GID_MAP) == 0) {
        char p[64];
        proc_path(p, pid, "ns/user");
        ns = open(p, O_RDONLY | O_CLOEXEC);
        if (ns < 0) { res->step = AEGIS_STEP_IDMAP; res->err = errno; shim_strlcpy(res->detail, p, sizeof res->detail); }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    return ns;
}
