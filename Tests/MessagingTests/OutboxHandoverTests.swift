import Foundation
import Testing

@testable import Messaging

/// What the relay keeps of the messages handed over after their commits (no I/O).
@Suite struct OutboxHandoverTests {
    static func messages(_ ids: ClosedRange<Int>) -> [OutboxMessage] {
        ids.map { OutboxMessage(messageID: "m\($0)", exchange: "x", routingKey: "k", type: "t", correlationID: nil, body: "{}") }
    }

    @Test func batchesAreTakenInOrderAndThePollComesFirstThenByTheClock() async throws {
        let handover = OutboxRelay.Handover(pollInterval: .seconds(60), capacity: 100)
        handover.add(Self.messages(1...5))
        let first = handover.take(3)
        #expect(first.messages.map(\.messageID) == ["m1", "m2", "m3"])
        #expect(first.more && first.poll)  // the first round always polls
        handover.polled()
        let second = handover.take(3)
        #expect(second.messages.map(\.messageID) == ["m4", "m5"])
        #expect(!second.more && !second.poll)  // polled a moment ago
        // Held until they are marked: a poll must not take their rows.
        #expect(Set(handover.inMemory) == Set((1...5).map { "m\($0)" }))
        handover.finished(first.messages + second.messages)
        #expect(handover.inMemory.isEmpty)

        let often = OutboxRelay.Handover(pollInterval: .milliseconds(20), capacity: 100)
        #expect(often.take(1).poll)
        often.polled()
        #expect(!often.take(1).poll)
        try await Task.sleep(for: .milliseconds(30))
        #expect(often.take(1).poll)  // the interval passed
    }

    @Test func aPollThatFailedIsDueAgainAtTheNextRound() {
        let handover = OutboxRelay.Handover(pollInterval: .seconds(60), capacity: 100)
        #expect(handover.take(1).poll)
        // The poll failed (the database is down): not marked, so the next round polls (and
        // fails) again, instead of a round that does nothing passing for the outage's end.
        #expect(handover.take(1).poll)
        #expect(handover.take(1).poll)
        handover.polled()
        #expect(!handover.take(1).poll)
    }

    @Test func pastItsCapacityTheRestIsLeftToAPoll() {
        let handover = OutboxRelay.Handover(pollInterval: .seconds(60), capacity: 4)
        _ = handover.take(1)  // the first poll
        handover.polled()
        handover.add(Self.messages(1...3))
        handover.add(Self.messages(4...6))
        #expect(Set(handover.inMemory) == ["m1", "m2", "m3", "m4"])
        let round = handover.take(10)
        #expect(round.messages.map(\.messageID) == ["m1", "m2", "m3", "m4"])
        // m5 and m6 were not kept, so a poll may take their rows; not at once (they are younger
        // than the poll's grace) but by the clock.
        #expect(!round.poll)
    }
}
