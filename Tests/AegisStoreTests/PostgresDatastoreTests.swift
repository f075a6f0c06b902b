// PostgresDatastoreTests.swift — the datastore URL parser (no server needed): libpq's URL forms,
// sslmode rules, the password never in the URL nor in `description`, errors naming the bad part.
import AegisStore
import AegisStorePostgres
import Foundation
import XCTest

final class PostgresDatastoreTests: XCTestCase {
    func parse(_ url: String, passwordFile: String? = nil, env: [String: String] = [:]) throws -> PostgresDatastore {
        try PostgresDatastore(url: url, passwordFile: passwordFile, environment: env)
    }

    func expectURLError(_ url: String, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(url), file: file, line: line) { error in
            guard let e = error as? StoreError else { return XCTFail("\(error) is not a StoreError", file: file, line: line) }
            XCTAssertEqual(e.kind, .invalidArgument, file: file, line: line)
            XCTAssertTrue(e.description.contains(text), "\(e) does not mention \(text)", file: file, line: line)
        }
    }

    func testFullTCPForm() throws {
        let d = try parse(
            "postgresql://aegis@db.example:6432/control?sslmode=verify-full&sslrootcert=/etc/aegis/ca.pem&pool_max=4&connect_timeout=3")
        XCTAssertEqual(d.user, "aegis")
        XCTAssertEqual(d.host, "db.example")
        XCTAssertNil(d.socketDirectory)
        XCTAssertEqual(d.port, 6432)
        XCTAssertEqual(d.database, "control")
        XCTAssertEqual(d.sslMode, .verifyFull)
        XCTAssertEqual(d.sslRootCert, "/etc/aegis/ca.pem")
        XCTAssertEqual(d.poolMax, 4)
        XCTAssertEqual(d.connectTimeoutSeconds, 3)
        XCTAssertFalse(d.hasPassword)
    }

    func testDefaultsFollowLibpq() throws {
        let d = try parse("postgres://aegis@db")
        XCTAssertEqual(d.port, 5432)
        XCTAssertEqual(d.database, "aegis", "the database defaults to the user name")
        XCTAssertEqual(d.sslMode, .prefer)
        XCTAssertEqual(d.poolMax, PostgresDatastore.defaultPoolMax)
        XCTAssertEqual(d.poolMax, 16)
        XCTAssertEqual(d.connectTimeoutSeconds, 10)
        let socket = try parse("postgres://aegis@/aegis")
        XCTAssertNil(socket.host)
        XCTAssertEqual(socket.socketDirectory, "/var/run/postgresql", "no host: the default socket directory")
    }

    func testUnixSocketDirectoryAndIPv6() throws {
        let d = try parse("postgres://aegis@:5433/ctl?host=/run/pg/")
        XCTAssertNil(d.host)
        XCTAssertEqual(d.socketDirectory, "/run/pg")
        XCTAssertEqual(d.port, 5433)
        let config = try d.clientConfiguration()
        XCTAssertEqual(config.unixSocketPath, "/run/pg/.s.PGSQL.5433")
        XCTAssertEqual(config.options.maximumConnections, 16)
        let v6 = try parse("postgres://aegis@[::1]:7000/x?sslmode=disable")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.port, 7000)
        XCTAssertEqual(try v6.clientConfiguration().host, "::1")
        XCTAssertEqual(try parse("postgres://a%40b@h/d%20b").user, "a@b")
        XCTAssertEqual(try parse("postgres://a%40b@h/d%20b").database, "d b")
    }

    func testPasswordIsNeverAcceptedInTheURL() {
        for url in ["postgres://aegis:s3cret@db/x", "postgres://aegis:@db/x", "postgres://aegis@db/x?password=s3cret"] {
            XCTAssertThrowsError(try parse(url)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("put the password in PGPASSWORD or --datastore-password-file, not the URL"), text)
                XCTAssertTrue(text.contains("it would show in ps and logs"), text)
                XCTAssertFalse(text.contains("s3cret"), "the error repeats the password: \(text)")
            }
        }
    }

    func testPasswordFromFileOrEnvironmentAndNeverDescribed() throws {
        let env = try parse("postgres://aegis@db/x", env: ["PGPASSWORD": "from-env"])
        XCTAssertTrue(env.hasPassword)
        XCTAssertEqual(try env.clientConfiguration().password, "from-env")
        XCTAssertFalse(env.description.contains("from-env"))
        let path = NSTemporaryDirectory() + "aegis-pgpass-\(getpid())"
        defer { unlink(path) }
        FileManager.default.createFile(atPath: path, contents: Data("from-file\n".utf8), attributes: [.posixPermissions: 0o600])
        let file = try parse("postgres://aegis@db/x", passwordFile: path, env: ["PGPASSWORD": "from-env"])
        XCTAssertEqual(try file.clientConfiguration().password, "from-file", "the file wins over PGPASSWORD; its newline is dropped")
        XCTAssertFalse(file.description.contains("from-file"))
        XCTAssertFalse("\(file)".contains("from-file"))
        XCTAssertEqual(file.description, "postgres://aegis@db:5432/x?sslmode=prefer&pool_max=16&connect_timeout=10")
        XCTAssertThrowsError(try parse("postgres://aegis@db/x", passwordFile: path + "-missing")) { error in
            XCTAssertTrue("\(error)".contains(path + "-missing"), "\(error)")
        }
    }

    func testErrorsNameTheWrongPart() {
        expectURLError("mysql://aegis@db/x", "scheme \"mysql\"")
        expectURLError("postgres://aegis@db:99999/x", "port \"99999\"")
        expectURLError("postgres://aegis@db:abc/x", "port \"abc\"")
        expectURLError("postgres://aegis@db/x?sslmode=verify", "sslmode \"verify\"")
        expectURLError("postgres://aegis@db/x?sslmode=verify-full", "sslmode=verify-full needs sslrootcert")
        expectURLError("postgres://aegis@db/x?sslmode=verify-ca", "sslmode=verify-ca needs sslrootcert")
        expectURLError("postgres://aegis@db/x?pool_max=0", "pool_max \"0\"")
        expectURLError("postgres://aegis@db/x?connect_timeout=-1", "connect_timeout \"-1\"")
        expectURLError("postgres://aegis@db/x?sslrootcert=ca.pem", "sslrootcert \"ca.pem\"")
        expectURLError("postgres://aegis@db/x?target_session_attrs=any", "parameter \"target_session_attrs\" is not supported")
        expectURLError("postgres://aegis@db/x?sslmode", "parameter \"sslmode\": expected NAME=VALUE")
        expectURLError("postgres://aegis@db1,db2/x", "several hosts")
        expectURLError("postgres://aegis@db/x%zz", "database \"x%zz\"")
        expectURLError("postgres://aegis@db/x/y", "database \"x/y\"")
    }

    func testSSLModesMapToTLS() throws {
        // require without a root certificate: encrypted, not verified; verify-* need the file to be PEM.
        XCTAssertNoThrow(try parse("postgres://aegis@db/x?sslmode=require").clientConfiguration())
        XCTAssertNoThrow(try parse("postgres://aegis@db/x?sslmode=disable").clientConfiguration())
        XCTAssertNoThrow(try parse("postgres://aegis@db/x?sslmode=allow").clientConfiguration())
        let junk = NSTemporaryDirectory() + "aegis-not-pem-\(getpid())"
        defer { unlink(junk) }
        FileManager.default.createFile(atPath: junk, contents: Data("not a certificate".utf8))
        let d = try parse("postgres://aegis@db/x?sslmode=verify-full&sslrootcert=\(junk)")
        XCTAssertThrowsError(try d.clientConfiguration()) { error in
            XCTAssertTrue("\(error)".contains("sslrootcert \(junk)"), "\(error)")
        }
    }
}
