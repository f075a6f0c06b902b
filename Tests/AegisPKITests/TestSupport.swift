import Crypto
import Foundation
import Glibc
import X509
import XCTest
@testable import AegisPKI

/// A fresh directory under /tmp, removed by `remove()` (call it from a `defer` or tearDown).
struct TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/aegis-pki-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PKIError(code: .syscall, errno: errno, description: "mkdtemp failed: errno \(errno)")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Permission bits (st_mode & 0o7777) of `path`.
func fileMode(_ path: String) throws -> mode_t {
    var st = stat()
    guard stat(path, &st) == 0 else {
        throw PKIError(code: .syscall, path: path, errno: errno, description: "stat \(path): errno \(errno)")
    }
    return st.st_mode & 0o7777
}

/// Names in `directory`, sorted (hidden files included).
func directoryEntries(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

/// Lowercase hex SHA-256, computed here independently of AegisPKI's helpers.
func sha256Hex<D: DataProtocol>(_ data: D) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// DER of a certificate via swift-asn1, independently of AegisPKI.
func derBytes(_ certificate: Certificate) throws -> [UInt8] {
    try Array(Data(pemEncodedCertificate: certificate))
}

extension Data {
    init(pemEncodedCertificate certificate: Certificate) throws {
        let pem = try certificate.serializeAsPEM()
        self.init(pem.derBytes)
    }
}

/// Asserts that `body` throws a `PKIError` with `code`, and returns it for further checks.
@discardableResult
func assertPKIError<T>(
    _ code: PKIError.Code, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws -> T
) -> PKIError? {
    do {
        let value = try body()
        XCTFail("expected PKIError \(code), got value \(value)", file: file, line: line)
        return nil
    } catch let error as PKIError {
        XCTAssertEqual(error.code, code, "unexpected error: \(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected PKIError \(code), got \(error)", file: file, line: line)
        return nil
    }
}

/// Async variant of `assertPKIError`.
@discardableResult
func assertPKIErrorAsync<T>(
    _ code: PKIError.Code, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> T
) async -> PKIError? {
    do {
        let value = try await body()
        XCTFail("expected PKIError \(code), got value \(value)", file: file, line: line)
        return nil
    } catch let error as PKIError {
        XCTAssertEqual(error.code, code, "unexpected error: \(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected PKIError \(code), got \(error)", file: file, line: line)
        return nil
    }
}

/// Runs a program, returns (exit status, stdout bytes, stderr text).
func runProgram(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // openssl's outputs here are a few KiB, well below the 64 KiB pipe buffer, so reading stdout
    // then stderr cannot deadlock.
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, stdoutData, String(decoding: stderrData, as: UTF8.self))
}
