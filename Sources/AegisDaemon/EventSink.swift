// EventSink.swift — forwards the Worker's events to the session created after it (the events of
// the start-up reconcile may come first).
import AegisNodeLink
import AegisProtocol
import Synchronization

final class EventSink: Sendable {
    private let state = Mutex<(session: ControllerSession?, early: [WorkerEvent])>((nil, []))

    func send(_ e: WorkerEvent) {
        let session: ControllerSession? = state.withLock { s in
            if s.session == nil { s.early.append(e) }
            return s.session
        }
        session?.report(e)
    }

    func attach(_ session: ControllerSession) {
        let early: [WorkerEvent] = state.withLock { s in
            s.session = session
            defer { s.early = [] }
            return s.early
        }
        for e in early { session.report(e) }
    }
}
