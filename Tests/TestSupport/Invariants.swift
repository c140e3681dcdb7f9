import Foundation
import Postgres
import SagaInvariants

/// DESIGN.md's invariants, checked across the six databases of a ``TestSystem``
/// (``SagaInvariants``). Returns one line per violation; none means they all hold.
public enum Invariants {
    /// `initialStock`: each product's stock before any checkout.
    public static func violations(in system: TestSystem, initialStock: [String: Int]) async throws -> [String] {
        try await SagaInvariants.violations(in: system.databases, initialStock: initialStock)
    }

    public static func stock(in system: TestSystem) async throws -> [String: Int] {
        try await SagaInvariants.stock(in: system.databases)
    }
}

extension TestSystem {
    /// The six databases, for ``SagaInvariants``.
    public var databases: SystemDatabases {
        SystemDatabases(
            order: pool("order"), catalog: pool("catalog"), promotion: pool("promotion"),
            identity: pool("identity"), cart: pool("cart"), notification: pool("notification"))
    }
}
