// aegis-supervisor — the per-sandbox supervisor after the shim has started the container process
// (like conmon or containerd-shim, but it only waits and records). A small, fresh process, so that
// it does not keep a copy-on-write image of the daemon that spawned the sandbox.
// argv: PID ERR_FD STATUS_FD CGROUP_FD STATE_DIR_FD STARTED_AT_NS [LEASE_GRACE_MS LEASE_FILE]
// (fds are -1 when absent). With the lease pair it is also the sandbox's dead man's switch: it
// kills the sandbox's cgroup once LEASE_FILE's mtime is older than LEASE_GRACE_MS (aegis_shim.h).
#include "aegis_shim.h"
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 7 && argc != 9) {
        static const char usage[] = "aegis-supervisor: started by the AEGIS runtime only\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    long v[6];
    for (int i = 0; i < 6; i++) v[i] = strtol(argv[i + 1], NULL, 10);
    const char *lease_file = argc == 9 ? argv[8] : NULL;
    int lease_grace_ms = argc == 9 ? (int)strtol(argv[7], NULL, 10) : 0;
    aegis_supervise((pid_t)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int64_t)strtoll(argv[6], NULL, 10),
                    lease_grace_ms > 0 ? lease_file : NULL, lease_grace_ms);
}
