import Mustache
import Synchronization

/// A notification's subject and body as Mustache templates (hummingbird-project/swift-mustache),
/// rendered as plain text: `{{order}}` (the order's number, or its id when the number is not
/// known), `{{orderId}}`, `{{orderNumber}}`, `{{customerId}}`, `{{total}}` (`78.57`) and
/// `{{reason}}` (a cancellation's).
struct NotificationTemplate: Sendable {
    let subject: MustacheTemplate
    let body: MustacheTemplate

    /// The values a template may name.
    static let variables = ["order", "orderId", "orderNumber", "customerId", "total", "reason"]

    /// Text, not HTML: no escaping of what is rendered.
    private static let plainText = "{{% CONTENT_TYPE:TEXT}}"

    /// Parses both; a template that does not parse throws ``TemplateError`` naming the part, line and column.
    init(kind: String, subject: String, body: String) throws(TemplateError) {
        self.subject = try Self.parse(subject, kind: kind, part: "subject")
        self.body = try Self.parse(body, kind: kind, part: "body")
    }

    func render(_ values: [String: String]) -> (subject: String, body: String) {
        (subject.render(values), body.render(values))
    }

    private static func parse(_ text: String, kind: String, part: String) throws(TemplateError) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: plainText + text)
        } catch let error as MustacheTemplate.ParserError {
            // Line 1 carries the prefix: its columns are counted without it.
            let column = error.context.lineNumber == 1 ? max(1, error.context.columnNumber - plainText.count) : error.context.columnNumber
            throw TemplateError(
                description: "template \(kind) \(part), line \(error.context.lineNumber), column \(column): \(error.error)")
        } catch {
            throw TemplateError(description: "template \(kind) \(part): \(error)")
        }
    }
}

/// The templates a worker has parsed, by kind and text.
final class ParsedTemplates: Sendable {
    private let cache = Mutex<[String: NotificationTemplate]>([:])

    func template(kind: String, subject: String, body: String) throws(TemplateError) -> NotificationTemplate {
        let key = "\(kind)\u{0}\(subject)\u{0}\(body)"
        if let template = cache.withLock({ $0[key] }) { return template }
        let template = try NotificationTemplate(kind: kind, subject: subject, body: body)
        cache.withLock { cache in
            if cache.count >= 64 { cache.removeAll() }  // edited templates leave old texts behind
            cache[key] = template
        }
        return template
    }
}

/// A template that does not parse.
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
