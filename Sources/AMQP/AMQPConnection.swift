import Foundation
import Logging
import Retry
import Synchronization

/// A RabbitMQ connection owned by one dedicated thread.
///
/// rabbitmq-c is not thread-safe and sends heartbeats only from inside its calls, so one thread
/// owns the C connection: it `poll()`s the socket and a wake-up pipe, runs requests that tasks queue
/// (publish, ack, reject), reads deliveries and publisher confirms, and reconnects with backoff
/// after the broker went away. Tasks never block: a publish awaits its confirm on a continuation,
/// deliveries arrive on ``deliveries``.
///
/// Each (re)connect declares ``AMQPTopology``, puts the publishing channel in confirm mode and
/// starts the consumers.
public final class AMQPConnection: Sendable {
    public let configuration: AMQPConfiguration
    /// Every delivery from every consumer of this connection, across reconnects.
    public let deliveries: AsyncStream<AMQPDelivery>

    private let shared: Mutex<SharedState>
    private let wakeup: WakePipe
    private let loop: AMQPIOLoop

    struct SharedState {
        var commands: [AMQPIOLoop.Command] = []
        var generation = 0  // 0: not connected
        /// Why the broker blocks the connection (a resource alarm), while it does.
        var blockedReason: String?
        var timesConnected = 0
        var stopping = false
        var started = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var connectedWaiters: [CheckedContinuation<Void, Never>] = []
        var exited = false
    }

    public init(
        configuration: AMQPConfiguration,
        topology: AMQPTopology = AMQPTopology(),
        consumers: [AMQPConsumer] = [],
        logger: Logger
    ) {
        self.configuration = configuration
        let (stream, continuation) = AsyncStream.makeStream(of: AMQPDelivery.self)
        self.deliveries = stream
        self.shared = Mutex(SharedState())
        self.wakeup = WakePipe()
        self.loop = AMQPIOLoop(
            configuration: configuration, topology: topology, consumers: consumers,
            deliveries: continuation, logger: logger)
    }

    /// Runs the connection until the calling task is cancelled, then closes it.
    public func run() async {
        let shouldStart = shared.withLock { state -> Bool in
            if state.started { return false }
            state.started = true
            return true
        }
        if shouldStart {
            let thread = Thread { [self] in
                loop.run(shared: shared, wakeup: wakeup)
                let waiters = shared.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.exited = true
                    defer { state.exitWaiters = [] }
                    return state.exitWaiters
                }
                waiters.forEach { $0.resume() }
            }
            thread.name = "amqp-connection"
            thread.start()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = shared.withLock { state -> Bool in
                    if state.exited { return true }
                    state.exitWaiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            stop()
        }
    }

    /// Asks the connection's thread to close the connection and end.
    public func stop() {
        shared.withLock { $0.stopping = true }
        wakeup.wake()
    }

    /// Waits until the connection is up (or returns at once when it is).
    public func waitUntilConnected() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let connected = shared.withLock { state -> Bool in
                if state.generation > 0 { return true }
                state.connectedWaiters.append(continuation)
                return false
            }
            if connected { continuation.resume() }
        }
    }

    /// True while connected to the broker.
    public var isConnected: Bool { shared.withLock { $0.generation > 0 } }

    /// Whether the connection is up, down, or up but blocked by the broker.
    public var status: AMQPConnectionStatus {
        shared.withLock { state in
            if state.generation == 0 { return .down }
            if let reason = state.blockedReason { return .blocked(reason: reason) }
            return .up
        }
    }

    /// How many times it has connected: more than one means it reconnected.
    public var timesConnected: Int { shared.withLock { $0.timesConnected } }

    /// Publishes one persistent message and returns once the broker confirmed it.
    /// Throws when the broker nacked or returned it (unroutable) or the connection was lost first.
    public func publish(_ message: AMQPOutgoingMessage) async throws {
        try await publish([message])[0].get()
    }

    /// Publishes messages back to back and waits for all their confirms: one result per message,
    /// in order. A window of confirms is far faster than confirming each before the next.
    public func publish(_ messages: [AMQPOutgoingMessage]) async -> [Result<Void, AMQPError>] {
        if messages.isEmpty { return [] }
        return await withCheckedContinuation { continuation in
            let batch = AMQPIOLoop.PublishBatch(messages: messages, continuation: continuation)
            let refused: AMQPError? = shared.withLock { state in
                if state.stopping { return .shutdown }
                if state.generation == 0 { return .notConnected }
                state.commands.append(.publish(batch))
                return nil
            }
            if let refused {
                continuation.resume(returning: Array(repeating: .failure(refused), count: messages.count))
            } else {
                wakeup.wake()
            }
        }
    }

    /// Acknowledges a delivery. A delivery from before a reconnect is not acked: the broker has
    /// already put it back on its queue.
    public func ack(_ delivery: AMQPDelivery) {
        enqueue(.ack(tag: delivery.deliveryTag, generation: delivery.generation))
    }

    /// Rejects a delivery: with `requeue: false` it goes to its queue's dead-letter exchange.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) {
        enqueue(.reject(tag: delivery.deliveryTag, generation: delivery.generation, requeue: requeue))
    }

    private func enqueue(_ command: AMQPIOLoop.Command) {
        shared.withLock { $0.commands.append(command) }
        wakeup.wake()
    }
}

/// What a readiness probe says of the broker.
public enum AMQPConnectionStatus: Sendable, Equatable {
    case up
    case down
    /// Connected, but the broker reads nothing from this connection: a memory or disk alarm
    /// (`reason`, the broker's words, such as "low on memory") holds every publishing connection.
    case blocked(reason: String)

    /// Whether messages flow.
    public var isUp: Bool { self == .up }

    /// The probes' fields: `broker` is up, down or blocked, and `brokerBlocked` the broker's reason.
    public var probeFields: [String: String] {
        switch self {
        case .up: ["broker": "up"]
        case .down: ["broker": "down"]
        case .blocked(let reason): ["broker": "blocked", "brokerBlocked": reason]
        }
    }
}

/// A pipe whose write end wakes the connection's thread out of `poll()`.
final class WakePipe: Sendable {
    let readFD: Int32
    let writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe() failed: \(errno)") }
        readFD = fds[0]
        writeFD = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }
}

extension AMQPConnection {
    /// Declares `topology` over a short-lived connection of its own and closes it: a deployment
    /// step that runs before the services start. Throws the broker's own words (a refused login,
    /// an inequivalent argument) instead of retrying.
    public static func declare(_ topology: AMQPTopology, configuration: AMQPConfiguration) async throws {
        try await onOwnThread("amqp-declare") { try AMQPIOLoop.declareOnce(topology, configuration: configuration) }
    }

    /// How many messages each of `queues` holds now, as the broker counts them (the management
    /// API's figures lag by seconds), over a short-lived connection.
    public static func messageCounts(of queues: [String], configuration: AMQPConfiguration) async throws -> [Int] {
        try await onOwnThread("amqp-count") { try AMQPIOLoop.queuesOnce(queues, purge: false, configuration: configuration) }
    }

    /// Deletes every message of `queue`, over a short-lived connection; returns how many there were.
    public static func purge(_ queue: String, configuration: AMQPConfiguration) async throws -> Int {
        try await onOwnThread("amqp-purge") { try AMQPIOLoop.queuesOnce([queue], purge: true, configuration: configuration)[0] }
    }
}
