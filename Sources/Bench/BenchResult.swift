import Foundation
import Retry

/// A benchmark's figures, printed as one JSON line.
public struct BenchResult: Sendable {
    public var label: String
    public var model: LoadModel
    public var sagas: Int
    public var warmup: Int
    /// Why the run gives no figures: sagas that did not end, invariants broken, checkouts refused.
    public var problems: [String] = []
    public var completed = 0
    public var compensated = 0
    public var failed = 0
    /// The share refused at each step.
    public var failures: [String: Double] = [:]
    public var checkoutsPerSecond = 0.0
    public var sagasEndedPerSecond = 0.0
    public var acceptMilliseconds: [String: Double] = [:]
    public var sagaMilliseconds: [String: Double] = [:]
    public var errors = 0
    /// Checkouts answered 503 by admission control (open model past capacity).
    public var shed = 0
    /// Duration mode's measured time (otherwise a count of sagas was measured).
    public var duration: Duration?
    public var cpuMillisecondsPerSaga: [String: Double] = [:]
    /// Context switches per saga of each process and in all ("total"): the thread and process
    /// hops a saga costs, which the machine's load moves less than CPU time.
    public var contextSwitchesPerSaga: [String: Double] = [:]
    public var peakRSSMegabytes: [String: Double] = [:]
    public var commitsPerSaga = 0.0
    public var messagesPerSaga: Double?

    public init(label: String, model: LoadModel, sagas: Int, warmup: Int) {
        self.label = label
        self.model = model
        self.sagas = sagas
        self.warmup = warmup
    }

    /// Every saga ended and every invariant held: the figures mean something.
    public var valid: Bool { problems.isEmpty }

    public var json: String {
        func rounded(_ values: [String: Double]) -> [String: Double] { values.mapValues { ($0 * 100).rounded() / 100 } }
        var object: [String: Any] = [
            "label": label, "sagas": sagas, "warmup": warmup, "valid": valid,
            "ended": ["completed": completed, "compensated": compensated, "failed": failed],
            "failShare": failures, "errors": errors, "shed": shed,
        ]
        switch model {
        case .closed(let concurrency): object["model"] = ["closed": ["concurrency": concurrency]]
        case .open(let rate): object["model"] = ["open": ["perSecond": rate]]
        }
        if let duration { object["durationSeconds"] = duration.inSeconds }
        if valid {
            object["checkoutsPerSecond"] = (checkoutsPerSecond * 10).rounded() / 10
            object["sagasEndedPerSecond"] = (sagasEndedPerSecond * 10).rounded() / 10
            object["acceptMs"] = acceptMilliseconds
            object["sagaMs"] = sagaMilliseconds
            object["cpuMsPerSaga"] = rounded(cpuMillisecondsPerSaga)
            object["switchesPerSaga"] = contextSwitchesPerSaga.mapValues { ($0 * 10).rounded() / 10 }
            object["peakRssMB"] = rounded(peakRSSMegabytes)
            object["commitsPerSaga"] = (commitsPerSaga * 100).rounded() / 100
            if let messagesPerSaga { object["messagesPerSaga"] = (messagesPerSaga * 100).rounded() / 100 }
        } else {
            object["problems"] = Array(problems.prefix(20))
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
