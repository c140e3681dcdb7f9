import ArgumentParser
import CheckoutContracts
import Foundation

/// Who is acting and why, for every operator command; both go on the saga's history line.
struct OperatorOptions: ParsableArguments {
    @Option(name: .customLong("operator"), help: "Who is acting, for the saga's history (default: $ORDERSAGA_OPERATOR, else $USER).")
    var actor: String?

    @Option(help: "Act only if the saga is still at this version (as `show` printed it; default: the version read just before acting). Someone, or a reply, changing it first stops you with exit status 4.")
    var ifVersion: Int?

    var name: String {
        let environment = ProcessInfo.processInfo.environment
        return actor ?? environment["ORDERSAGA_OPERATOR"] ?? environment["USER"] ?? "unknown"
    }
}

/// The body every operator action posts: `result` is the JSON object given on the command line,
/// passed on as it is.
struct OperatorRequest {
    var `operator`: String
    var reason: String?
    var step: String?
    var result: String?

    func json() throws -> Data {
        var object: [String: Any] = ["operator": self.operator]
        if let reason { object["reason"] = reason }
        if let step { object["step"] = step }
        if let result { object["result"] = try JSONSerialization.jsonObject(with: Data(result.utf8)) }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}

/// Posts one operator action and prints the saga as it is after.
private func act(
    _ action: String, saga: String, request: OperatorRequest, options: OperatorOptions, api: APIOptions
) async throws {
    // Acts on the saga as it was read: of two operators acting at once, one wins and the other is told.
    var version = options.ifVersion
    if version == nil {
        version = try JSONDecoder().decode(SagaView.self, from: try await api.get("/api/v1/sagas/\(saga.lowercased())")).version
    }
    let data = try await api.post("/api/v1/sagas/\(saga.lowercased())/\(action)", body: try request.json(), ifVersion: version)
    if api.json {
        print(String(decoding: data, as: UTF8.self))
    } else {
        print(SagaStatusFormatter.render(try JSONDecoder().decode(SagaView.self, from: data), palette: .standardOutput))
    }
}

private func checkSagaID(_ text: String) throws {
    guard UUID(uuidString: text) != nil else { throw ValidationError("\"\(text)\" is not a saga id (a UUID)") }
}

extension SagaStatusCommand {
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a FAILED or stuck saga with a fresh attempt of the step or compensation it stopped at.",
            discussion: """
                A parked saga gets one fresh attempt; if that fails too, it parks again.
                Example: saga-status retry 6f1c2d4e-… --reason "identity worker redeployed"
                """)

        @Argument(help: "The saga's id.") var sagaID: String
        @Option(help: "Why, for the saga's history.") var reason: String?
        @OptionGroup var options: OperatorOptions
        @OptionGroup var api: APIOptions

        func validate() throws { try checkSagaID(sagaID) }

        func run() async throws {
            try await reporting {
                try await act("retry", saga: sagaID, request: OperatorRequest(operator: options.name, reason: reason), options: options, api: api)
            }
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark the step a saga stopped at as done, with the data its reply would have carried.",
            discussion: """
                For a compensation, marks it undone by hand. The result is checked against the step's reply \
                contract: reserve-inventory, validate-coupon and payment need one.
                Example: saga-status skip 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f --step payment \\
                           --result '{"chargeId": "ch_manual_1", "amountCents": 4200}' \\
                           --reason "charged by phone"
                """)

        @Argument(help: "The saga's id.") var sagaID: String
        @Option(help: "The step the saga stopped at.") var step: String
        @Option(help: "The step's reply data, as a JSON object.") var result: String?
        @Option(help: "Why, for the saga's history.") var reason: String?
        @OptionGroup var options: OperatorOptions
        @OptionGroup var api: APIOptions

        func validate() throws {
            try checkSagaID(sagaID)
            if let result, (try? JSONSerialization.jsonObject(with: Data(result.utf8))) as? [String: Any] == nil {
                throw ValidationError("--result must be a JSON object, such as '{\"chargeId\": \"ch_1\", \"amountCents\": 4200}'")
            }
        }

        func run() async throws {
            try await reporting {
                let request = OperatorRequest(operator: options.name, reason: reason, step: step, result: result)
                try await act("skip", saga: sagaID, request: request, options: options, api: api)
            }
        }
    }

    struct Compensate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo what a running (or parked after its pivot) saga did, newest step first.",
            discussion: "Example: saga-status compensate 6f1c2d4e-3b1a-4c5d-9e8f-0a1b2c3d4e5f --reason \"fraud suspected\"")

        @Argument(help: "The saga's id.") var sagaID: String
        @Option(help: "Why, for the saga's history (required).") var reason: String
        @OptionGroup var options: OperatorOptions
        @OptionGroup var api: APIOptions

        func validate() throws { try checkSagaID(sagaID) }

        func run() async throws {
            try await reporting {
                try await act("compensate", saga: sagaID, request: OperatorRequest(operator: options.name, reason: reason), options: options, api: api)
            }
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a running or compensating saga as FAILED without sending anything more.",
            discussion: """
                The step it stopped at is left for you to settle by hand; `retry` resumes it later.
                Example: saga-status abort 6f1c2d4e-… --reason "customer called to cancel"
                """)

        @Argument(help: "The saga's id.") var sagaID: String
        @Option(help: "Why, for the saga's history (required).") var reason: String
        @OptionGroup var options: OperatorOptions
        @OptionGroup var api: APIOptions

        func validate() throws { try checkSagaID(sagaID) }

        func run() async throws {
            try await reporting {
                try await act("abort", saga: sagaID, request: OperatorRequest(operator: options.name, reason: reason), options: options, api: api)
            }
        }
    }
}
