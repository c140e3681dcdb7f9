import Foundation
import Logging
@testable import NotificationWorker
import Testing

/// Notification templates (Mustache, as plain text) and their delivery as `.eml` files: no I/O
/// but a temporary folder.
@Suite struct NotificationRenderingTests {
    @Test func aTemplateRendersPlainTextWithTheOrdersValues() throws {
        let template = try NotificationTemplate(
            kind: "ORDER_REFUNDED", subject: "Your order {{order}} was cancelled",
            body: "Order {{order}} was cancelled: {{reason}}.\n{{#total}}{{total}} was refunded.{{/total}}{{^total}}Nothing was charged.{{/total}}")
        let values = NotificationHandler.values(orderID: "o-1", number: 1042, customerID: "cust-ada", totalCents: 7857, reason: "it's <late> & wrong")
        let (subject, body) = template.render(values)
        #expect(subject == "Your order 1042 was cancelled")
        // Text, not HTML: nothing escaped.
        #expect(body == "Order 1042 was cancelled: it's <late> & wrong.\n78.57 was refunded.")
        // Without a number (a command sent before numbers travelled), the order's id; without a total, the inverted section.
        let older = template.render(NotificationHandler.values(orderID: "o-1", number: nil, customerID: "cust-ada", totalCents: nil, reason: "x"))
        #expect(older.subject == "Your order o-1 was cancelled" && older.body.hasSuffix("Nothing was charged."))
    }

    @Test func aTemplateThatDoesNotParseNamesThePartLineAndColumn() {
        #expect(throws: TemplateError.self) { try NotificationTemplate(kind: "ORDER_CONFIRMED", subject: "ok", body: "line one\n{{#items}}\nno end") }
        do {
            _ = try NotificationTemplate(kind: "ORDER_CONFIRMED", subject: "Order {{order", body: "fine")
            Issue.record("an unfinished tag parsed")
        } catch {
            #expect(error.description.hasPrefix("template ORDER_CONFIRMED subject, line 1, column "), "\(error)")
        }
        do {
            _ = try NotificationTemplate(kind: "ORDER_CONFIRMED", subject: "ok", body: "fine\n{{#a}}x{{/b}}")
            Issue.record("a section closed by another name parsed")
        } catch {
            #expect(error.description.hasPrefix("template ORDER_CONFIRMED body, line 2, "), "\(error)")
        }
    }

