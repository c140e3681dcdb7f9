extension Duration {
    /// The duration as seconds, fractions kept (what SQL's `make_interval(secs => …)` and JSON take).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in whole milliseconds, rounded down (`SagaTime`'s unit, `poll`'s timeout).
    public var inMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Duration {
    /// How long ago, for a table: `42s` under two minutes, then `5m`, `3h`, `2d`.
    public var age: String {
        let seconds = max(0, components.seconds)
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86_400)d"
        }
    }
}
