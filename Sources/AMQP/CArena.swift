internal import CRabbitMQ
import Foundation

/// Owns the C memory that one rabbitmq-c call reads (names, tables, properties) and frees it
/// when it goes away, so no pointer outlives its Swift string.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var utf8 = Array(string.utf8)
        if utf8.isEmpty { return amqp_bytes_t(len: 0, bytes: nil) }
        let pointer = malloc(utf8.count)!
        allocations.append(pointer)
        utf8.withUnsafeMutableBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return amqp_bytes_t(len: utf8.count, bytes: pointer)
    }

    func table(_ values: [String: AMQPHeaderValue]) -> amqp_table_t {
        if values.isEmpty { return amqp_table_t(num_entries: 0, entries: nil) }
        let raw = malloc(MemoryLayout<amqp_table_entry_t>.stride * values.count)!
        allocations.append(raw)
        let entries = raw.bindMemory(to: amqp_table_entry_t.self, capacity: values.count)
        for (index, (key, value)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
            var field = amqp_field_value_t()
            switch value {
            case .string(let text):
                field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                field.value.bytes = bytes(text)
            case .int(let number):
                field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                field.value.i64 = number
            case .bool(let flag):
                field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                field.value.boolean = flag ? 1 : 0
            }
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field))
        }
        return amqp_table_t(num_entries: Int32(values.count), entries: entries)
    }

    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        c.delivery_mode = properties.persistent ? 2 : 1
        flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        if let value = properties.messageID {
            c.message_id = bytes(value); flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
        }
        if let value = properties.correlationID {
            c.correlation_id = bytes(value); flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
        }
        if let value = properties.type {
            c.type = bytes(value); flags |= UInt32(AMQP_BASIC_TYPE_FLAG)
        }
        if let value = properties.contentType {
            c.content_type = bytes(value); flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
        }
        if let value = properties.replyTo {
            c.reply_to = bytes(value); flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG)
        }
        if let value = properties.appID {
            c.app_id = bytes(value); flags |= UInt32(AMQP_BASIC_APP_ID_FLAG)
        }
        if let value = properties.timestamp {
            c.timestamp = UInt64(max(0, value.timeIntervalSince1970)); flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if !properties.headers.isEmpty {
            c.headers = table(properties.headers); flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        c._flags = flags
        return c
    }
}

extension AMQPProperties {
    /// Reads the properties rabbitmq-c decoded, copying every value out of its buffers.
    init(_ c: amqp_basic_properties_t) {
        func has(_ flag: Int32) -> Bool { c._flags & UInt32(flag) != 0 }
        self.init()
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { messageID = String(c.message_id) }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { correlationID = String(c.correlation_id) }
        if has(AMQP_BASIC_TYPE_FLAG) { type = String(c.type) }
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { contentType = String(c.content_type) }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { replyTo = String(c.reply_to) }
        if has(AMQP_BASIC_APP_ID_FLAG) { appID = String(c.app_id) }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { timestamp = Date(timeIntervalSince1970: Double(c.timestamp)) }
        persistent = has(AMQP_BASIC_DELIVERY_MODE_FLAG) && c.delivery_mode == 2
        if has(AMQP_BASIC_HEADERS_FLAG) {
            for index in 0..<Int(c.headers.num_entries) {
                let entry = c.headers.entries[index]
                let key = String(entry.key)
                switch Int32(entry.value.kind) {
                case Int32(AMQP_FIELD_KIND_UTF8.rawValue), Int32(AMQP_FIELD_KIND_BYTES.rawValue):
                    headers[key] = .string(String(entry.value.value.bytes))
                case Int32(AMQP_FIELD_KIND_I64.rawValue):
                    headers[key] = .int(entry.value.value.i64)
                case Int32(AMQP_FIELD_KIND_U64.rawValue):
                    headers[key] = .int(Int64(truncatingIfNeeded: entry.value.value.u64))
                case Int32(AMQP_FIELD_KIND_I32.rawValue):
                    headers[key] = .int(Int64(entry.value.value.i32))
                case Int32(AMQP_FIELD_KIND_U32.rawValue):
                    headers[key] = .int(Int64(entry.value.value.u32))
                case Int32(AMQP_FIELD_KIND_I16.rawValue):
                    headers[key] = .int(Int64(entry.value.value.i16))
                case Int32(AMQP_FIELD_KIND_U16.rawValue):
                    headers[key] = .int(Int64(entry.value.value.u16))
                case Int32(AMQP_FIELD_KIND_I8.rawValue):
                    headers[key] = .int(Int64(entry.value.value.i8))
                case Int32(AMQP_FIELD_KIND_U8.rawValue):
                    headers[key] = .int(Int64(entry.value.value.u8))
                case Int32(AMQP_FIELD_KIND_BOOLEAN.rawValue):
                    headers[key] = .bool(entry.value.value.boolean != 0)
                default:
                    continue  // kinds OrderSaga neither writes nor reads
                }
            }
        }
    }
}
