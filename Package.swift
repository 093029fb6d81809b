// swift-tools-version:6.1
import PackageDescription

/// Settings every Spool target shares: Swift 6 language mode plus the upcoming
/// features we want enforced now rather than discovered later.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Spool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spool", targets: ["spool"]),
        .executable(name: "spool-synthetic-worker", targets: ["spool-synthetic-worker"]),
        .executable(name: "spool-bench", targets: ["spool-bench"]),
        .library(name: "SpoolCore", targets: ["SpoolCore"]),
        .library(name: "SpoolSQLite", targets: ["SpoolSQLite"]),
        .library(name: "SpoolPostgres", targets: ["SpoolPostgres"]),
        .library(name: "SpoolMedia", targets: ["SpoolMedia"]),
        .library(name: "SpoolGenerators", targets: ["SpoolGenerators"]),
        .library(name: "SpoolScheduler", targets: ["SpoolScheduler"]),
        .library(name: "SpoolServer", targets: ["SpoolServer"]),
        .library(name: "SpoolWebhooks", targets: ["SpoolWebhooks"]),
        .library(name: "SpoolTesting", targets: ["SpoolTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Already built for postgres-nio; SHA-256 for content-addressed inputs and their tests.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // A streaming multipart/form-data parser: job submissions with an image or a clip.
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        // Webhooks: already in the tree (Hummingbird's testing library uses it).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // MARK: Support and core (Foundation only)
        // Plumbing every long-running part uses (a thread for blocking work, a wake-up signal),
        // kept out of the modules that first needed it so that a module depends on it alone.
        .target(name: "SpoolSupport", swiftSettings: swiftSettings),
        .target(name: "SpoolCore", swiftSettings: swiftSettings),
        // What the HTTP API reads and writes (resources, lists, the videos API's objects) and
        // its fast JSON writer: the wire, kept apart from the domain it describes.
        .target(name: "SpoolAPIModel", dependencies: ["SpoolCore"], swiftSettings: swiftSettings),

        // MARK: Stores
        // The statements both stores run, written once in a dialect-neutral form (issue 26: SQL
        // lives beside the stores, not in the domain).
        .target(name: "SpoolStoreKit", dependencies: ["SpoolCore"], swiftSettings: swiftSettings),
        .target(
            name: "SpoolSQLite",
            dependencies: [
                "SpoolCore", "SpoolStoreKit", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpoolPostgres",
            dependencies: [
                "SpoolCore", "SpoolStoreKit", "SpoolSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // MD5 of a host's name: its wake-up channel, as the trigger names it.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Media
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        .target(
            name: "SpoolMedia",
            dependencies: ["SpoolCore", "SpoolSupport", "CFFmpeg", "CSpoolSystem", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),

        // MARK: Generators
        .target(name: "CSpoolSystem"),
        .target(name: "SpoolGenerators", dependencies: ["SpoolCore", "CSpoolSystem"], swiftSettings: swiftSettings),
        .target(name: "SpoolSynthetic", dependencies: ["SpoolCore"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "spool-synthetic-worker",
            dependencies: ["SpoolSynthetic", "SpoolCore"],
            swiftSettings: swiftSettings
        ),

        // MARK: Scheduling and the daemon
        .target(
            name: "SpoolScheduler",
            dependencies: [
                "SpoolCore", "SpoolSupport", "SpoolMedia", "SpoolGenerators",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Doors: HTTP API and metrics
        .target(
            name: "SpoolServer",
            dependencies: [
                "SpoolCore", "SpoolAPIModel", "SpoolSupport", "SpoolScheduler", "SpoolMedia", "CSpoolSystem", "SpoolWebhooks",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("openapi.json"), .copy("Dashboard")],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "SpoolClient",
            dependencies: [
                "SpoolCore", "SpoolAPIModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),

        // MARK: Webhooks: signed, retried, durable
        .target(
            name: "SpoolWebhooks",
            dependencies: [
                "SpoolCore", "SpoolAPIModel", "SpoolSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "spool",
            dependencies: [
                "SpoolCore", "SpoolAPIModel", "SpoolSQLite", "SpoolPostgres", "SpoolGenerators", "SpoolScheduler", "SpoolServer",
                "SpoolClient", "SpoolWebhooks", "SpoolMedia", "SpoolSynthetic",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "spool-bench",
            dependencies: [
                "SpoolCore", "SpoolSQLite", "SpoolPostgres", "SpoolMedia", "SpoolGenerators", "SpoolScheduler", "SpoolSynthetic", "SpoolTesting",
                "SpoolClient", "SpoolAPIModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/spool-bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Test support and tests
        .target(
            name: "SpoolTesting",
            dependencies: [
                "SpoolCore", "SpoolSupport", "SpoolSQLite", "SpoolPostgres", "SpoolMedia", "SpoolGenerators", "SpoolSynthetic", "SpoolScheduler",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SpoolCoreTests", dependencies: ["SpoolCore", "SpoolAPIModel", "SpoolStoreKit", "SpoolTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SpoolStoreTests",
            dependencies: ["SpoolCore", "SpoolSQLite", "SpoolPostgres", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolMediaTests",
            dependencies: ["SpoolCore", "SpoolMedia", "SpoolSynthetic", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolGeneratorsTests",
            dependencies: [
                "SpoolCore", "SpoolGenerators", "SpoolSynthetic", "SpoolTesting", "spool-synthetic-worker", .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The Python worker the kit's tests run, by path.
            exclude: ["Kit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolSchedulerTests",
            dependencies: [
                "SpoolCore", "SpoolAPIModel", "SpoolMedia", "SpoolGenerators", "SpoolScheduler", "SpoolServer", "SpoolSQLite",
                "SpoolTesting", "spool-synthetic-worker", "spool",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolServerTests",
            dependencies: [
                "SpoolCore", "SpoolAPIModel", "SpoolServer", "SpoolScheduler", "SpoolSQLite", "SpoolPostgres", "SpoolTesting", "SpoolClient",
                "SpoolWebhooks", "spool-synthetic-worker", "spool",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Files the tests run as they are (the fuzzer's settings, Python programs), by path.
            exclude: ["Schemathesis", "Webhooks", "Videos", "Dashboard", "Eval"],
            swiftSettings: swiftSettings
        ),
    ]
)
