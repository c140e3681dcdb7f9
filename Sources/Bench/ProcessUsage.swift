import Foundation

/// CPU time, context switches and peak memory of a process and everything it started, read from
/// `/proc`: the benchmark's measure of what a saga costs each process (PostgreSQL's backends are
/// children of its postmaster, so one pid stands for the whole server).
public struct ProcessUsage: Sendable, Equatable {
    /// CPU seconds (user + system) of the process, its live descendants, and the descendants it
    /// has reaped.
    public var cpuSeconds: Double
    /// The largest peak resident memory (VmHWM) in the tree, in megabytes: the service itself,
    /// RabbitMQ's `beam.smp` under its start script, PostgreSQL's largest process.
    public var peakRSSMegabytes: Double
    /// Times a thread of the tree gave up its core, waiting (voluntary) or preempted: each hop of
    /// a message between threads and processes costs a few. Threads that have ended are not
    /// counted, so it is compared between reads of long-lived processes (services, servers).
    public var contextSwitches: Int = 0

    /// Reads it for `pid`; `nil` when the process is gone.
    public static func read(pid: Int32) -> ProcessUsage? {
        guard let own = Stat(pid: pid) else { return nil }
        var ticks = own.utime + own.stime + own.cutime + own.cstime
        let children = childrenByParent()
        var peak = peakRSS(pid: pid)
        var switches = contextSwitches(pid: pid)
        var pending = children[pid] ?? []
        while let child = pending.popLast() {
            if let stat = Stat(pid: child) { ticks += stat.utime + stat.stime }
            peak = max(peak, peakRSS(pid: child))
            switches += contextSwitches(pid: child)
            pending += children[child] ?? []
        }
        return ProcessUsage(
            cpuSeconds: Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))), peakRSSMegabytes: peak, contextSwitches: switches)
    }

    struct Stat {
        var parent: Int32
        var utime, stime, cutime, cstime: Int

        init?(pid: Int32) {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm) ": state ppid pgrp … utime(14) stime(15) cutime(16) cstime(17), 1-based.
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 15, let parent = Int32(fields[1]),
                  let utime = Int(fields[11]), let stime = Int(fields[12]), let cutime = Int(fields[13]), let cstime = Int(fields[14])
            else { return nil }
            self.parent = parent
            self.utime = utime
            self.stime = stime
            self.cutime = cutime
            self.cstime = cstime
        }
    }

    static func childrenByParent() -> [Int32: [Int32]] {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = Stat(pid: pid) else { continue }
            children[stat.parent, default: []].append(pid)
        }
        return children
    }

    static func peakRSS(pid: Int32) -> Double {
        (status(of: "/proc/\(pid)", ["VmHWM:"]) ?? 0) / 1024
    }

    /// The context switches of every live thread of `pid`.
    static func contextSwitches(pid: Int32) -> Int {
        let tasks = "/proc/\(pid)/task"
        return ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).reduce(0) { total, thread in
            total + Int(status(of: "\(tasks)/\(thread)", ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"]) ?? 0)
        }
    }

    /// The sum of the numbers on the lines of `folder/status` that start with one of `keys`
    /// (`VmHWM:  1234 kB`); `nil` when it cannot be read.
    static func status(of folder: String, _ keys: [String]) -> Double? {
        guard let text = try? String(contentsOfFile: "\(folder)/status", encoding: .utf8) else { return nil }
        var sum = 0.0
        for line in text.split(separator: "\n") where keys.contains(where: { line.hasPrefix($0) }) {
            sum += line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) }.first ?? 0
        }
        return sum
    }
}
