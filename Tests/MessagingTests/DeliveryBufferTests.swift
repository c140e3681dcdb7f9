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

    @Test func aWaitingTakerIsWokenAndTakesWhatArrivedBeforeItRan() async {
        let buffer = DeliveryBuffer<Int>()
        async let taken = buffer.take(upTo: 32)
        try? await Task.sleep(for: .milliseconds(50))  // the taker is waiting by now
        buffer.append(7)
        buffer.append(8)
        let first = await taken
        #expect(first?.first == 7)  // 8 too, if it arrived before the taker ran
        let rest = first?.count == 1 ? await buffer.take(upTo: 32) : []
        #expect((first ?? []) + (rest ?? []) == [7, 8])
    }

    /// Many takers and a stream of deliveries from elsewhere: each delivery is taken once, each
    /// batch within its bound and in arrival order, and nothing is left behind.
    @Test(.timeLimit(.minutes(1))) func manyTakersTakeEveryDeliveryOnceWithinTheirBound() async {
        let buffer = DeliveryBuffer<Int>()
        let count = 20_000
        let batches = await withTaskGroup(of: [[Int]].self) { group in
            for taker in 0..<8 {
                group.addTask {
                    var batches: [[Int]] = []
                    while let batch = await buffer.take(upTo: 5, preferred: taker < 3) {
                        batches.append(batch)
                        if taker == 0 { await Task.yield() }  // one slow taker
                    }
                    return batches
                }
            }
            group.addTask {
                for number in 0..<count {
                    buffer.append(number)
                    if number % 97 == 0 { await Task.yield() }
                }
                while await buffer.pending > 0 { await Task.yield() }
                buffer.finish()
                return []
            }
            var all: [[Int]] = []
            for await batches in group { all += batches }
            return all
        }
        #expect(batches.allSatisfy { !$0.isEmpty && $0.count <= 5 && $0 == $0.sorted() })
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<count))
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
