import SagaStatusCLI

/// The `saga-status` executable: everything is in SagaStatusCLI, so tests can use the same code.
@main
extension SagaStatusCommand {}
