import Foundation
import Logging
import Messaging
import Retry
import ServiceLifecycle

/// Keeps the mail folder from growing without bound: at start and then every `interval` (an
/// hour: reading a folder of a month's messages is not free), removes the message files older
/// than `retention` (`notification.mailRetention`). What was sent stays in the `notifications`
/// table; the folder is the delivery, not the record.
public struct MailRetention: Service {
    let delivery: MailDirectoryDelivery
    let retention: Duration
    let logger: Logger
    private let loop: RoundLoop

    public init(delivery: MailDirectoryDelivery, retention: Duration, interval: Duration = .seconds(3600), logger: Logger) {
        self.delivery = delivery
        self.retention = retention
        self.logger = logger
        self.loop = RoundLoop(interval: interval)
    }

    public func run() async throws {
        await loop.run("removing old notification files from \(delivery.folder.path)", logger: logger) {
            // A folder of many files takes a while to read.
            _ = try await onOwnThread("mail-retention") { try removeOld() }
            return false
        }
    }

    /// Removes what outlived the retention now; returns how many files.
    @discardableResult
    public func removeOld(now: Date = Date()) throws -> Int {
        let removed = try delivery.removeMessages(writtenBefore: now.addingTimeInterval(-retention.inSeconds))
        if removed > 0 {
            logger.info("removed old notification files", metadata: [
                "count": "\(removed)", "folder": "\(delivery.folder.path)", "setting": "notification.mailRetention",
            ])
        }
        return removed
    }
}
