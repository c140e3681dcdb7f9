import Foundation

/// Waiting on a child process without holding a thread of Swift's cooperative pool.
///
/// `Process.waitUntilExit()` and `FileHandle.readDataToEndOfFile()` block the calling thread, and
/// the pool has only as many threads as cores (two here). Tests run in parallel in one process,
/// and the in-process order service and workers share that pool: two tests blocked on a `saga-status`
/// run that is itself waiting for the in-process order service stall every test until the CLI
/// times out. So tests wait for children only through these.
extension Process {
    /// Returns once the process has ended; polls, so it works for a process started anywhere.
    public func exited() async {
        while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        waitUntilExit()  // it has ended: this only collects the status
    }

    /// Asks the process to stop (SIGTERM) if it still runs, and waits until it has.
    public func stop() async {
        if isRunning { terminate() }
        await exited()
    }

    /// Runs `executable` to its end; returns its exit status and what it wrote to stdout and stderr.
    public static func output(
        of executable: URL, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = await pipe.fileHandleForReading.readUntilClosed()
        await process.exited()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension FileHandle {
    /// Reads until end of file on a thread of its own.
    public func readUntilClosed() async -> Data {
        await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            Thread { continuation.resume(returning: self.readDataToEndOfFile()) }.start()
        }
    }
}
