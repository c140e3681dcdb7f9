@testable import Messaging
import Testing

/// Group commit's buffer: a handler that comes back takes what arrived meanwhile, up to its bound,
/// in arrival order; one that waits gets the next delivery at once; finishing releases them all.
@Suite struct DeliveryBufferTests {
    @Test func aTakerGetsWhatWaitedUpToItsBoundInArrivalOrder() async {
        let buffer = DeliveryBuffer<Int>()
        for number in 1...5 { buffer.append(number) }
        #expect(await buffer.take(upTo: 3) == [1, 2, 3])
        #expect(await buffer.take(upTo: 3) == [4, 5])
    }

    @Test func aWaitingTakerGetsTheNextDeliveryAlone() async {
        let buffer = DeliveryBuffer<Int>()
        async let taken = buffer.take(upTo: 32)
        try? await Task.sleep(for: .milliseconds(50))  // the taker is waiting by now
        buffer.append(7)
        buffer.append(8)
        #expect(await taken == [7])
        #expect(await buffer.take(upTo: 32) == [8])
    }

    /// A handler on a connection's thread of its own comes first: its statements need no hop.
    @Test func aPreferredTakerGetsTheNextDeliveryBeforeOnesThatWaitedLonger() async {
        let buffer = DeliveryBuffer<Int>()
        async let plain = buffer.take(upTo: 4)
        try? await Task.sleep(for: .milliseconds(50))
        async let preferred = buffer.take(upTo: 4, preferred: true)
        try? await Task.sleep(for: .milliseconds(50))
        buffer.append(1)
        #expect(await preferred == [1])
        buffer.append(2)
        #expect(await plain == [2])
    }

    @Test func finishingReleasesWaitingTakersAndDropsWhatWasNotTaken() async {
        let buffer = DeliveryBuffer<Int>()
        async let first = buffer.take(upTo: 4)
        async let second = buffer.take(upTo: 4)
        try? await Task.sleep(for: .milliseconds(50))
        buffer.finish()
        #expect(await first == nil)
        #expect(await second == nil)
        buffer.append(1)  // after the end: left for the broker to deliver again
        #expect(await buffer.take(upTo: 4) == nil)
    }
}
