import Foundation
import Synchronization

/// A thread that runs one connection's blocking work, job after job; and, as a task executor,
/// the one task dedicated to that connection (``PostgresPool/dedicatedExecutors(upTo:)``).
///
/// Not a `DispatchQueue`: on Linux a serial queue runs on a global pool as wide as the machine
/// has cores, so blocking libpq calls on a few queues would stall every other connection.
/// Measured on 2 cores: 58 sagas/s with queues, the replies piling up behind two busy threads.
///
/// `@unchecked Sendable`: `jobs` and `stopped` are only touched with `condition` locked.
final class ConnectionThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false
    /// The thread's `pthread_t`, once it runs (0 before).
    private let id = Atomic<UInt>(0)

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `job` on the thread after the jobs before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs already submitted have run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// True on this thread itself.
    var isCurrent: Bool {
        let id = id.load(ordering: .relaxed)
        return id != 0 && pthread_equal(pthread_self(), pthread_t(id)) != 0
    }

    private func loop() {
        id.store(UInt(pthread_self()), ordering: .relaxed)
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// A task that prefers this thread (`withTaskExecutorPreference`) runs on it, between the jobs
/// of its connection, and makes that connection's libpq calls where it is, without a hop.
extension ConnectionThread: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        submit { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
