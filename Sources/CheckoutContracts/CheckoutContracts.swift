/// Everything that crosses a process boundary in the checkout, declared once: each participant's
/// command names and payloads (what the order service sends, what the worker decodes), the data of
/// their replies, the domain events, and the REST views the CLI reads. The order service, the
/// workers, `saga-status` and the tests import this module; nothing redeclares a payload.
///
/// A participant's contract also says which commands it handles, so the order service can check
/// at start-up that every step and compensation of `sagas/*.yaml` has someone to run it.
public enum CheckoutContracts {
    /// Every participant by name (also its queue, `<name>.commands`, and routing key), with the
    /// commands it handles.
    public static let participants: [String: Set<String>] = [
        CatalogContract.participant: CatalogContract.commands,
        PromotionContract.participant: PromotionContract.commands,
        IdentityContract.participant: IdentityContract.commands,
        CartContract.participant: CartContract.commands,
        NotificationContract.participant: NotificationContract.commands,
    ]
}

/// The body of every compensation: the order whose effect is undone. A participant keys its one
/// effect per saga by the saga id, which travels as the message's `correlation_id`; a compensation
/// sent by another saga (cancel_order undoing what the order's create_order saga did) names that
/// saga in `sagaId`, and its reply still goes to the saga that sent it.
public struct Compensate: Codable, Sendable, Equatable {
    public var orderId: String
    /// The saga whose effect is undone, when it is not the one sending the compensation.
    public var sagaId: String?
    public init(orderId: String, sagaId: String? = nil) { self.orderId = orderId; self.sagaId = sagaId }
}
