// WorkloadEvent+Type.swift — the controller writes workload events by their typed kind; the store
// keeps the kind's raw string (the API and old databases read the same text).
import AegisProtocol
import AegisStore

extension AegisStore.WorkloadEvent {
    /// An event of kind `type` at `timeMs` (Unix ms, default now).
    init(_ type: WorkloadEventType, _ message: String, timeMs: Int64 = ControlStore.nowMs()) {
        self.init(timeMs: timeMs, type: type.rawValue, message: message)
    }
}
