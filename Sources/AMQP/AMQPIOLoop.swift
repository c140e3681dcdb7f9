internal import CRabbitMQ
import Foundation
import Logging
import Metrics
import Retry
import Synchronization

/// The part of ``AMQPConnection`` that runs on its thread and owns the rabbitmq-c connection.
///
/// `@unchecked Sendable`: created before the thread starts and afterwards touched only by that
/// thread; what other threads share with it goes through `AMQPConnection.SharedState`'s mutex.
final class AMQPIOLoop: @unchecked Sendable {
    enum Command {
        case publish(PublishBatch)
        case ack(tag: UInt64, generation: Int)
        case reject(tag: UInt64, generation: Int, requeue: Bool)
    }

    /// Messages published together and the continuation that gets their results.
    /// `@unchecked Sendable`: after it is queued only the connection's thread touches it.
    final class PublishBatch: @unchecked Sendable {
        let messages: [AMQPOutgoingMessage]
        var results: [Result<Void, AMQPError>?]
        var remaining: Int
        let continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>

        init(messages: [AMQPOutgoingMessage], continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>) {
            self.messages = messages
            self.results = Array(repeating: nil, count: messages.count)
            self.remaining = messages.count
            self.continuation = continuation
        }

        func complete(_ index: Int, _ result: Result<Void, AMQPError>) {
            guard results[index] == nil else { return }
            results[index] = result
            remaining -= 1
            if remaining == 0 { continuation.resume(returning: results.map { $0! }) }
        }
    }

    private struct PendingConfirm {
        let batch: PublishBatch
        let index: Int
        let messageID: String?
    }

    private static let publishChannel: UInt16 = 1
    private static let consumeChannel: UInt16 = 2

    private let configuration: AMQPConfiguration
    private let topology: AMQPTopology
    private let consumers: [AMQPConsumer]
    private let deliveries: AsyncStream<AMQPDelivery>.Continuation
    private var logger: Logger

    private var connection: OpaquePointer?  // amqp_connection_state_t
    private var generation = 0
    private var nextPublishTag: UInt64 = 1
    private var lowestPendingTag: UInt64 = 1
    private var pending: [UInt64: PendingConfirm] = [:]
    /// message ids the broker returned as unroutable, until their confirm arrives.
    private var returned: [String: String] = [:]

    init(
        configuration: AMQPConfiguration,
        topology: AMQPTopology,
        consumers: [AMQPConsumer],
        deliveries: AsyncStream<AMQPDelivery>.Continuation,
        logger: Logger
    ) {
        self.configuration = configuration
        self.topology = topology
        self.consumers = consumers
        self.deliveries = deliveries
        self.logger = logger
        self.logger[metadataKey: "amqp"] = "\(configuration.nodes.map(\.description).joined(separator: ","))/\(configuration.vhost)"
    }

    /// The node the next connection tries: the first, then after each failure or lost
    /// connection the next one of the cluster, round the list.
    private var nodeIndex = 0
    /// Connections made again after the first (swift-metrics; see `ProcessMetrics`).
    private let reconnects = Counter(label: "ordersaga_amqp_reconnects_total")
    /// 1 while the broker blocks this connection (a memory or disk alarm), else 0.
    private let blockedGauge = Gauge(label: "ordersaga_amqp_blocked")
    /// When the broker began blocking this connection, while it does.
    private var blockedSince: ContinuousClock.Instant?

    // MARK: The loop

