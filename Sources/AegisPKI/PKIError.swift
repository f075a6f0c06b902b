#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// The one error type of `AegisPKI`.
///
/// `description` is a single line naming the cause: the file and system call with errno name and
/// number, the token part that is malformed, the certificate field that failed and the dates
/// involved, e.g. `node certificate "w1" expired at 2025-03-01T10:00:00Z (now 2025-04-01T00:00:00Z)`.
/// Secrets (join-token secrets, private keys) never appear in a description.
public struct PKIError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure this is; lets callers branch without parsing `description`.
    public enum Code: String, Sendable, Equatable {
        /// A system call on a PKI file or directory failed (`errno` is set).
        case syscall
        /// One file of a key/certificate pair exists without the other (`path` is the missing one).
        case incompleteFilePair
        /// A PEM or DER input (file, CSR, certificate) could not be parsed.
        case malformedInput
        /// A private key does not belong to the certificate it is paired with.
        case keyCertificateMismatch
        /// A key is not ECDSA P-256, the only algorithm the cluster uses.
        case unsupportedKeyAlgorithm
        /// A CSR's self-signature does not verify with the public key it carries.
        case invalidCSRSignature
        /// A CSR or certificate names a different node than expected.
        case nodeNameMismatch
        /// A node name is not an RFC 1123 DNS subdomain (see `NodeName`).
        case invalidNodeName
        /// A host given for a certificate is neither an IP literal nor a valid DNS name.
        case invalidHost
        /// A validity period is not a positive, finite number of seconds.
        case invalidValidity
        /// The loaded certificate is not a CA certificate (no BasicConstraints CA:TRUE).
        case notACertificateAuthority
        /// The cluster CA certificate is not valid at the given time.
        case caNotValid
        /// Join token does not start with `AEG1`.
        case tokenPrefix
        /// Join token CA fingerprint is not 64 lowercase hex characters.
        case tokenFingerprint
        /// Join token lacks `::` after the fingerprint or `.` between id and secret.
        case tokenSeparator
        /// Join token id is not 6 characters of `[a-z0-9]`.
        case tokenID
        /// Join token secret is not 16 characters of `[a-z0-9]`.
        case tokenSecret
        /// The CA certificate presented does not hash to the fingerprint pinned in the join token.
        case caFingerprintMismatch
        /// A certificate's notAfter is before the check time.
        case certificateExpired
        /// A certificate's notBefore is after the check time.
        case certificateNotYetValid
        /// A certificate's issuer name or signature does not match the cluster CA.
        case notSignedByClusterCA
        /// A CA certificate was presented where a node certificate is required.
        case certificateIsCA
        /// A certificate lacks the extended key usage the connection needs.
        case missingExtendedKeyUsage
        /// A certificate has no subject common name (the node name).
        case missingNodeName
        /// A certificate's subject OU is not one of `worker`, `controller`, `hybrid`.
        case unknownRole
        /// A certificate carries a critical extension this library does not understand.
        case unhandledCriticalExtension
        /// swift-certificates' RFC 5280 chain builder rejected the certificate.
        case chainValidationFailed
        /// Building or serialising an X.509 structure failed inside swift-certificates/swift-asn1.
        case encoding
    }

    /// The kind of failure.
    public let code: Code
    /// The file involved, when there is one.
    public let path: String?
    /// The errno of the failed system call (`code == .syscall`).
    public let errno: Int32?
    /// One line naming the cause.
    public let description: String

    /// Creates an error; prefer the static constructors, which phrase `description` consistently.
    public init(code: Code, path: String? = nil, errno: Int32? = nil, description: String) {
        self.code = code
        self.path = path
        self.errno = errno
        self.description = description
    }

    static func syscall(_ step: String, _ path: String, errno: Int32) -> PKIError {
        PKIError(
            code: .syscall, path: path, errno: errno,
            description: "\(step) \(path): \(Errno(errno))")
    }

    /// A failed call of the OS layer as `.syscall`, with its step, path and errno.
    static func syscall(_ error: SystemError) -> PKIError {
        syscall(error.step, error.path ?? "", errno: error.errno.code)
    }

    /// Runs an AegisSystem call, turning its `SystemError` into `PKIError.syscall`.
    static func os<T>(_ body: @autoclosure () throws(SystemError) -> T) throws(PKIError) -> T {
        do { return try body() } catch { throw syscall(error) }
    }

    static func malformed(_ what: String, path: String? = nil, _ underlying: any Error) -> PKIError {
        let location = path.map { " in \($0)" } ?? ""
        return PKIError(
            code: .malformedInput, path: path,
            description: "cannot parse \(what)\(location): \(underlying)")
    }

    static func encoding(_ step: String, _ underlying: any Error) -> PKIError {
        PKIError(code: .encoding, description: "\(step) failed: \(underlying)")
    }

    /// Runs `body`, wrapping any non-`PKIError` in `.encoding` with `step` as context.
    static func wrapping<T>(_ step: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError.encoding(step, error)
        }
    }
}

/// `date` as an RFC 3339 UTC timestamp with second precision ("2025-01-02T03:04:05Z"), the form
/// used in every error message of this module.
func utcTimestamp(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    guard gmtime_r(&seconds, &parts) != nil else { return "\(date.timeIntervalSince1970)s" }
    func pad(_ value: Int32, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
}
