// logcap.h — the supervisor's log pump (logcap.c): capped stdout.log / stderr.log.
#ifndef AEGIS_SHIM_LOGCAP_H
#define AEGIS_SHIM_LOGCAP_H

#include "aegis_shim.h"

/// Forks the log pump for `sink` (NULL or cap_bytes <= 0: none, returns -1) and closes the
/// supervisor's copies of the sink's descriptors. Call before reaping `container`.
pid_t shim_log_pump_start(pid_t container, const struct aegis_log_sink *sink);
/// Waits until the pump has written everything (at most a bounded time; then it is killed) and
/// reaps it. No-op for pump <= 0.
void shim_log_pump_finish(pid_t pump);

#endif
