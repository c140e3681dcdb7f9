import Foundation

/// Runs blocking work (rabbitmq-c calls, reading a large folder) on a thread of its own, off the
/// few threads that run every task; returns or throws what `body` did.
public func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.start()
    }
}
