import Foundation
import HTTPEdge
import SagaCore

/// What an operator asks of one saga (`POST /api/v1/sagas/{id}/retry|skip|compensate|abort`).
enum OperatorAction: Sendable, Equatable {
    /// A fresh attempt of the command or compensation the saga stopped at.
    case retry
    /// The step the saga stopped at counts as done; `result` is its reply's data (JSON), for a
    /// step whose data the saga needs.
    case skip(step: String, result: String?)
    /// Undo what the saga did, from the step it is at.
    case compensate
    /// End the saga FAILED, sending nothing more.
    case abort

    static let names = ["retry", "skip", "compensate", "abort"]

    var name: String {
        switch self {
        case .retry: "retry"
        case .skip: "skip"
        case .compensate: "compensate"
        case .abort: "abort"
        }
    }
}

/// An operator request's body, read field by field so that every problem names its field:
///
/// ```json
/// { "operator": "alice", "reason": "identity worker redeployed" }
/// { "operator": "alice", "step": "payment", "result": { "chargeId": "ch_1", "amountCents": 4200 } }
/// ```
/// `reason` is required to abort or compensate; `step` (and optionally `result`) only to skip.
enum OperatorRequestValidation {
    static func validate(_ body: [UInt8], action name: String) throws(ProblemDetails) -> (OperatorAction, OperatorNote) {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(body.isEmpty ? Array("{}".utf8) : body))
        } catch {
            throw .malformed("the body must be a JSON object: \(error.localizedDescription)")
        }
        guard let object = json as? [String: Any] else { throw .malformed("the body must be a JSON object") }
        var problems: [ProblemDetails.FieldProblem] = []
        func problem(_ field: String, _ text: String) { problems.append(.init(field: field, problem: text)) }

        let fields: Set<String> = name == "skip" ? ["operator", "reason", "step", "result"] : ["operator", "reason"]
        for key in object.keys.sorted() where !fields.contains(key) { problem(key, "is not a field of a \(name) request") }
        let actor = text(object, "operator", limit: 100, required: true, problem)
        let reason = text(object, "reason", limit: 500, required: name == "abort" || name == "compensate", problem)
        var action: OperatorAction?
        switch name {
        case "retry": action = .retry
        case "compensate": action = .compensate
        case "abort": action = .abort
        case "skip":
            let step = text(object, "step", limit: 100, required: true, problem)
            var result: String?
            if let value = object["result"], !(value is NSNull) {
                if value is [String: Any], let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
                    result = String(decoding: data, as: UTF8.self)
                } else {
                    problem("result", "must be a JSON object: the step's reply data")
                }
            }
            if let step { action = .skip(step: step, result: result) }
        default:
            preconditionFailure("no operator action \(name)")
        }
        guard problems.isEmpty, let action, let actor else { throw .invalid(problems, what: "The \(name) request") }
        return (action, OperatorNote(actor: actor, reason: reason))
    }

    static func text(
        _ object: [String: Any], _ field: String, limit: Int, required: Bool, _ problem: (String, String) -> Void
    ) -> String? {
        guard let value = object[field], !(value is NSNull) else {
            if required { problem(field, "is required") }
            return nil
        }
        // Not blank, and counted in Unicode code points, as JSON Schema (openapi.yaml) counts them.
        guard let text = value as? String, !text.allSatisfy(\.isWhitespace), text.unicodeScalars.count <= limit else {
            problem(field, "must be text of 1 to \(limit) characters")
            return nil
        }
        return text
    }
}

/// The saga was changed (by a reply, a deadline or another operator) since the version the
/// operator acted on: nothing was done.
struct SagaChanged: Error, Equatable {
    let expected: Int
    let current: Int
}

/// There is no saga with this id.
struct SagaNotFound: Error, Equatable {}

/// A skip's `result` is not the reply data the step's contract describes.
struct InvalidSkipResult: Error, Equatable {
    let step: String
    let problem: String
}
