import Yams

/// A saga definition that cannot be used, with the file, line and problem.
public struct SagaDefinitionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let line: Int
    public let problem: String

    public init(file: String, line: Int, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(file):\(line): \(problem)" }
}

extension SagaDefinition {
    /// Parses and validates a definition. `file` only names the source in errors.
    ///
    /// ```yaml
    /// name: create_order
    /// version: 1
    /// steps:
    ///   - name: reserve-inventory
    ///     participant: catalog
    ///     command: catalog.reserve_inventory
    ///     compensation: catalog.release_inventory   # or: none
    ///     timeout: 5s                                # ms, s or m; from the broker's confirm
    ///     send_timeout: 10m                          # how long the command may wait for the broker
    ///     retry: { attempts: 3, backoff: 200ms, max_delay: 2s, jitter: 0.2 }
    ///     compensation_retry: { attempts: 10, backoff: 500ms, max_delay: 10s, jitter: 0.2 }
    ///     skippable: false
    /// ```
    public init(yaml: String, file: String) throws(SagaDefinitionError) {
        let reader = DefinitionReader(file: file)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { throw reader.error(line: 1, "the file is empty") }
            root = node
        } catch let error as SagaDefinitionError {
            throw error
        } catch let error as YamlError {
            throw reader.error(yamlError: error)
        } catch {
            throw reader.error(line: 1, "not valid YAML: \(error)")
        }
        self = try reader.definition(root)
    }
}

/// Reads the YAML tree, keeping each node's line for error messages.
private struct DefinitionReader {
    let file: String

    static let stepKeys: Set<String> = [
        "name", "participant", "command", "compensation", "timeout", "send_timeout", "retry", "compensation_retry", "skippable",
    ]
    static let retryKeys: Set<String> = ["attempts", "backoff", "max_delay", "jitter"]

    func error(line: Int, _ problem: String) -> SagaDefinitionError {
        SagaDefinitionError(file: file, line: line, problem: problem)
    }

    func error(at node: Node, _ problem: String) -> SagaDefinitionError {
        error(line: line(of: node), problem)
    }

    func error(yamlError: YamlError) -> SagaDefinitionError {
        switch yamlError {
        case .scanner(let context, let problem, let mark, _):
            return error(line: mark.line, "not valid YAML: \(problem)\(context.map { " \($0.text)" } ?? "")")
        case .parser(let context, let problem, let mark, _):
            return error(line: mark.line, "not valid YAML: \(problem)\(context.map { " \($0.text)" } ?? "")")
        default:
            return error(line: 1, "not valid YAML: \(yamlError)")
        }
    }

    func line(of node: Node) -> Int { node.mark?.line ?? 1 }

    func definition(_ root: Node) throws(SagaDefinitionError) -> SagaDefinition {
        let top = try mapping(root, "the definition", allowed: ["name", "version", "steps"])
        let name = try string(top, "name", in: root)
        let version = try integer(top, "version", in: root, minimum: 1)
        guard let stepsNode = top["steps"] else { throw error(at: root, "missing \"steps\"") }
        guard let stepNodes = stepsNode.sequence, !stepNodes.isEmpty else {
            throw error(at: stepsNode, "\"steps\" must be a non-empty list")
        }
        var steps: [StepDefinition] = []
        var seen: [String: Int] = [:]
        for node in stepNodes {
            let step = try self.step(node)
            if let firstLine = seen[step.name] {
                throw error(at: node, "step \"\(step.name)\" is defined twice (first at line \(firstLine))")
            }
            seen[step.name] = line(of: node)
            steps.append(step)
        }
        return SagaDefinition(name: name, version: version, steps: steps)
    }

