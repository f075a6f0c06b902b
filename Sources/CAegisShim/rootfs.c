// rootfs.c — the container's filesystem, in the container process before pivot_root: the rootfs
// bound onto itself (or a file system such as an image's overlay mounted on it), the spec's mounts,
// /dev nodes and symlinks, linux.devices, masked and read-only paths, pivot_root and the root's
// final propagation and read-only flag. Every path the spec controls is created or opened beneath
// the rootfs (openat2 RESOLVE_IN_ROOT, magic links refused), never through a symlink out of it.
// Raw system calls only (see aegis_shim.h).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/// Opens `target` (absolute, container view) inside the rootfs without leaving it, even through
/// symlinks (openat2 RESOLVE_IN_ROOT, Linux ≥ 5.6; magic links such as /proc/self/fd/N refused).
/// Returns an fd opened with `flags` (O_PATH for mount targets), or -1 + errno.
int shim_open_in_root(int rootfd, const char *target, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const char *rel = target;
    while (*rel == '/') rel++;
    if (!*rel) rel = ".";
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

static int open_in_root(int rootfd, const char *target) { return shim_open_in_root(rootfd, target, O_PATH); }

static void shim_fd_path(int fd, char buf[64]) {
    char num[24];
    shim_strlcpy(buf, "/proc/self/fd/", 64);
    shim_strlcat(buf, shim_itoa(fd, num), 64);
}

/// Flags a user namespace locks on a mount (nosuid, nodev, noexec, atime, ro): a bind-remount must
/// keep them or the kernel refuses it with EPERM (mount(2), "locked mount flags").
static unsigned long locked_flags(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) < 0) return 0;
    unsigned long f = 0;
    if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) f |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
    if (st.f_flag & ST_RDONLY) f |= MS_RDONLY;
    return f;
}

/// Creates the mount point `target` (absolute, container view) beneath the rootfs: every parent
/// directory, then a directory or (is_file) an empty file. Each parent is looked up with
/// RESOLVE_IN_ROOT and the entry is created with mkdirat/openat(O_NOFOLLOW) relative to it, so a
/// symlink planted in the rootfs (`/x -> /etc` on the host's side) can never make this create
/// anything outside it. Existing entries (also symlinks, resolved later in-root) are kept.
static void make_mountpoint(int rootfd, const char *target, int is_file, int step) {
    char prefix[4096];
    size_t len = shim_strlen(target);
    if (len >= sizeof prefix) { errno = ENAMETOOLONG; shim_fail(step, target); }
    size_t i = 0;
    while (i < len) {
        while (i < len && target[i] == '/') i++;
        if (i >= len) break;
        size_t start = i;
        while (i < len && target[i] != '/') i++;
        char name[256];
        if (i - start >= sizeof name) { errno = ENAMETOOLONG; shim_fail(step, target); }
        memcpy(name, target + start, i - start);
        name[i - start] = 0;
        memcpy(prefix, target, start);
        prefix[start] = 0;
        int parent = shim_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
        if (parent < 0) shim_fail(step, target);
        size_t next = i;
        while (next < len && target[next] == '/') next++;
        int last = next >= len;
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) shim_fail(step, target);
            if (last && is_file) {
                int fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0 && errno != EEXIST) shim_fail(step, target);
                if (fd >= 0) close(fd);
            } else if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) {
                shim_fail(step, target);
            }
        }
        close(parent);
    }
}

static void remount_bind(int rootfd, const char *target, unsigned long flags, int in_userns, int step) {
    int fd = open_in_root(rootfd, target);
    if (fd < 0) shim_fail(step, target);
    char p[64];
    shim_fd_path(fd, p);
    if (in_userns) flags |= locked_flags(p);
    if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0) shim_fail(step, target);
    close(fd);
}

