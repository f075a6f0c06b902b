// aegis-supervisor — the per-sandbox supervisor after the shim has started the container process
// (like conmon or containerd-shim, but it only waits and records). A small, fresh process, so that
// it does not keep a copy-on-write image of the daemon that spawned the sandbox.
// argv: PID ERR_FD STATUS_FD CGROUP_FD STATE_DIR_FD STARTED_AT_NS (fds are -1 when absent).
#include "aegis_shim.h"
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 7) {
        static const char usage[] = "aegis-supervisor: started by the AEGIS runtime only\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    long v[6];
    for (int i = 0; i < 6; i++) v[i] = strtol(argv[i + 1], NULL, 10);
    aegis_supervise((pid_t)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int64_t)strtoll(argv[6], NULL, 10));
}