    func run(shared: borrowing Mutex<AMQPConnection.SharedState>, wakeup: WakePipe) {
        let reconnect = RetryPolicy.unlimited(backoffMilliseconds: 200, maxDelayMilliseconds: Int(configuration.maxReconnectDelay * 1000))
        // The first failure is worth a warning; a broker that stays away, one line now and then.
        var failures = FailureLog(every: 20)
        while !shared.withLock({ $0.stopping }) {
            let node = configuration.nodes[nodeIndex % configuration.nodes.count]
            do {
                try connect(to: node)
                generation += 1
                if generation > 1 { reconnects.increment() }
                failures.succeeded()
                let generation = self.generation
                let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.generation = generation
                    state.timesConnected += 1
                    defer { state.connectedWaiters = [] }
                    return state.connectedWaiters
                }
                waiters.forEach { $0.resume() }
                logger.info("AMQP connected", metadata: ["generation": "\(generation)", "node": "\(node)"])
                try serve(shared: shared, wakeup: wakeup)
            } catch {
                if failures.failed() {
                    logger.warning("AMQP connection down; reconnecting", metadata: [
                        "error": "\(error)", "attempt": "\(failures.failures)", "node": "\(node)",
                    ])
                }
            }
            nodeIndex += 1
            disconnect(reason: .connectionLost("connection closed"), shared: shared)
            if shared.withLock({ $0.stopping }) { break }
            waitInterruptibly(reconnect.delay(afterAttempt: max(failures.failures, 1)), wakeup: wakeup)
        }
        disconnect(reason: .shutdown, shared: shared)
        deliveries.finish()
    }

    /// Serves one live connection until it fails or the connection is asked to stop.
    private func serve(shared: borrowing Mutex<AMQPConnection.SharedState>, wakeup: WakePipe) throws {
        guard let connection else { return }
        let socket = amqp_get_sockfd(connection)
        let pollTimeout = Int32(max(100, min(1000, configuration.heartbeat * 1000 / 2)))
        while true {
            let (commands, stopping) = shared.withLock { state in
                defer { state.commands = [] }
                return (state.commands, state.stopping)
            }
            for command in commands { try run(command) }
            if stopping {
                // Let confirms of what was just published arrive before closing.
                try drainConfirms(deadline: Date().addingTimeInterval(2), shared: shared)
                return
            }
            if amqp_frames_enqueued(connection) == 0 && amqp_data_in_buffer(connection) == 0 {
                var descriptors = [
                    pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0),
                ]
                _ = poll(&descriptors, 2, pollTimeout)
                if descriptors[1].revents != 0 { wakeup.drain() }
            }
            try readAvailableFrames(shared: shared)
            amqp_maybe_release_buffers(connection)
        }
    }

    private func drainConfirms(deadline: Date, shared: borrowing Mutex<AMQPConnection.SharedState>) throws {
        guard let connection else { return }
        while !pending.isEmpty && Date() < deadline {
            var descriptor = pollfd(fd: amqp_get_sockfd(connection), events: Int16(POLLIN), revents: 0)
            if amqp_frames_enqueued(connection) == 0 && amqp_data_in_buffer(connection) == 0 {
                _ = poll(&descriptor, 1, 100)
            }
            try readAvailableFrames(shared: shared)
        }
    }

    private func waitInterruptibly(_ duration: Duration, wakeup: WakePipe) {
        var descriptor = pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(duration.inMilliseconds))
        wakeup.drain()
    }

    // MARK: Connecting

    private func connect(to node: AMQPConfiguration.Node) throws {
        guard let connection = amqp_new_connection() else { throw AMQPError.connectionFailed("out of memory") }
        self.connection = connection
        try Self.open(connection, configuration, node: node)

        let arena = CArena()
        amqp_channel_open(connection, Self.publishChannel)
        try Self.check(amqp_get_rpc_reply(connection), "channel.open")
        try Self.declare(topology, on: connection, channel: Self.publishChannel, arena: arena)
        amqp_confirm_select(connection, Self.publishChannel)
        try Self.check(amqp_get_rpc_reply(connection), "confirm.select")
        nextPublishTag = 1
        lowestPendingTag = 1

        if !consumers.isEmpty {
            amqp_channel_open(connection, Self.consumeChannel)
            try Self.check(amqp_get_rpc_reply(connection), "channel.open (consumers)")
            for consumer in consumers {
                amqp_basic_qos(connection, Self.consumeChannel, 0, consumer.prefetch, 0)
                try Self.check(amqp_get_rpc_reply(connection), "basic.qos for \(consumer.queue)")
                amqp_basic_consume(
                    connection, Self.consumeChannel, arena.bytes(consumer.queue), arena.bytes(consumer.queue),
                    0, 0, 0, amqp_empty_table)
                try Self.check(amqp_get_rpc_reply(connection), "consume \(consumer.queue)")
            }
        }
    }

    /// Connects once, declares `topology`, and closes: what a deployment step runs before any
    /// service starts. Blocks its thread; throws the broker's own words on failure.
    static func declareOnce(_ topology: AMQPTopology, configuration: AMQPConfiguration) throws {
        try once(configuration) { connection, arena in
            try declare(topology, on: connection, channel: publishChannel, arena: arena)
        }
    }

    /// How many messages each of `queues` holds, exactly (the broker's count of a passive
    /// declare); with `purge`, deletes them and says how many there were.
    static func queuesOnce(_ queues: [String], purge: Bool, configuration: AMQPConfiguration) throws -> [Int] {
        try once(configuration) { connection, arena in
            try queues.map { queue in
                if purge {
                    let ok = amqp_queue_purge(connection, publishChannel, arena.bytes(queue))
                    try check(amqp_get_rpc_reply(connection), "purge queue \(queue)")
                    return Int(ok?.pointee.message_count ?? 0)
                }
                let ok = amqp_queue_declare(connection, publishChannel, arena.bytes(queue), 1, 0, 0, 0, amqp_empty_table)
                try check(amqp_get_rpc_reply(connection), "check queue \(queue)")
                return Int(ok?.pointee.message_count ?? 0)
            }
        }
    }

    /// Connects (to the first node that answers), opens a channel, runs `body`, and closes. Blocks its thread.
    private static func once<T>(_ configuration: AMQPConfiguration, _ body: (OpaquePointer, CArena) throws -> T) throws -> T {
        var unreachable: [String] = []
        for node in configuration.nodes {
            guard let connection = amqp_new_connection() else { throw AMQPError.connectionFailed("out of memory") }
            defer { amqp_destroy_connection(connection) }
            do {
                try open(connection, configuration, node: node)
            } catch let error as AMQPError where error.isConnectionFailure && configuration.nodes.count > 1 {
                unreachable.append(error.message)
                continue
            }
            defer { amqp_connection_close(connection, AMQP_REPLY_SUCCESS) }
            amqp_channel_open(connection, publishChannel)
            try check(amqp_get_rpc_reply(connection), "channel.open")
            return try body(connection, CArena())
        }
        throw AMQPError.connectionFailed("no node answered: \(unreachable.joined(separator: "; "))")
    }

    /// Opens the socket to `node` (the first one unless told) and logs in.
    private static func open(_ connection: OpaquePointer, _ configuration: AMQPConfiguration, node: AMQPConfiguration.Node? = nil) throws {
        let node = node ?? configuration.nodes[0]
        guard let socket = amqp_tcp_socket_new(connection) else { throw AMQPError.connectionFailed("could not create a socket") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, node.host, Int32(node.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError.connectionFailed("\(node): \(String(cString: amqp_error_string2(status)))")
        }
        try Self.check(
            ordersaga_amqp_login_plain(
                connection, configuration.vhost, 0, 131_072, Int32(configuration.heartbeat),
                configuration.connectionName, configuration.user, configuration.password),
            "login as \(configuration.user) to vhost \(configuration.vhost)")
    }

    /// Declares `topology` (or, when it is passive, checks that it exists) on an open channel.
    private static func declare(_ topology: AMQPTopology, on connection: OpaquePointer, channel: UInt16, arena: CArena) throws {
        let passive: amqp_boolean_t = topology.passive ? 1 : 0
        let verb = topology.passive ? "check" : "declare"
        for exchange in topology.exchanges {
            amqp_exchange_declare(
                connection, channel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue),
                passive, 1, 0, 0, amqp_empty_table)
            try check(amqp_get_rpc_reply(connection), "\(verb) exchange \(exchange.name)")
        }
        for queue in topology.queues {
            let arguments = queue.arguments
            amqp_queue_declare(connection, channel, arena.bytes(queue.name), passive, 1, 0, 0, topology.passive ? amqp_empty_table : arena.table(arguments))
            try check(amqp_get_rpc_reply(connection), "\(verb) queue \(queue.name)")
        }
        for binding in topology.bindings where !topology.passive {
            amqp_queue_bind(
                connection, channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey), amqp_empty_table)
            try Self.check(amqp_get_rpc_reply(connection), "bind \(binding.queue) to \(binding.exchange) with \(binding.routingKey)")
        }
    }

    /// Fails everything in flight and frees the connection.
    private func disconnect(reason: AMQPError, shared: borrowing Mutex<AMQPConnection.SharedState>) {
        let queued = shared.withLock { state in
            state.generation = 0
            state.blockedReason = nil
            defer { state.commands = [] }
            return state.commands
        }
        for command in queued {
            if case .publish(let batch) = command {
                for index in batch.messages.indices { batch.complete(index, .failure(reason)) }
            }
        }
        for (_, confirm) in pending { confirm.batch.complete(confirm.index, .failure(reason)) }
        pending = [:]
        returned = [:]
        if blockedSince != nil {
            blockedSince = nil
            blockedGauge.record(0)
        }
        if let connection {
            if amqp_get_socket(connection) != nil {
                amqp_connection_close(connection, AMQP_REPLY_SUCCESS)
            }
            amqp_destroy_connection(connection)
            self.connection = nil
        }
    }

    // MARK: Requests from tasks

    private func run(_ command: Command) throws {
        guard let connection else { return }
        switch command {
        case .publish(let batch):
            let arena = CArena()
            for (index, message) in batch.messages.enumerated() {
                var properties = arena.properties(message.properties)
                let status = message.body.withUnsafeBufferPointer { body in
                    let bytes = amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
                    return amqp_basic_publish(
                        connection, Self.publishChannel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                        message.mandatory ? 1 : 0, 0, &properties, bytes)
                }
                guard status == AMQP_STATUS_OK.rawValue else {
                    batch.complete(index, .failure(.connectionLost(String(cString: amqp_error_string2(status)))))
                    for rest in (index + 1)..<batch.messages.count { batch.complete(rest, .failure(.connectionLost("publish failed"))) }
                    throw AMQPError.connectionLost(String(cString: amqp_error_string2(status)))
                }
                pending[nextPublishTag] = PendingConfirm(batch: batch, index: index, messageID: message.properties.messageID)
                nextPublishTag += 1
            }
        case .ack(let tag, let generation):
            guard generation == self.generation else { return }
            let status = amqp_basic_ack(connection, Self.consumeChannel, tag, 0)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError.connectionLost(String(cString: amqp_error_string2(status))) }
        case .reject(let tag, let generation, let requeue):
            guard generation == self.generation else { return }
            let status = amqp_basic_reject(connection, Self.consumeChannel, tag, requeue ? 1 : 0)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError.connectionLost(String(cString: amqp_error_string2(status))) }
        }
    }

    // MARK: Frames from the broker

    private func readAvailableFrames(shared: borrowing Mutex<AMQPConnection.SharedState>) throws {
        guard let connection else { return }
        while true {
            var frame = amqp_frame_t()
            var immediately = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &immediately)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError.connectionLost(String(cString: amqp_error_string2(status)))
            }
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { continue }  // heartbeats
            try handle(method: frame.payload.method, channel: frame.channel, shared: shared)
        }
    }

    private func handle(method: amqp_method_t, channel: UInt16, shared: borrowing Mutex<AMQPConnection.SharedState>) throws {
        guard let connection else { return }
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, nacked: false)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, nacked: true)
        case AMQP_BASIC_RETURN_METHOD:
            let info = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            var message = amqp_message_t()
            try Self.check(amqp_read_message(connection, channel, &message, 0), "read returned message")
            defer { amqp_destroy_message(&message) }
            let properties = AMQPProperties(message.properties)
            let reason = "\(info.reply_code) \(String(info.reply_text)) (exchange \(String(info.exchange)), routing key \(String(info.routing_key)))"
            if let id = properties.messageID { returned[id] = reason }
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            var message = amqp_message_t()
            try Self.check(amqp_read_message(connection, channel, &message, 0), "read delivery")
            defer { amqp_destroy_message(&message) }
            // Copied before amqp_destroy_message frees the library's buffer.
            let body = message.body.len == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: message.body.bytes, count: message.body.len))
            deliveries.yield(AMQPDelivery(
                queue: String(deliver.consumer_tag),
                exchange: String(deliver.exchange),
                routingKey: String(deliver.routing_key),
                body: body,
                properties: AMQPProperties(message.properties),
                redelivered: deliver.redelivered != 0,
                deliveryTag: deliver.delivery_tag,
                generation: generation))
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            throw AMQPError.serverClosed("channel \(channel): \(close.reply_code) \(String(close.reply_text))")
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            throw AMQPError.serverClosed("\(close.reply_code) \(String(close.reply_text))")
        case AMQP_BASIC_CANCEL_METHOD:
            throw AMQPError.serverClosed("the broker cancelled a consumer (queue deleted?)")
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let reason = String(method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee.reason)
            blocked(reason.isEmpty ? "a resource alarm" : reason, shared: shared)
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            blocked(nil, shared: shared)
        default:
            break
        }
    }

    /// The broker stopped reading this connection (`reason`, such as "low on memory"), or went on
    /// (`nil`). While it is blocked, publishes wait unconfirmed and acks unread, so nothing is
    /// lost or sent twice; the probes say so and the log says it once each way.
    private func blocked(_ reason: String?, shared: borrowing Mutex<AMQPConnection.SharedState>) {
        shared.withLock { $0.blockedReason = reason }
        blockedGauge.record(reason == nil ? 0 : 1)
        if let reason {
            guard blockedSince == nil else { return }
            blockedSince = .now
            logger.warning("RabbitMQ blocks this connection; publishes and acks wait until it lifts", metadata: [
                "reason": "\(reason)", "pendingConfirms": "\(pending.count)",
            ])
        } else if let since = blockedSince {
            blockedSince = nil
            let seconds = ((ContinuousClock.now - since) / .milliseconds(1)).rounded() / 1000
            logger.info("RabbitMQ unblocked this connection", metadata: ["blockedSeconds": "\(seconds)"])
        }
    }

    private func confirm(upTo tag: UInt64, multiple: Bool, nacked: Bool) {
        let tags: [UInt64] = multiple ? Array(lowestPendingTag...max(lowestPendingTag, tag)) : [tag]
        for tag in tags {
            guard let confirm = pending.removeValue(forKey: tag) else { continue }
            let result: Result<Void, AMQPError>
            if nacked {
                result = .failure(.nacked)
            } else if let id = confirm.messageID, let reason = returned.removeValue(forKey: id) {
                // RabbitMQ confirms an unroutable mandatory message too; its basic.return came first.
                result = .failure(.unroutable(reason))
            } else {
                result = .success(())
            }
            confirm.batch.complete(confirm.index, result)
        }
        while lowestPendingTag < nextPublishTag && pending[lowestPendingTag] == nil { lowestPendingTag += 1 }
    }

    // MARK: Errors

    private static func check(_ reply: amqp_rpc_reply_t, _ what: String) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw AMQPError.connectionFailed("\(what): \(String(cString: amqp_error_string2(reply.library_error)))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch reply.reply.id {
            case AMQP_CONNECTION_CLOSE_METHOD:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw AMQPError.serverClosed("\(what): \(close.reply_code) \(String(close.reply_text))")
            case AMQP_CHANNEL_CLOSE_METHOD:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw AMQPError.serverClosed("\(what): \(close.reply_code) \(String(close.reply_text))")
            default:
                throw AMQPError.serverClosed("\(what): unexpected method \(reply.reply.id)")
            }
        default:
            throw AMQPError.connectionFailed("\(what): no reply")
        }
    }
}

extension String {
    init(_ bytes: amqp_bytes_t) {
        if bytes.len == 0 || bytes.bytes == nil {
            self = ""
        } else {
            self = String(decoding: UnsafeRawBufferPointer(start: bytes.bytes, count: bytes.len), as: UTF8.self)
        }
    }
}
