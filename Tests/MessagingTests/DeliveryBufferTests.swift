import Foundation
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

    /// The taker woken by a delivery takes, when it runs, the ones that arrived while it woke up;
    /// past what it will take, the next delivery wakes another taker. The takers run on an
    /// executor that runs them only when told, so "while it woke up" is exact.
    @Test(.timeLimit(.minutes(1))) func aWokenTakerTakesWhatArrivedWhileItWokeUp() async {
        let buffer = DeliveryBuffer<Int>()
        let executor = SteppedExecutor()
        let first = Task(executorPreference: executor) { await buffer.take(upTo: 4) }
        executor.step()  // the first taker waits
        let second = Task(executorPreference: executor) { await buffer.take(upTo: 4) }
        executor.step()  // the second too
        buffer.append(7)  // wakes the first; it has not run yet
        buffer.append(8)
        executor.step()
        #expect(await first.value == [7, 8])
        buffer.finish()
        executor.step()
        #expect(await second.value == nil)
    }

    @Test(.timeLimit(.minutes(1))) func deliveriesPastWhatTheWokenTakerWillTakeWakeAnother() async {
        let buffer = DeliveryBuffer<Int>()
        let executor = SteppedExecutor()
        let first = Task(executorPreference: executor) { await buffer.take(upTo: 1) }
        executor.step()
        let second = Task(executorPreference: executor) { await buffer.take(upTo: 1) }
        executor.step()
        buffer.append(7)  // wakes the first, which takes one
        buffer.append(8)  // so this wakes the second
        executor.step()
        #expect(await first.value == [7])
        #expect(await second.value == [8])
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

/// A task executor whose jobs run on a thread of its own, and only during ``step()``.
final class SteppedExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var asked = 0
    private var done = 0

    init() {
        let thread = Thread { [self] in loop() }
        thread.name = "stepped-executor"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.unlock()
    }

    /// Runs the jobs queued, and those they queue, until none is left; then returns.
    func step() {
        condition.lock()
        asked += 1
        let step = asked
        condition.broadcast()
        while done < step { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while done == asked { condition.wait() }
            while !jobs.isEmpty {
                let job = jobs.removeFirst()
                condition.unlock()
                job.runSynchronously(on: asUnownedTaskExecutor())
                condition.lock()
            }
            done += 1
            condition.broadcast()
        }
    }
}
