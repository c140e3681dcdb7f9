extension Duration {
    /// How long `/health` and `/ready` wait for the database to answer before they say it is
    /// down: under the 1 s an orchestrator's probe waits by default (Kubernetes'
    /// `timeoutSeconds`), so a database that takes connections and never answers fails
    /// readiness with a body that says why, and never liveness.
    public static let probeLimit = Duration.milliseconds(800)
}
