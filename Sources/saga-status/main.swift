import SagaStatusCLI

await SagaStatusCommand.runAsMain()
