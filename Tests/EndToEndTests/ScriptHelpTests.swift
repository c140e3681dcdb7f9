import Foundation
import Testing
import TestSupport

/// Every script in scripts/ answers `--help` (and `-h`) with what it does and its examples, its
/// opening comment, before it installs or starts anything.
@Suite struct ScriptHelpTests {
    @Test(arguments: ["run", "test", "bench", "chaos", "cluster"])
    func everyScriptExplainsItselfAndStartsNothing(_ name: String) async throws {
        let script = TestSystem.repositoryRoot.appendingPathComponent("scripts/\(name)")
        for flag in ["--help", "-h"] {
            let (status, output) = try await Process.output(of: URL(fileURLWithPath: "/bin/bash"), [script.path, flag], in: TestSystem.repositoryRoot)
            #expect(status == 0, "scripts/\(name) \(flag): \(output)")
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.contains { $0.hasPrefix("  scripts/\(name)") || $0.hasPrefix("scripts/\(name) ") }, "no example in: \(output)")
            #expect(!output.contains("==>") && !output.contains("#!") && !output.contains("set -euo"), "more than the help: \(output)")
            #expect(lines.allSatisfy { !$0.hasPrefix("#") }, "comment marks left in: \(output)")
        }
    }
}

/// A service's port taken by a process the scripts do not know (one left by an interrupted run):
/// `scripts/run` says which process holds it and starts nothing, where the new service would
/// have stopped at once while the old one answered its readiness check.
@Suite struct ScriptPortTests {
    @Test func aTakenPortIsNamedAndNothingStarts() async throws {
        let port = TestPorts.next()
        let listener = try #require(TestPorts.listen(on: port))
        defer { close(listener) }
        let script = TestSystem.repositoryRoot.appendingPathComponent("scripts/run")
        let (status, output) = try await Process.output(
            of: URL(fileURLWithPath: "/bin/bash"), [script.path, "start", "order-service"], in: TestSystem.repositoryRoot,
            environment: ["ORDERSAGA_PROFILE": "test", "HTTP_PORT": "\(port)"])
        #expect(status == 1)
        #expect(output.contains("order-service cannot start: 127.0.0.1:\(port) is taken by pid \(getpid())"), "\(output)")
        let pidFile = TestSystem.repositoryRoot.appendingPathComponent(".local/test/pids/order-service")
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
    }
}