    func step(_ node: Node) throws(SagaDefinitionError) -> StepDefinition {
        let fields = try mapping(node, "a step", allowed: Self.stepKeys)
        let name = try string(fields, "name", in: node)
        let participant = try string(fields, "participant", in: node)
        let command = try string(fields, "command", in: node)
        guard command.hasPrefix(participant + ".") else {
            throw error(at: fields["command"]!, "command \"\(command)\" of step \"\(name)\" must start with its participant \"\(participant).\"")
        }
        let compensationText = try string(fields, "compensation", in: node)
        let compensation = compensationText == "none" ? nil : compensationText
        if let compensation, !compensation.hasPrefix(participant + ".") {
            throw error(at: fields["compensation"]!, "compensation \"\(compensation)\" of step \"\(name)\" must start with \"\(participant).\" or be none")
        }
        guard let timeoutNode = fields["timeout"] else { throw error(at: node, "step \"\(name)\": missing \"timeout\"") }
        let timeout = try duration(timeoutNode, "timeout")
        guard timeout > 0 else { throw error(at: timeoutNode, "step \"\(name)\": timeout must be more than 0") }
        var sendTimeout = StepDefinition.defaultSendTimeoutMilliseconds
        if let sendTimeoutNode = fields["send_timeout"] {
            sendTimeout = try duration(sendTimeoutNode, "send_timeout")
            guard sendTimeout > 0 else { throw error(at: sendTimeoutNode, "step \"\(name)\": send_timeout must be more than 0") }
        }
        guard let retryNode = fields["retry"] else { throw error(at: node, "step \"\(name)\": missing \"retry\"") }
        let retry = try retryPolicy(retryNode)
        let compensationRetry = try fields["compensation_retry"].map { node throws(SagaDefinitionError) in try retryPolicy(node) }
        var skippable = false
        if let skippableNode = fields["skippable"] {
            guard let value = skippableNode.bool else { throw error(at: skippableNode, "\"skippable\" must be true or false") }
            skippable = value
        }
        return StepDefinition(
            name: name, participant: participant, command: command, compensation: compensation,
            timeoutMilliseconds: timeout, retry: retry, compensationRetry: compensationRetry, skippable: skippable,
            sendTimeoutMilliseconds: sendTimeout)
    }

    func retryPolicy(_ node: Node) throws(SagaDefinitionError) -> RetryPolicy {
        let fields = try mapping(node, "a retry policy", allowed: Self.retryKeys)
        let attempts = try integer(fields, "attempts", in: node, minimum: 1)
        guard let backoffNode = fields["backoff"] else { throw error(at: node, "retry: missing \"backoff\"") }
        guard let maxDelayNode = fields["max_delay"] else { throw error(at: node, "retry: missing \"max_delay\"") }
        let backoff = try duration(backoffNode, "backoff")
        let maxDelay = try duration(maxDelayNode, "max_delay")
        guard maxDelay >= backoff else { throw error(at: maxDelayNode, "max_delay must be at least backoff") }
        var jitter = 0.0
        if let jitterNode = fields["jitter"] {
            guard let value = jitterNode.float, (0...1).contains(value) else {
                throw error(at: jitterNode, "\"jitter\" must be a number from 0 to 1")
            }
            jitter = value
        }
        return RetryPolicy(attempts: attempts, backoffMilliseconds: backoff, maxDelayMilliseconds: maxDelay, jitter: jitter)
    }

    // MARK: Scalars

    func mapping(_ node: Node, _ what: String, allowed: Set<String>) throws(SagaDefinitionError) -> [String: Node] {
        guard let mapping = node.mapping else { throw error(at: node, "\(what) must be a mapping") }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error(at: key, "keys must be strings") }
            guard allowed.contains(name) else {
                throw error(at: key, "unknown key \"\(name)\" in \(what) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            fields[name] = value
        }
        return fields
    }

    func string(_ fields: [String: Node], _ key: String, in parent: Node) throws(SagaDefinitionError) -> String {
        guard let node = fields[key] else { throw error(at: parent, "missing \"\(key)\"") }
        guard let value = node.string, node.scalar != nil, !value.allSatisfy(\.isWhitespace) else {
            throw error(at: node, "\"\(key)\" must be a non-empty string")
        }
        return value
    }

    func integer(_ fields: [String: Node], _ key: String, in parent: Node, minimum: Int) throws(SagaDefinitionError) -> Int {
        guard let node = fields[key] else { throw error(at: parent, "missing \"\(key)\"") }
        guard let value = node.int, value >= minimum else {
            throw error(at: node, "\"\(key)\" must be a whole number of at least \(minimum)")
        }
        return value
    }

    /// `250ms`, `5s`, `2m` (or a bare number of milliseconds) as milliseconds.
    func duration(_ node: Node, _ key: String) throws(SagaDefinitionError) -> Int {
        guard let text = node.string else { throw error(at: node, "\"\(key)\" must be a duration like 250ms, 5s or 2m") }
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Int(text.dropLast(suffix.count)), value >= 0 { return value * factor }
        }
        if let value = Int(text), value >= 0 { return value }
        throw error(at: node, "\"\(key)\": \"\(text)\" is not a duration like 250ms, 5s or 2m")
    }
}
