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
