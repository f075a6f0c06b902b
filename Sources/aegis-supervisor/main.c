// aegis-supervisor — the per-sandbox supervisor after the shim has started the container process
// (like conmon or containerd-shim, but it only waits and records). A small, fresh process, so that
// it does not keep a copy-on-write image of the daemon that spawned the sandbox.
// `aegis-supervisor --version` prints "aegis-supervisor VERSION" (AEGIS_VERSION).
// argv: PID ERR_FD STATUS_FD CGROUP_FD STATE_DIR_FD STARTED_AT_NS LEASE_GRACE_MS LEASE_FILE
//       LOG_STDOUT_FD LOG_STDERR_FD LOG_DIR_FD LOG_CAP_BYTES
// (fds are -1 when absent; LEASE_GRACE_MS 0 and LEASE_FILE "-" without a lease; LOG_CAP_BYTES 0
// without capped logs). With a lease it is also the sandbox's dead man's switch: it kills the
// sandbox's cgroup once LEASE_FILE's mtime is older than LEASE_GRACE_MS; with capped logs its log
// pump drains the container's output pipes into the log directory (aegis_shim.h).
#include "aegis_shim.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        static const char version[] = "aegis-supervisor " AEGIS_VERSION "\n";
        (void)!write(1, version, sizeof version - 1);
        return 0;
    }
    if (argc != 13) {
        static const char usage[] = "aegis-supervisor: started by the AEGIS runtime only\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    long v[6];
    for (int i = 0; i < 6; i++) v[i] = strtol(argv[i + 1], NULL, 10);
    int lease_grace_ms = (int)strtol(argv[7], NULL, 10);
    struct aegis_log_sink logs = {
        (int)strtol(argv[9], NULL, 10), (int)strtol(argv[10], NULL, 10), (int)strtol(argv[11], NULL, 10),
        (int64_t)strtoll(argv[12], NULL, 10),
    };
    aegis_supervise((pid_t)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int64_t)strtoll(argv[6], NULL, 10),
                    lease_grace_ms > 0 ? argv[8] : NULL, lease_grace_ms, logs.cap_bytes > 0 ? &logs : NULL);
}