static void mount_one(const struct aegis_spawn_config *cfg, int rootfd, const struct aegis_mount *m) {
    char p[64];
    int in_userns = (cfg->clone_flags & CLONE_NEWUSER) != 0;
    make_mountpoint(rootfd, m->target, m->target_is_file, AEGIS_STEP_MOUNT);
    int fd = open_in_root(rootfd, m->target);
    if (fd < 0) shim_fail(AEGIS_STEP_MOUNT, m->target);
    shim_fd_path(fd, p);
    if (m->kind == AEGIS_MOUNT_BIND) {
        if (mount(m->source, p, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0) shim_fail(AEGIS_STEP_MOUNT, m->target);
        if (m->remount_flags_needed)
            remount_bind(rootfd, m->target, m->flags & ~(unsigned long)(MS_BIND | MS_REC), in_userns, AEGIS_STEP_MOUNT);
    } else {
        const char *src = m->source ? m->source : m->fstype;
        if (mount(src, p, m->fstype, m->flags, m->data) < 0) {
            // sysfs can't be mounted in a user namespace that doesn't own the network namespace:
            // bind the host's /sys read-only instead (as runc does).
            if (!(errno == EPERM && m->fstype && strcmp(m->fstype, "sysfs") == 0)) shim_fail(AEGIS_STEP_MOUNT, m->target);
            if (mount("/sys", p, NULL, MS_BIND | MS_REC, NULL) < 0) shim_fail(AEGIS_STEP_MOUNT, m->target);
            remount_bind(rootfd, m->target, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, in_userns, AEGIS_STEP_MOUNT);
        }
    }
    if (m->propagation) {
        int fd2 = open_in_root(rootfd, m->target);
        if (fd2 < 0) shim_fail(AEGIS_STEP_MOUNT, m->target);
        shim_fd_path(fd2, p);
        if (mount(NULL, p, NULL, m->propagation, NULL) < 0) shim_fail(AEGIS_STEP_MOUNT, m->target);
        close(fd2);
    }
    close(fd);
}

/// Default /dev nodes bound from the host, then the /dev symlinks; every path created beneath the
/// rootfs as for mount points (never through a symlink out of it).
static void setup_devices(const struct aegis_spawn_config *cfg, int rootfd) {
    char p[64];
    for (int i = 0; i < cfg->n_devices; i++) {
        const struct aegis_device *d = &cfg->devices[i];
        make_mountpoint(rootfd, d->target, 1, AEGIS_STEP_DEVICES);
        int fd = open_in_root(rootfd, d->target);
        if (fd < 0) shim_fail(AEGIS_STEP_DEVICES, d->target);
        shim_fd_path(fd, p);
        if (mount(d->host_path, p, NULL, MS_BIND, NULL) < 0) shim_fail(AEGIS_STEP_DEVICES, d->target);
        close(fd);
    }
    if (!cfg->setup_dev_symlinks) return;
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
        {"pts/ptmx", "ptmx"},
    };
    int dev = shim_open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0) shim_fail(AEGIS_STEP_DEVICES, "/dev");
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST) shim_fail(AEGIS_STEP_DEVICES, links[i][1]);
    }
    close(dev);
}

/// linux.devices: each node created beneath the rootfs (mknodat relative to its in-root parent),
/// then chown/chmod through an O_PATH fd. mknod is refused in a user namespace: the host's node of
/// the same path is bound instead (as runc does).
static void create_device_nodes(const struct aegis_spawn_config *cfg, int rootfd) {
    char p[64];
    for (int i = 0; i < cfg->n_dev_nodes; i++) {
        const struct aegis_dev_node *d = &cfg->dev_nodes[i];
        const char *slash = d->path + shim_strlen(d->path);
        while (slash > d->path && *slash != '/') slash--;
        char parent_path[4096];
        size_t plen = (size_t)(slash - d->path);
        if (plen >= sizeof parent_path) { errno = ENAMETOOLONG; shim_fail(AEGIS_STEP_DEVICES, d->path); }
        memcpy(parent_path, d->path, plen);
        parent_path[plen] = 0;
        if (plen > 0) make_mountpoint(rootfd, parent_path, 0, AEGIS_STEP_DEVICES);
        int parent = shim_open_in_root(rootfd, plen ? parent_path : "/", O_PATH | O_DIRECTORY);
        if (parent < 0) shim_fail(AEGIS_STEP_DEVICES, d->path);
        const char *name = slash + 1;
        (void)unlinkat(parent, name, 0);  // a placeholder file left by an earlier bind target
        if (mknodat(parent, name, d->mode, (dev_t)d->rdev) < 0) {
            if (errno != EPERM) shim_fail(AEGIS_STEP_DEVICES, d->path);
            make_mountpoint(rootfd, d->path, 1, AEGIS_STEP_DEVICES);
            int fd = open_in_root(rootfd, d->path);
            if (fd < 0) shim_fail(AEGIS_STEP_DEVICES, d->path);
            shim_fd_path(fd, p);
            if (mount(d->path, p, NULL, MS_BIND, NULL) < 0) shim_fail(AEGIS_STEP_DEVICES, d->path);
            close(fd);
        } else {
            if (fchownat(parent, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) shim_fail(AEGIS_STEP_DEVICES, d->path);
            if (fchmodat(parent, name, d->mode & 07777, 0) < 0) shim_fail(AEGIS_STEP_DEVICES, d->path);
        }
        close(parent);
    }
}

static void pivot(const struct aegis_spawn_config *cfg) {
    if (chdir(cfg->rootfs) < 0) shim_fail(AEGIS_STEP_PIVOT_ROOT, cfg->rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0) shim_fail(AEGIS_STEP_PIVOT_ROOT, cfg->rootfs);
    // The old root is now stacked on "."; keep its unmount from propagating back to the host.
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) shim_fail(AEGIS_STEP_UMOUNT_OLD_ROOT, "/");
    if (umount2(".", MNT_DETACH) < 0) shim_fail(AEGIS_STEP_UMOUNT_OLD_ROOT, "/");
    if (chdir("/") < 0) shim_fail(AEGIS_STEP_PIVOT_ROOT, "/");
}

