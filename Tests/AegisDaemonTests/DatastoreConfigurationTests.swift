// DatastoreConfigurationTests.swift — `--datastore` and the leader flags: PostgreSQL only for a
// controller, leader terms converted and ordered, the password file readable; a worker's --join
// list split and each URL checked.
import AegisDaemon
import AegisProtocol
import AegisStorePostgres
import Foundation
import XCTest

final class DatastoreConfigurationTests: XCTestCase {
    func flags(_ role: NodeRole, _ change: (inout NodeFlags) -> Void = { _ in }) -> NodeFlags {
        var f = NodeFlags()
        f.dataDir = "/nonexistent/aegis-config-test"
        f.role = role
        if role == .controller { f.listen = "127.0.0.1:0" }
        if role == .worker { f.join = "https://127.0.0.1:7443" }
        change(&f)
        return f
    }

    func refusal(_ f: NodeFlags, file: StaticString = #filePath, line: UInt = #line) -> NodeConfigurationError? {
        do {
            _ = try NodeConfiguration(f, hostName: "host")
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch let e as NodeConfigurationError {
            XCTAssertTrue(e.message.contains(e.flag), "\(e.message) names \(e.flag)", file: file, line: line)
            return e
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func testSQLiteIsTheDefaultAndTakesNoLeaderFlags() throws {
        let c = try NodeConfiguration(flags(.controller), hostName: "h")
        XCTAssertEqual(c.datastore, .sqlite)
        XCTAssertEqual(try NodeConfiguration(flags(.controller) { $0.datastore = "sqlite" }, hostName: "h").datastore, .sqlite)
        XCTAssertEqual(refusal(flags(.controller) { $0.leaderLease = "10s" })?.flag, "--leader-lease")
        XCTAssertEqual(refusal(flags(.controller) { $0.leaderRenew = "1s" })?.flag, "--leader-renew")
        XCTAssertEqual(refusal(flags(.controller) { $0.datastorePasswordFile = "/etc/hostname" })?.flag, "--datastore-password-file")
    }

    func testPostgresIsForAControllerWithDefaultTermsOfFifteenAndFiveSeconds() throws {
        let url = "postgres://aegis@127.0.0.1:5432/aegis"
        let c = try NodeConfiguration(flags(.controller) { $0.datastore = url }, hostName: "h")
        XCTAssertEqual(c.datastore, .postgres(url: url, passwordFile: nil))
        XCTAssertEqual(c.leaderTerms.lease, .seconds(15))
        XCTAssertEqual(c.leaderTerms.renewEvery, .seconds(5))
        XCTAssertEqual(c.leaderTerms.retryEvery, .seconds(2))
        XCTAssertTrue(refusal(flags(.hybrid) { $0.datastore = url })?.message.contains("--role controller") ?? false)
        XCTAssertEqual(refusal(flags(.worker) { $0.datastore = url })?.flag, "--datastore")
        XCTAssertEqual(refusal(flags(.controller) { $0.datastore = "mysql://x/y" })?.flag, "--datastore")
    }

    func testLeaderTermsAreConvertedAndRenewalsFitThreeTimesIntoTheLease() throws {
        let url = "postgresql://aegis@db/aegis"
        let c = try NodeConfiguration(
            flags(.controller) {
                $0.datastore = url
                $0.leaderLease = "3s"
                $0.leaderRenew = "500ms"
            }, hostName: "h")
        XCTAssertEqual(c.leaderTerms.lease, .seconds(3))
        XCTAssertEqual(c.leaderTerms.renewEvery, .milliseconds(500))
        XCTAssertEqual(c.leaderTerms.retryEvery, .milliseconds(500), "a standby retries at least as often as the leader renews")
        let tooSlow = refusal(
            flags(.controller) {
                $0.datastore = url
                $0.leaderLease = "3s"
                $0.leaderRenew = "2s"
            })
        XCTAssertEqual(tooSlow?.flag, "--leader-renew")
        XCTAssertEqual(
            refusal(
                flags(.controller) {
                    $0.datastore = url; $0.leaderLease = "5x"
                })?.flag, "--leader-lease")
        XCTAssertEqual(
            refusal(
                flags(.controller) {
                    $0.datastore = url; $0.leaderLease = "100ms"
                })?.flag, "--leader-lease")
    }

    func testThePasswordFileMustBeReadable() throws {
        let missing = refusal(
            flags(.controller) {
                $0.datastore = "postgres://aegis@db/aegis"
                $0.datastorePasswordFile = "/nonexistent/pw"
            })
        XCTAssertEqual(missing?.flag, "--datastore-password-file")
        XCTAssertTrue(missing?.message.contains("ENOENT") ?? false, missing?.message ?? "")
    }

    func testAWorkerMayListSeveralControllersAndEachIsChecked() throws {
        let c = try NodeConfiguration(
            flags(.worker) { $0.join = "https://10.0.0.1:7443, https://10.0.0.2:7443,,https://[::1]:7443" }, hostName: "h")
        XCTAssertEqual(c.joinURLs, ["https://10.0.0.1:7443", "https://10.0.0.2:7443", "https://[::1]:7443"])
        let bad = refusal(flags(.worker) { $0.join = "https://10.0.0.1:7443,http://10.0.0.2:7443" })
        XCTAssertEqual(bad?.flag, "--join")
        XCTAssertTrue(bad?.message.contains("http://10.0.0.2:7443") ?? false, bad?.message ?? "")
    }
}
