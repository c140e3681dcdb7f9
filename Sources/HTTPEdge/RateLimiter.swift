import Retry
import Synchronization

/// A token bucket per caller: `perSecond` requests a second, in bursts of as many. In memory, so
/// each instance of the service counts its own share of a caller's requests.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var capacity: Double
        var at: ContinuousClock.Instant

        /// The bucket refilled to `now`.
        func refilled(to now: ContinuousClock.Instant) -> Bucket {
            Bucket(tokens: min(capacity, tokens + (now - at).inSeconds * capacity), capacity: capacity, at: now)
        }
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// Past this many callers, buckets that have filled up again are dropped (they equal a new one).
    private let pruneAbove: Int

    public init(pruneAbove: Int = 10_000) {
        self.pruneAbove = pruneAbove
    }

    /// Takes a token from `caller`'s bucket: `nil` when there was one, else the whole seconds until
    /// there will be (what `Retry-After` says).
    public func take(_ caller: String, perSecond: Int, now: ContinuousClock.Instant = .now) -> Int? {
        let capacity = Double(perSecond)
        return buckets.withLock { buckets in
            var bucket = (buckets[caller] ?? Bucket(tokens: capacity, capacity: capacity, at: now)).refilled(to: now)
            bucket.capacity = capacity  // the caller's limit may have changed since
            bucket.tokens = min(bucket.tokens, capacity)
            defer {
                buckets[caller] = bucket
                if buckets.count > pruneAbove { buckets = buckets.filter { $0.value.refilled(to: now).tokens < $0.value.capacity } }
            }
            guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / capacity).rounded(.up))) }
            bucket.tokens -= 1
            return nil
        }
    }
}
