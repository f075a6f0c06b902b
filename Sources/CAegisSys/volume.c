// volume.c — loop devices and detached mounts for the per-sandbox work volume (an ext4 image
// file). LOOP_CONFIGURE needs Linux >= 5.8; fsopen/fsconfig/fsmount (the new mount API) Linux >= 5.2.
// A detached mount (fsmount) is in no mount namespace: reading a volume this way changes no
// mount table, the host's included.
#include "aegis_sys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int aegis_sys_loop_attach(int backing_fd, int read_only, int *index) {
    int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (control < 0) return -1;
    // Another process may take the free device between GET_FREE and CONFIGURE (EBUSY): try again.
    for (int attempt = 0; attempt < 64; attempt++) {
        int n = ioctl(control, LOOP_CTL_GET_FREE);
        if (n < 0) { int e = errno; close(control); errno = e; return -1; }
        char path[32];
        snprintf(path, sizeof path, "/dev/loop%d", n);
        int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0) { int e = errno; close(control); errno = e; return -1; }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned int)backing_fd;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
        if (ioctl(fd, LOOP_CONFIGURE, &config) == 0) {
            close(control);
            *index = n;
            return fd;
        }
        int e = errno;
        close(fd);
        if (e != EBUSY) { close(control); errno = e; return -1; }
    }
    close(control);
    errno = EBUSY;
    return -1;
}

int aegis_sys_mount_detached(const char *fstype, const char *source, int read_only, const char **step) {
    *step = "fsopen";
    int fs = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int mnt = -1;
    *step = "fsconfig source";
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", source, 0) != 0) goto out;
    if (read_only) {
        *step = "fsconfig ro";
        if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) != 0) goto out;
    }
    *step = "fsconfig create";
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) goto out;
    *step = "fsmount";
    unsigned int attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | (read_only ? MOUNT_ATTR_RDONLY : 0);
    mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
out:;
    int e = errno;
    close(fs);
    errno = e;
    return mnt;
}
