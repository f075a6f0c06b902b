// StoreBackedTestCase.swift — the controller tests' fixture: a fresh temporary directory holding a
// bootstrapped SQLite store (`<directory>/data/aegis.db`), closed and removed after each test.
import AegisControl
import AegisStore
import Foundation
import Glibc
import XCTest

class StoreBackedTestCase: XCTestCase {
    var directory = ""
    var store: ControlStore!

    override func setUpWithError() throws {
        try super.setUpWithError()
        var template = Array("/tmp/aegis-control-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        directory = String(cString: made)
        store = try ControlStore(dataDirectory: directory + "/data", hasher: SHA256TokenHasher())
        _ = try store.bootstrap()
    }

    override func tearDownWithError() throws {
        try? store?.close()
        store = nil
        if !directory.isEmpty { try FileManager.default.removeItem(atPath: directory) }
        try super.tearDownWithError()
    }
}