/// Masked and read-only paths, resolved inside the rootfs before pivot_root (while the checked host
/// /dev/null is still reachable as a bind source). Missing paths are skipped, as with runc.
static void mask_paths(const struct aegis_spawn_config *cfg, int rootfd, int devnull) {
    char src[64], p[64];
    shim_fd_path(devnull, src);
    for (int i = 0; i < cfg->n_masked; i++) {
        const char *path = cfg->masked_paths[i];
        int fd = open_in_root(rootfd, path);
        if (fd < 0) { if (errno == ENOENT) continue; shim_fail(AEGIS_STEP_MASKED_PATH, path); }
        struct stat st;
        if (fstat(fd, &st) < 0) shim_fail(AEGIS_STEP_MASKED_PATH, path);
        shim_fd_path(fd, p);
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
                                     : mount(src, p, NULL, MS_BIND, NULL);
        if (rc < 0) shim_fail(AEGIS_STEP_MASKED_PATH, path);
        close(fd);
    }
    int in_userns = (cfg->clone_flags & CLONE_NEWUSER) != 0;
    for (int i = 0; i < cfg->n_readonly; i++) {
        const char *path = cfg->readonly_paths[i];
        int fd = open_in_root(rootfd, path);
        if (fd < 0) { if (errno == ENOENT) continue; shim_fail(AEGIS_STEP_READONLY_PATH, path); }
        shim_fd_path(fd, p);
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) shim_fail(AEGIS_STEP_READONLY_PATH, path);
        close(fd);
        remount_bind(rootfd, path, MS_RDONLY, in_userns, AEGIS_STEP_READONLY_PATH);
    }
}

/// Covers directory `path` with an ID-mapped clone of its own mount (open_tree OPEN_TREE_CLONE,
/// mount_setattr MOUNT_ATTR_IDMAP with `userns_fd`, move_mount onto `path`), read-only, nosuid,
/// nodev. Only this (private) mount namespace sees it; the directory itself is not changed.
static void idmap_in_place(const char *path, int userns_fd) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) shim_fail(AEGIS_STEP_IDMAP, "open_tree of the image rootfs");
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    attr.userns_fd = (unsigned long long)userns_fd;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) shim_fail(AEGIS_STEP_IDMAP, "mount_setattr MOUNT_ATTR_IDMAP");
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) shim_fail(AEGIS_STEP_IDMAP, "move_mount onto the image rootfs");
    close(tree);
    close(userns_fd);
}

/// The overlay's writable layer in a tmpfs of the sandbox's own: mounted on `dir` (private to this
/// mount namespace; its pages are charged to the sandbox's memory cgroup as they are written),
/// with `upper` (the root directory of the merged tree: 0755) and `work` (overlayfs's, 0700).
static void upper_tmpfs(const char *dir, const char *data) {
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0) shim_fail(AEGIS_STEP_ROOTFS_MOUNT, "tmpfs for the overlay's upper layer");
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || mkdirat(fd, "upper", 0755) < 0 || mkdirat(fd, "work", 0700) < 0) shim_fail(AEGIS_STEP_ROOTFS_MOUNT, "upper and work directories");
    close(fd);
}