    @Test func aFolderThatCannotBeWrittenIsNamedWithTheSystemsReason() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-folder-\(UUID().uuidString)")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            try MailDirectoryDelivery(folder: file.appendingPathComponent("mail")).checkWritable()
            Issue.record("a folder inside a file was writable")
        } catch {
            #expect("\(error)" == "cannot write notifications into \(file.path)/mail: Not a directory")
        }
        let fine = FileManager.default.temporaryDirectory.appendingPathComponent("mail-\(UUID().uuidString)/deeper")
        defer { try? FileManager.default.removeItem(at: fine.deletingLastPathComponent()) }
        try MailDirectoryDelivery(folder: fine).checkWritable()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fine.path) == [])  // created, the probe gone
        // What a worker killed mid-write left is removed at the next start; a write in progress (recent) is not.
        let stale = fine.appendingPathComponent(".a-order_confirmed.eml.stale.tmp")
        let fresh = fine.appendingPathComponent(".b-order_confirmed.eml.fresh.tmp")
        for file in [stale, fresh] { try Data("x".utf8).write(to: file) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: stale.path)
        try MailDirectoryDelivery(folder: fine).checkWritable()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fine.path) == [fresh.lastPathComponent])
    }

    @Test func messageFilesOlderThanTheRetentionAreRemovedAndNothingElse() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let delivery = MailDirectoryDelivery(folder: folder)
        let retention = MailRetention(delivery: delivery, retention: .seconds(86_400), logger: Logger(label: "mail-retention-test"))
        // No folder yet (nothing delivered): nothing to do, and no error.
        #expect(try retention.removeOld() == 0)
        try delivery.checkWritable()
        let twoDaysAgo = Date(timeIntervalSinceNow: -2 * 86_400)
        let old = ["saga-1-order_confirmed.eml", "saga-2-order_cancelled.eml"]
        let kept = ["saga-3-order_confirmed.eml", ".saga-4-order_confirmed.eml.x.tmp", "notes.txt", "archive.eml"]
        for name in old + kept.dropLast() { try Data("x".utf8).write(to: folder.appendingPathComponent(name)) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("archive.eml"), withIntermediateDirectories: false)
        // Old: the two messages, and what is not a message file at all (a write in progress, a note, a folder).
        for name in old + kept.dropFirst() {
            try FileManager.default.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: folder.appendingPathComponent(name).path)
        }
        #expect(try retention.removeOld() == 2)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)) == Set(kept))
        // A day later the third message has outlived a day too.
        #expect(try retention.removeOld(now: Date(timeIntervalSinceNow: 86_400 + 60)) == 1)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)) == Set(kept.dropFirst()))
    }

    @Test func aDeliveryWritesOneWholeMessageFileAndARepeatReplacesIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let delivery = MailDirectoryDelivery(folder: folder)
        let notification = RenderedNotification(
            id: "saga-1-order_confirmed", kind: "ORDER_CONFIRMED", customerID: "cust-ada", orderID: "o-1",
            subject: "Your order 1042 is confirmed", body: "Thank you!\nTotal: 78.57.", date: Date(timeIntervalSince1970: 1_800_000_000))
        try delivery.deliver(notification)
        try delivery.deliver(notification)  // redelivered after a crash: the same file, once
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["saga-1-order_confirmed.eml"])
        let text = try String(contentsOf: folder.appendingPathComponent("saga-1-order_confirmed.eml"), encoding: .utf8)
        #expect(text.hasPrefix("From: OrderSaga <orders@ordersaga.invalid>\r\nTo: cust-ada@customers.ordersaga.invalid\r\n"))
        #expect(text.contains("\r\nSubject: Your order 1042 is confirmed\r\n"))
        #expect(text.contains("\r\nDate: Fri, 15 Jan 2027 08:00:00 +0000\r\n"))
        #expect(text.hasSuffix("\r\n\r\nThank you!\r\nTotal: 78.57.\r\n"))
        // The date as RFC 5322 writes it, in UTC and English: as a POSIX DateFormatter would.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        var random = SystemRandomNumberGenerator()
        for seconds in [0, 951_782_400, 1_709_164_799, 4_102_444_800] + (0..<200).map({ _ in Int.random(in: 0..<4_102_444_800, using: &random) }) {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds) + 0.75)
            #expect(MailDirectoryDelivery.date(date) == formatter.string(from: date), "\(seconds)")
        }
        // A folder removed while the worker runs is made again.
        try FileManager.default.removeItem(at: folder)
        try delivery.deliver(notification)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["saga-1-order_confirmed.eml"])
        // A folder that cannot hold files: the delivery throws, naming the file and the reason.
        let blocked = folder.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: blocked)
        #expect {
            try MailDirectoryDelivery(folder: blocked).deliver(notification)
        } throws: { error in
            let text = "\(error)"
            return text.contains("cannot write \(blocked.path)/.saga-1-order_confirmed.") && text.hasSuffix(": Not a directory")
        }
        // A subject that is not plain ASCII, or would break the header, is an encoded word.
        let tricky = MailDirectoryDelivery.message(
            RenderedNotification(id: "x", kind: "K", customerID: "c", orderID: "o", subject: "Café\r\nBcc: evil@example.com", body: "", date: Date()),
            from: "f")
        #expect(!tricky.contains("\r\nBcc:") && tricky.contains("Subject: =?UTF-8?B?"))
    }
}
