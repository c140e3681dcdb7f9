/// `GET /api/v1/sagas/{id}`: a saga with its steps and timeline, as the order service writes it
/// and `saga-status` reads it.
public struct SagaView: Codable, Sendable, Equatable {
    public struct Definition: Codable, Sendable, Equatable {
        public var name: String
        public var version: Int
        public init(name: String, version: Int) { self.name = name; self.version = version }
    }
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var attempt: Int
        public var compensationAttempt: Int
        public init(name: String, status: String, attempt: Int, compensationAttempt: Int) {
            self.name = name; self.status = status; self.attempt = attempt; self.compensationAttempt = compensationAttempt
        }
    }
    public struct Entry: Codable, Sendable, Equatable {
        public var at: String
        public var event: String
        public var step: String?
        public var attempt: Int?
        public var detail: String?
        /// Who gave the operator input that wrote this line; absent for the saga's own steps.
        public var actor: String?
        public init(at: String, event: String, step: String?, attempt: Int?, detail: String?, actor: String? = nil) {
            self.at = at; self.event = event; self.step = step; self.attempt = attempt; self.detail = detail; self.actor = actor
        }
    }
    public var id: String
    public var orderId: String
    public var definition: Definition
    public var status: String
    public var failureReason: String?
    public var deadlineAt: String?
    public var steps: [Step]
    public var timeline: [Entry]
    public var createdAt: String
    public var updatedAt: String
    /// Raised by every change: send it back as `If-Match` with an operator's action, to act only
    /// on the saga as you saw it (the same number is the response's `ETag`).
    public var version: Int
    /// The saga's data: what it started with and what each step's reply added (for create_order,
    /// the checkout, the catalog's prices, the discount, the charge).
    public var data: JSONValue?

    public init(
        id: String, orderId: String, definition: Definition, status: String, failureReason: String?, deadlineAt: String?,
        steps: [Step], timeline: [Entry], createdAt: String, updatedAt: String, version: Int, data: JSONValue? = nil
    ) {
        self.data = data
        self.id = id; self.orderId = orderId; self.definition = definition; self.status = status
        self.failureReason = failureReason; self.deadlineAt = deadlineAt; self.steps = steps; self.timeline = timeline
        self.createdAt = createdAt; self.updatedAt = updatedAt; self.version = version
    }
}

/// `GET /api/v1/sagas`: sagas, newest first (or longest idle first), a page at a time.
public struct SagaListView: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        /// The definition's name (`create_order`).
        public var type: String?
        public var status: String
        /// The step a RUNNING or COMPENSATING saga waits on; `nil` for one that ended.
        public var step: String?
        public var createdAt: String
        public var updatedAt: String
        public init(id: String, orderId: String, type: String? = nil, status: String, step: String? = nil, createdAt: String, updatedAt: String) {
            self.id = id; self.orderId = orderId; self.type = type; self.status = status; self.step = step
            self.createdAt = createdAt; self.updatedAt = updatedAt
        }
    }
    public var sagas: [Item]
    /// Pass as `cursor` for the next page; absent on the last.
    public var nextCursor: String?
    public init(sagas: [Item], nextCursor: String? = nil) { self.sagas = sagas; self.nextCursor = nextCursor }
}

/// `GET /api/v1/sagas/stats?window=1h`: the sagas started in the window, by status now; those in
/// flight by the step and phase they wait on; and how long the ones that ended took.
public struct SagaStatsView: Codable, Sendable, Equatable {
    public struct Waiting: Codable, Sendable, Equatable {
        public var step: String
        public var phase: String
        public var count: Int
        public init(step: String, phase: String, count: Int) {
            self.step = step; self.phase = phase; self.count = count
        }
    }

    public struct Ended: Codable, Sendable, Equatable {
        public var count: Int
        /// From creation to the final status, in milliseconds (0 with none ended).
        public var p50Ms: Double
        public var p99Ms: Double
        public init(count: Int, p50Ms: Double, p99Ms: Double) {
            self.count = count; self.p50Ms = p50Ms; self.p99Ms = p99Ms
        }
    }

    /// The window, as asked (`1h`).
    public var window: String
    public var started: Int
    /// Every status, 0 included, of the sagas started in the window.
    public var byStatus: [String: Int]
    /// RUNNING and COMPENSATING sagas started in the window, most first.
    public var waiting: [Waiting]
    public var ended: Ended

    public init(window: String, started: Int, byStatus: [String: Int], waiting: [Waiting], ended: Ended) {
        self.window = window; self.started = started; self.byStatus = byStatus; self.waiting = waiting; self.ended = ended
    }
}

extension SagaStatsView {
    /// Most waiting first, then by step and phase, so equal counts list the same way every time.
    public static func sortedWaiting(_ waiting: [Waiting]) -> [Waiting] {
        waiting.sorted { ($1.count, $0.step, $0.phase) < ($0.count, $1.step, $1.phase) }
    }
}