void shim_setup_filesystem(const struct aegis_spawn_config *cfg, int *devnull_out, int *fifo_out) {
    // Descriptors needed after pivot_root, opened while the host's view is still visible.
    int devnull = open("/dev/null", O_PATH | O_CLOEXEC);
    struct stat st;
    if (devnull < 0 || fstat(devnull, &st) < 0) shim_fail(AEGIS_STEP_DEVNULL_CHECK, "/dev/null");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3) {
        errno = EINVAL;
        shim_fail(AEGIS_STEP_DEVNULL_CHECK, "/dev/null is not character device 1:3");
    }
    *devnull_out = devnull;
    if (cfg->exec_fifo) {
        // The FIFO's directory (O_PATH): the FIFO is opened by name from it once the process waits
        // for `start`, whatever the container's root holds by then (no /proc needed).
        char dir[4096];
        shim_strlcpy(dir, cfg->exec_fifo, sizeof dir);
        size_t n = shim_strlen(dir);
        while (n > 1 && dir[n - 1] != '/') n--;
        dir[n > 1 ? n - 1 : 1] = 0;
        *fifo_out = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (*fifo_out < 0) shim_fail(AEGIS_STEP_EXEC_FIFO, cfg->exec_fifo);
    }
    // A new or joined mount namespace (LaunchPlan requires one for a rootfs other than "/").
    if (!(cfg->clone_flags & CLONE_NEWNS) && !shim_joins(cfg, CLONE_NEWNS)) {
        // The runtime's own mount namespace, inherited: nothing is mounted, the rootfs is chroot'ed into.
        if (cfg->chroot_rootfs && (chroot(cfg->rootfs) < 0 || chdir("/") < 0)) shim_fail(AEGIS_STEP_PIVOT_ROOT, cfg->rootfs);
        return;
    }

    unsigned long prop = cfg->root_propagation ? cfg->root_propagation : (MS_PRIVATE | MS_REC);
    if (mount(NULL, "/", NULL, prop, NULL) < 0) shim_fail(AEGIS_STEP_ROOT_PROPAGATION, "/");
    if (cfg->root_mount) {
        // The root is a file system of its own (an image's overlay: read-only layers and the
        // sandbox's upper), mounted on the rootfs directory inside this mount namespace only.
        const struct aegis_mount *m = cfg->root_mount;
        if (cfg->root_idmap_path) idmap_in_place(cfg->root_idmap_path, cfg->root_idmap_userns_fd);
        if (cfg->root_upper_tmpfs) upper_tmpfs(cfg->root_upper_tmpfs, cfg->root_upper_tmpfs_data);
        if (mount(m->source, cfg->rootfs, m->fstype, m->flags, m->data) < 0) shim_fail(AEGIS_STEP_ROOTFS_MOUNT, m->fstype);
    } else if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        shim_fail(AEGIS_STEP_ROOTFS_BIND, cfg->rootfs);
    }
    int rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) shim_fail(AEGIS_STEP_ROOTFS_BIND, cfg->rootfs);
    for (int i = 0; i < cfg->n_mounts; i++) mount_one(cfg, rootfd, &cfg->mounts[i]);
    setup_devices(cfg, rootfd);
    create_device_nodes(cfg, rootfd);
    mask_paths(cfg, rootfd, devnull);
    close(rootfd);
    pivot(cfg);
    if (cfg->root_propagation_final && mount(NULL, "/", NULL, cfg->root_propagation_final, NULL) < 0)
        shim_fail(AEGIS_STEP_ROOT_PROPAGATION, "/ (after pivot_root)");
    if (cfg->root_readonly) {
        // The root mount's own flags kept (nosuid, nodev of an image's overlay): a bind remount
        // replaces them all (and in a user namespace may not drop the locked ones).
        unsigned long f = MS_RDONLY | locked_flags("/");
        if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | f, NULL) < 0) shim_fail(AEGIS_STEP_ROOT_READONLY, "/");
    }
}

