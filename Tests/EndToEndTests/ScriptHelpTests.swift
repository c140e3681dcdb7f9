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
