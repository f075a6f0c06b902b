// StoreError.swift — the one error type AegisStore throws.
import GRDB

/// Every failure of the control store. `description` names the operation, the object (tenant,
/// token, workload, node, file) and the cause (SQLite result code and message where SQLite failed).
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A name or argument failed validation (tenant name pattern, token kind/tenant mismatch).
        case invalidArgument
        /// The tenant, token, workload or node does not exist.
        case notFound
        /// A tenant with that name already exists (or a workload with that id).
        case alreadyExists
        /// The request contradicts stored state (deleting a tenant that still has active workloads).
        case conflict
        /// The database file was migrated by a newer AEGIS: it has migrations this build does not know.
        case schemaTooNew
        /// SQLite or the file system failed (open, I/O, constraint, corruption), or PostgreSQL
        /// refused a statement (its SQLSTATE in the message).
        case database
        /// The database server could not be reached or stopped answering (connection refused,
        /// reset or timed out; the pool closed): worth retrying, unlike `.database` (PostgreSQL).
        case unreachable
        /// Stored JSON could not be encoded or decoded.
        case encoding
        /// A write of a controller that is not (or no longer) the leader: a newer leader epoch exists,
        /// or this controller stepped down. Nothing was written (PostgreSQL backend, leader election).
        case fenced
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "aegis store: \(message)" }
}

extension StoreError {
    /// Wraps anything that is not already a StoreError, prefixing the operation (`what`).
    public static func wrapping(_ error: any Error, _ what: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? DatabaseError {
            let msg = e.message ?? "no message"
            return StoreError(.database, "\(what): SQLite error \(e.resultCode.rawValue) (\(e.extendedResultCode.rawValue)): \(msg)")
        }
        return StoreError(.database, "\(what): \(error)")
    }
}
