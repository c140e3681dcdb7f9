import CheckoutContracts
import Foundation
@testable import OrderService
import SagaCore
import Testing

/// The order service's copy of the sagas it wrote last: bounded, and holding only sagas in flight.
@Suite struct SagaStateCacheTests {
    static func entry(version: Int, _ status: SagaStatus = .running) -> SagaStateCache.Entry {
        let data = CreateOrderData(
            orderId: UUID(), customerId: "cust-ada", cartId: "cart-ada-1", paymentCardId: "card-ada",
            shippingAddress: ShippingAddress(line1: "1 Loop Road", city: "Cambridge", postalCode: "CB1", country: "GB"),
            items: [OrderLine(productId: "sku-mug", quantity: 1)])
        return SagaStateCache.Entry(version: version, state: SagaState(status: status, steps: [], jitterSeed: 7), data: data)
    }

    @Test func itRemembersTheLastCopyOfEachSagaInFlight() {
        let cache = SagaStateCache()
        let (a, b) = (UUID(), UUID())
        cache.remember([a: Self.entry(version: 1), b: Self.entry(version: 3)])
        cache.remember([a: Self.entry(version: 2)])
        #expect(cache.entry(a)?.version == 2)
        #expect(cache.entry(b)?.version == 3)
        #expect(cache.entry(UUID()) == nil)
    }

    @Test(arguments: [SagaStatus.completed, .compensated, .failed])
    func aSagaThatEndedIsForgotten(_ status: SagaStatus) {
        let cache = SagaStateCache()
        let id = UUID()
        cache.remember([id: Self.entry(version: 4)])
        cache.remember([id: Self.entry(version: 5, status)])
        #expect(cache.entry(id) == nil)
        #expect(cache.count == 0)
    }

    @Test func itHoldsAtMostItsCapacityAndKeepsTheNewest() {
        let cache = SagaStateCache(capacity: 100)
        let ids = (0..<1_000).map { _ in UUID() }
        for (version, id) in ids.enumerated() { cache.remember([id: Self.entry(version: version)]) }
        #expect(cache.count <= 100)
        #expect(cache.count >= 50)
        #expect(cache.entry(ids.last!)?.version == 999)
        #expect(cache.entry(ids.first!) == nil)
        // A saga remembered again moves to the newer generation and outlives the older one.
        let kept = ids[960]
        cache.remember([kept: Self.entry(version: 2_000)])
        for _ in 0..<60 { cache.remember([UUID(): Self.entry(version: 0)]) }
        #expect(cache.entry(kept)?.version == 2_000)
    }
}
