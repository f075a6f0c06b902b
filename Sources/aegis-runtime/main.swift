// aegis-runtime — AEGIS's OCI runtime command line, with runc-compatible operations and flags:
//   aegis-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND …
// Commands: create, start, state, kill, delete, run (and `spec` to write a default config.json).
// Kept lean: Glibc + FoundationEssentials, no full Foundation (start-up time matters here).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

// runc's global flags come before the command name (`runc --root X create …`): take them off the
// front of argv here, then let ArgumentParser handle the command.
var rest = Array(CommandLine.arguments.dropFirst())
do {
    Globals.shared = try Globals.parse(&rest)
} catch {
    Globals.fail("\(error)")
}
AegisRuntimeCommand.main(rest)
