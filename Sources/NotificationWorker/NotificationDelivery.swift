import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A notification as rendered from its template, ready to send.
public struct RenderedNotification: Sendable, Equatable {
    /// Stable for the notification (`<saga>-<kind>`): a delivery repeated after a crash names the same message.
    public var id: String
    /// `ORDER_CONFIRMED`, `ORDER_REFUNDED`, `ORDER_CANCELLED`.
    public var kind: String
    public var customerID: String
    public var orderID: String
    public var subject: String
    public var body: String
    /// When it was recorded.
    public var date: Date

    public init(id: String, kind: String, customerID: String, orderID: String, subject: String, body: String, date: Date) {
        self.id = id; self.kind = kind; self.customerID = customerID; self.orderID = orderID
        self.subject = subject; self.body = body; self.date = date
    }
}

/// Where rendered notifications go. ``NotificationHandler`` delivers inside its transaction, once
/// the notification is recorded and before the transaction commits: a crash between the two
/// delivers again when the command is redelivered, so a delivery must accept the same message
/// (same ``RenderedNotification/id``) twice. What it throws rolls the notification back (retried).
public protocol NotificationDelivery: Sendable {
    func deliver(_ notification: RenderedNotification) throws
}

/// A delivery that did not happen.
public struct DeliveryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Writes each notification as `<id>.eml` (an RFC 5322 message, plain UTF-8 text) into a folder,
/// through a temporary file flushed to the disk and renamed into place: a reader never sees half a
/// message, a committed notification's file survives a power cut, and a repeated delivery replaces
/// the file with the same message. SMTP would be another delivery.
public struct MailDirectoryDelivery: NotificationDelivery {
    public let folder: URL
    /// The sender every message names.
    public let from: String

    public init(folder: URL, from: String = "OrderSaga <orders@ordersaga.invalid>") {
        self.folder = folder
        self.from = from
    }

    /// Creates the folder and writes and removes a file in it: a folder the worker cannot write
    /// stops it at start, instead of failing every notification (and parking every saga) later.
    /// Removes what a worker killed mid-write left: temporary files older than a minute.
    public func checkWritable() throws {
        let probe = folder.appendingPathComponent(".write-check-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data().write(to: probe)
            try FileManager.default.removeItem(at: probe)
            try removeStaleTemporaryFiles(olderThan: Date(timeIntervalSinceNow: -60))
        } catch {
            // Foundation's words say little ("could not be completed"); the system's say why.
            var reason = error.localizedDescription
            if mkdir(folder.path, 0o755) != 0 && errno != EEXIST { reason = String(cString: strerror(errno)) }
            throw DeliveryError(description: "cannot write notifications into \(folder.path): \(reason)")
        }
    }

    /// Removes what a worker killed mid-write left: its temporary files (`.<id>.<uuid>.tmp`).
    private func removeStaleTemporaryFiles(olderThan limit: Date) throws {
        try removeFiles(writtenBefore: limit) { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
    }

    /// Removes the message files (`<id>.eml`) last written before `limit`
    /// (`notification.mailRetention`); returns how many.
    @discardableResult
    public func removeMessages(writtenBefore limit: Date) throws -> Int {
        try removeFiles(writtenBefore: limit) { !$0.hasPrefix(".") && $0.hasSuffix(".eml") }
    }

    /// Removes the regular files whose name `matches` and that were last written before `limit`;
    /// returns how many. Reads the folder's names one at a time (it can hold a month of messages:
    /// a listing of 100,000 of them with their dates took 25 MB) and dates only the names that
    /// match. A folder that is gone holds nothing (the next delivery makes it again).
    @discardableResult
    private func removeFiles(writtenBefore limit: Date, matching matches: (String) -> Bool) throws -> Int {
        guard let directory = opendir(folder.path) else {
            if errno == ENOENT { return 0 }
            throw Self.failure("cannot read \(folder.path)")
        }
        defer { closedir(directory) }
        let cutoff = Int(limit.timeIntervalSince1970.rounded(.down))
        var removed = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard matches(name) else { continue }
            var info = stat()
            let path = folder.appendingPathComponent(name).path
            // Removing the entry just read leaves the rest of the listing as it was (POSIX readdir).
            if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mtim.tv_sec < cutoff, unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Writes the message into a temporary file and flushes it to the disk, renames it into place
    /// and flushes the folder, as a Maildir delivery does: once the notification's transaction
    /// commits, its message survives a power cut as well as a crash. What fails throws, and the
    /// transaction rolls back (the command is tried again).
    public func deliver(_ notification: RenderedNotification) throws {
        let file = folder.appendingPathComponent("\(notification.id).eml").path
        let temporary = folder.appendingPathComponent(".\(notification.id).\(UUID().uuidString).tmp").path
        let message = Array(Self.message(notification, from: from).utf8)
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 && errno == ENOENT {
            // The folder is made at start (checkWritable); if it went since, it is made again.
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else { throw Self.failure("cannot write \(temporary)") }
        guard Self.writeAll(message, to: descriptor), fsync(descriptor) == 0 else {
            let error = Self.failure("cannot write \(temporary)")
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        // rename(2): atomic, and it replaces a file already there.
        guard rename(temporary, file) == 0 else {
            let error = Self.failure("cannot write \(file)")
            unlink(temporary)
            throw error
        }
        let directory = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw Self.failure("cannot flush \(folder.path)") }
        defer { close(directory) }
        guard fsync(directory) == 0 else { throw Self.failure("cannot flush \(folder.path)") }
    }

    /// Writes all of `bytes`, a part at a time if the system takes less.
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    if count == 0 { errno = EIO }  // no progress and no reason: say it as an I/O error
                    return false
                }
                offset += count
            }
            return true
        }
    }

    /// `what`, with the system's reason (errno) for the call that just failed.
    private static func failure(_ what: String) -> DeliveryError {
        DeliveryError(description: "\(what): \(String(cString: strerror(errno)))")
    }

    /// The message's text, CRLF line ends as RFC 5322 asks. The customer's address is the identity
    /// service's to give; until the notification service asks it, the message names the customer.
    public static func message(_ notification: RenderedNotification, from: String) -> String {
        let headers = [
            "From: \(from)",
            "To: \(notification.customerID)@customers.ordersaga.invalid",
            "Subject: \(encodedWord(notification.subject))",
            "Date: \(date(notification.date))",
            "Message-ID: <\(notification.id)@ordersaga.invalid>",
            "X-OrderSaga-Kind: \(notification.kind)",
            "X-OrderSaga-Order: \(notification.orderID)",
            "X-OrderSaga-Customer: \(notification.customerID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        let body = notification.body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + body + "\r\n"
    }

    /// `Fri, 15 Jan 2027 08:00:00 +0000`: RFC 5322's date in UTC, with English names whatever the
    /// locale. By hand: a DateFormatter (ICU) made per message was a tenth of the worker's CPU.
    static func date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][Int(parts.tm_wday)]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][Int(parts.tm_mon)]
        return "\(day), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// A header value as is when it is plain ASCII, else as an RFC 2047 encoded word (UTF-8, base64).
    static func encodedWord(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }
        return plain ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }
}
