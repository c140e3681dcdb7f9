/// Reads a `text/event-stream` as it arrives, in chunks cut anywhere: the events it completes.
/// Comment lines (`: keep-alive`) and fields other than `event`, `id` and `data` are skipped;
/// several `data` lines join with a newline, as the format says.
public struct ServerSentEvents {
    public struct Event: Equatable, Sendable {
        public var name: String
        public var id: String?
        public var data: String

        public init(name: String, id: String?, data: String) {
            self.name = name
            self.id = id
            self.data = data
        }
    }

    private var pending: [UInt8] = []
    private var name = ""
    private var id: String?
    private var data: [String] = []

    public init() {}

    /// The events that `bytes` completes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        pending.append(contentsOf: bytes)
        var events: [Event] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            pending.removeSubrange(...newline)
            if text.isEmpty {
                if !data.isEmpty || !name.isEmpty {
                    events.append(Event(name: name.isEmpty ? "message" : name, id: id, data: data.joined(separator: "\n")))
                }
                name = ""
                id = nil
                data = []
                continue
            }
            if text.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                value = text[text.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                field = Substring(text)
                value = ""
            }
            switch field {
            case "event": name = String(value)
            case "id": id = String(value)
            case "data": data.append(String(value))
            default: break
            }
        }
        return events
    }
}
