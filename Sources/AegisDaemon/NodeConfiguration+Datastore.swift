// NodeConfiguration+Datastore.swift — where a controller keeps its state (`--datastore`): the
// embedded SQLite file of its data directory (the default), or PostgreSQL shared by several
// controllers of which one leads (`--leader-lease`, `--leader-renew`). The password never comes
// on the command line: PGPASSWORD or `--datastore-password-file`.
import AegisStore
import AegisStorePostgres
import AegisSystem
import Foundation

/// Where a controller keeps its state.
public enum Datastore: Sendable, Equatable {
    /// `<data-dir>/aegis.db`.
    case sqlite
    /// A replicated controller: this PostgreSQL, the password read from `passwordFile` or PGPASSWORD.
    case postgres(url: String, passwordFile: String?)

    public var isReplicated: Bool { if case .postgres = self { return true } else { return false } }
}

extension NodeConfiguration {
    /// `--join A,B,…` → the URLs, blanks dropped.
    static func splitJoin(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `--datastore`, `--datastore-password-file`, `--leader-lease`, `--leader-renew`: PostgreSQL
    /// only for `--role controller`; the leader flags and the password file only with it.
    static func datastore(_ f: NodeFlags) throws -> (Datastore, LeaderTerms) {
        let text = f.datastore ?? "sqlite"
        guard text != "sqlite" else {
            let postgresOnly = [
                ("--datastore-password-file", f.datastorePasswordFile), ("--leader-lease", f.leaderLease),
                ("--leader-renew", f.leaderRenew),
            ]
            if let (flag, _) = postgresOnly.first(where: { $0.1 != nil }) {
                throw NodeConfigurationError(flag, "\(flag) is for a controller on PostgreSQL (--datastore postgres://…)")
            }
            return (.sqlite, LeaderTerms())
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            throw NodeConfigurationError("--datastore", "--datastore \(text): expected sqlite or postgres://USER@HOST:PORT/DATABASE")
        }
        guard f.role == .controller else {
            throw NodeConfigurationError(
                "--datastore", "--datastore postgres://…: for --role controller (replicated controllers run no agents)")
        }
        var terms = LeaderTerms()
        if let lease = f.leaderLease { terms.lease = .milliseconds(try duration(lease, "--leader-lease")) }
        if let renew = f.leaderRenew { terms.renewEvery = .milliseconds(try duration(renew, "--leader-renew")) }
        terms.retryEvery = min(terms.retryEvery, terms.renewEvery)
        do { try terms.validate() } catch {
            throw NodeConfigurationError(
                f.leaderRenew != nil ? "--leader-renew" : "--leader-lease", (error as? StoreError)?.message ?? "\(error)")
        }
        if let file = f.datastorePasswordFile, access(file, R_OK) != 0 {
            throw NodeConfigurationError(
                "--datastore-password-file", "--datastore-password-file \(file): \(Errno.current.explained)")
        }
        return (.postgres(url: text, passwordFile: f.datastorePasswordFile), terms)
    }
}
