// swift-tools-version:6.1
import PackageDescription

/// Settings every target shares (as Hummingbird does): explicit `any` for existentials.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "OrderSaga",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ordersaga", targets: ["ordersaga"]),
        .executable(name: "saga-status", targets: ["saga-status"]),
        .executable(name: "saga-bench", targets: ["saga-bench"]),
        .executable(name: "saga-chaos", targets: ["saga-chaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        // SHA-256 for RabbitMQ's password hashes; already built for Hummingbird's dependencies.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter's packages would double a clean build.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        // HTTP streaming for `saga-status watch`; already built for swift-otel's exporter.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        // Notification templates (no dependencies of its own: seconds to build).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // C libraries, wrapped once.
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // Safe Swift clients over them: no C type in their public API, blocking calls on own threads.
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AMQP",
            dependencies: ["CRabbitMQ", "Retry", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),

        // How every process writes its log (JSON lines, or text on a terminal) and where its
        // swift-metrics go (the Prometheus registry it serves at /metrics).
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),

        // One retry rule (backoff with jitter) and one failure-log rule, for every loop. Pure.
        .target(name: "Retry", swiftSettings: swiftSettings),

        // The pure saga core: definitions and the state machine. No I/O, no clock, no logging.
        .target(
            name: "SagaCore",
            dependencies: ["Retry", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // Everything that crosses a process boundary: command names and payloads, reply data,
        // domain events, REST views. Depends on nothing.
        .target(name: "CheckoutContracts", swiftSettings: swiftSettings),

        // Envelope, topology, outbox relay, inbox, consumers, the worker runtime.
        .target(
            name: "Messaging",
            dependencies: [
                "AMQP", "Postgres", "SagaCore", "Retry", "CheckoutContracts",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),

        // What every REST API shares at its edge: problems (RFC 9457), the caller, its rate limit
        // and scopes, reading a JSON body field by field.
        .target(
            name: "HTTPEdge",
            dependencies: [
                "CheckoutContracts", "Messaging", "Postgres", "Retry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "OrderService",
            dependencies: [
                "SagaCore", "Messaging", "AMQP", "Postgres", "CheckoutContracts", "Retry", "HTTPEdge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Setting up as the administrators: roles, databases, RabbitMQ users, rights and topology.
        .target(
            name: "Provisioning",
            dependencies: ["AMQP", "Messaging", "Postgres", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        .target(name: "SagaInvariants", dependencies: ["Postgres"], swiftSettings: swiftSettings),
        .target(name: "Workload", dependencies: ["Postgres", "SagaInvariants"], swiftSettings: swiftSettings),
        .target(
            name: "Bench",
            dependencies: [
                "Postgres", "Retry", "SagaInvariants", "Workload", .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Chaos",
            dependencies: [
                "AMQP", "CheckoutContracts", "DeadLetters", "Messaging", "Postgres", "Provisioning", "Retry", "SagaInvariants", "Workload",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(name: "DeadLetters", dependencies: ["AMQP", "Messaging", "Provisioning", "Retry", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(
            name: "CatalogWorker",
            dependencies: ["CheckoutContracts", "Messaging", "Postgres", "AMQP", "HTTPEdge", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings),
        .target(
            name: "PromotionWorker",
            dependencies: ["CheckoutContracts", "Messaging", "Postgres", "AMQP", "HTTPEdge", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings),
        .target(
            name: "IdentityWorker",
            dependencies: ["CheckoutContracts", "Messaging", "Postgres", "AMQP", "HTTPEdge", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings),
        .target(
            name: "CartWorker",
            dependencies: ["CheckoutContracts", "Messaging", "Postgres", "AMQP", "HTTPEdge", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings),
        .target(
            name: "NotificationWorker",
            dependencies: [
                "CheckoutContracts", "Messaging", "Postgres", "AMQP", "HTTPEdge", "Retry",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Workers",
            dependencies: [
                "CatalogWorker", "PromotionWorker", "IdentityWorker", "CartWorker", "NotificationWorker", "Messaging", "AMQP", "Postgres",
                "CheckoutContracts", "HTTPEdge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SagaStatusCLI",
            dependencies: [
                "CheckoutContracts", "DeadLetters", "Messaging", "Retry", "SagaCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),

        // Thin executables: they only wire.
        .executableTarget(
            name: "ordersaga",
            dependencies: [
                "OrderService", "Workers", "NotificationWorker", "Messaging", "Postgres", "AMQP", "SagaCore", "Provisioning", "Observability", "Retry",
                "CheckoutContracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "saga-status", dependencies: ["SagaStatusCLI"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "saga-chaos",
            dependencies: ["Chaos", "AMQP", "SagaInvariants", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "saga-bench",
            dependencies: ["Bench", "SagaInvariants", "Workload", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),

        // Tests. TestSupport starts nothing: it connects to the broker and database the test command started.
        .target(
            name: "TestSupport",
            dependencies: [
                "OrderService", "Workers", "Messaging", "Postgres", "AMQP", "Provisioning", "SagaInvariants", "Observability", "CheckoutContracts",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SagaCoreTests", dependencies: ["SagaCore", "Retry"], swiftSettings: swiftSettings),
        // Settings and other Messaging logic that needs no server.
        .testTarget(name: "MessagingTests", dependencies: ["Messaging", "AMQP"], swiftSettings: swiftSettings),
        // Pure pieces of the workers (the cart's event fold) and the CLI (its formatter).
        .testTarget(
            name: "ComponentTests",
            dependencies: [
                "CartWorker", "NotificationWorker", "SagaStatusCLI", "CheckoutContracts", "Chaos", "Workload", "Bench", "SagaInvariants", "Observability", "SagaCore",
                "Messaging",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The order service's engine and REST API against the in-memory store: no server, seconds.
        .testTarget(
            name: "OrderServiceTests",
            dependencies: [
                "OrderService", "Messaging", "SagaCore", "CheckoutContracts", "AMQP", "Postgres", "Workers", "TestSupport", "HTTPEdge",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "OrderService", "Messaging", "Postgres", "AMQP", "SagaCore", "SagaStatusCLI", "Workers", "CartWorker",
                "CheckoutContracts", "Provisioning", "CatalogWorker",
                .product(name: "Yams", package: "Yams"),
                "NotificationWorker",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
