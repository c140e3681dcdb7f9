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

    public init(
        id: String, orderId: String, definition: Definition, status: String, failureReason: String?, deadlineAt: String?,
        steps: [Step], timeline: [Entry], createdAt: String, updatedAt: String, version: Int
    ) {
        self.id = id; self.orderId = orderId; self.definition = definition; self.status = status
        self.failureReason = failureReason; self.deadlineAt = deadlineAt; self.steps = steps; self.timeline = timeline
        self.createdAt = createdAt; self.updatedAt = updatedAt; self.version = version
    }
}

/// `GET /api/v1/sagas`: sagas, newest first.
public struct SagaListView: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var status: String
        public var createdAt: String
        public var updatedAt: String
        public init(id: String, orderId: String, status: String, createdAt: String, updatedAt: String) {
            self.id = id; self.orderId = orderId; self.status = status; self.createdAt = createdAt; self.updatedAt = updatedAt
        }
    }
    public var sagas: [Item]
    public init(sagas: [Item]) { self.sagas = sagas }
}
