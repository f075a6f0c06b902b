// WriteFence.swift — what every write transaction of the PostgreSQL store checks first: that this
// controller still holds the leader epoch it writes under. The check reads the leader row FOR SHARE
// inside the write's own transaction, so a takeover (an UPDATE of that row, LeaderLease.swift)
// either commits before it — and the write is refused — or waits until the write has committed.
// A paused old leader therefore can never write after it lost: its epoch is no longer the newest.
import AegisStore
import PostgresNIO
import Synchronization

/// The epoch under which a controller writes. Thread-safe.
public final class WriteFence: Sendable {
    /// What writes are checked against.
    public enum Mode: Sendable, Equatable {
        /// No election: every write goes through (one controller, migrations, the conformance suite).
        case unfenced
        /// Leader with this epoch: a write commits only while the leader row still has it.
        case leader(epoch: Int64)
        /// Standby or stepped down: every write is refused without asking the database.
        case standby
    }

    private let state: Mutex<Mode>

    public init(_ mode: Mode = .unfenced) { state = Mutex(mode) }

    public var mode: Mode { state.withLock { $0 } }

    /// Sets the mode (the leader lease calls this on winning, losing or stepping down).
    public func set(_ mode: Mode) { state.withLock { $0 = mode } }

    /// Throws `StoreError(.fenced)` unless this controller may write now. Runs on the write's
    /// connection inside its transaction (`PostgresStateStore.write`), before any statement of it.
    func check(on connection: PostgresConnection, logger: Logger, what: String) async throws {
        switch mode {
        case .unfenced: return
        case .standby: throw StoreError(.fenced, "\(what): this controller is not the leader")
        case .leader(let epoch):
            let rows = try await connection.query("SELECT epoch FROM aegis_leader WHERE id = 1 FOR SHARE", logger: logger)
            var current: Int64?
            for try await (value) in rows.decode(Int64.self) { current = value }
            guard let current, current == epoch else {
                set(.standby)
                let newer = current.map { "epoch \($0)" } ?? "no leader row"
                throw StoreError(.fenced, "\(what): leader epoch \(epoch) was superseded (\(newer)); stepped down")
            }
        }
    }
}
