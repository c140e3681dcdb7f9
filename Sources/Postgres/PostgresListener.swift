import Foundation
import Logging
import Synchronization

/// LISTEN on a dedicated connection and thread; notifications arrive as an async sequence.
///
/// NOTIFY is only a hint: it is not replayed to a listener that was disconnected. So each time the
/// listener (re)connects it yields one notification with an empty payload on every channel, telling
/// the reader that it may have missed some and should look for work.
public enum PostgresListener {
    /// Starts listening. The thread stops when the sequence's reader stops iterating.
    public static func notifications(
        conninfo: String,
        channels: [String],
        logger: Logger
    ) -> AsyncStream<PostgresNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: PostgresNotification.self, bufferingPolicy: .bufferingNewest(64))
        let stopped = StopFlag()
        continuation.onTermination = { _ in stopped.stop() }
        let thread = Thread {
            listen(conninfo: conninfo, channels: channels, logger: logger, stopped: stopped, continuation: continuation)
        }
        thread.name = "postgres-listener"
        thread.start()
        return stream
    }

    private static func listen(
        conninfo: String,
        channels: [String],
        logger: Logger,
        stopped: StopFlag,
        continuation: AsyncStream<PostgresNotification>.Continuation
    ) {
        while !stopped.isStopped {
            do {
                let connection = try PostgresConnection(conninfo: conninfo)
                for channel in channels {
                    // Channel names come from code, not input; quoting keeps them exact identifiers.
                    try connection.query("LISTEN \"\(channel.replacingOccurrences(of: "\"", with: "\"\""))\"")
                    continuation.yield(PostgresNotification(channel: channel, payload: ""))
                }
                while !stopped.isStopped {
                    var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
                    _ = poll(&descriptor, 1, 250)
                    for notification in try connection.takeNotifications() {
                        continuation.yield(notification)
                    }
                }
            } catch {
                logger.warning("LISTEN connection failed; retrying", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 1)
            }
        }
        continuation.finish()
    }
}

/// A flag set once from any thread. `Mutex` is not copyable, so it lives in a class to be shared.
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isStopped: Bool { flag.withLock { $0 } }
    func stop() { flag.withLock { $0 = true } }
}
