import Foundation

/// A thread that runs one connection's blocking work, job after job.
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

    private func loop() {
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
