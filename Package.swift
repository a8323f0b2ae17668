// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// One settings list for every target: Swift 6 language mode (strict concurrency) everywhere.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// `make` sets INCIDENTLOG_OPTIMIZE_DEBUG=1: the debug build then compiles the modules the unit
/// tests spend their time in (property tests, every-byte recovery cuts, the fuzz corpus) with
/// `-O`, and the whole suite runs in about half the time. It is off by default because SwiftPM
/// refuses a dependency whose targets carry unsafe flags, and `IncidentClient` is a library
/// other packages may depend on; set it to 0 to step through those modules in a debugger.
let optimizeDebug = ProcessInfo.processInfo.environment["INCIDENTLOG_OPTIMIZE_DEBUG"] == "1"
let hotSwiftSettings = swiftSettings + (optimizeDebug ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : [])

let package = Package(
    name: "IncidentLog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "incidentd", targets: ["incidentd"]),
        .executable(name: "incidentctl", targets: ["incidentctl"]),
        .library(name: "IncidentClient", targets: ["IncidentClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Streaming raw deflate for the peer link (Sources/Wire/PeerCompression.swift); links zlib.
        .package(url: "https://github.com/adam-fowler/compress-nio", exact: "1.5.0"),
        // The HTTP listener (Sources/IncidentHTTP). Traits off: neither swift-configuration nor
        // Foundation-only code paths are used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        // Metrics: the API every module records through, and the Prometheus text exporter.
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        .target(
            name: "IncidentModel",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: hotSwiftSettings
        ),
        // The analysts' exports (CSV, CSV with HXL hashtags, GeoJSON) of the incidents view's rows.
        .target(
            name: "Exports",
            dependencies: ["IncidentModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EventStore",
            dependencies: [
                "IncidentModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: hotSwiftSettings
        ),
        .target(
            name: "Projections",
            dependencies: ["IncidentModel"],
            swiftSettings: hotSwiftSettings
        ),
        .target(
            name: "Wire",
            dependencies: [
                "IncidentModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: hotSwiftSettings
        ),
        .target(
            name: "Sync",
            dependencies: [
                "IncidentModel", "EventStore", "Wire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IncidentServer",
            dependencies: [
                "IncidentModel", "EventStore", "Wire", "Sync", "Projections", "Systemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IncidentHTTP",
            dependencies: [
                "IncidentServer", "IncidentModel", "Wire", "Exports",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Dashboard")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IncidentClient",
            dependencies: [
                "Wire", "IncidentModel", "Exports",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // HTTPConnection: the HTTP API's client (bench http-query, tests).
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IncidentTestSupport",
            dependencies: [
                "IncidentClient", "IncidentModel", "Wire", "IncidentBench", "IncidentServer", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                // The in-process node (InProcessNode.swift): its logger, its service group and the
                // factory its metrics are made with.
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "incidentd",
            dependencies: [
                "IncidentServer", "IncidentHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IncidentBench",
            dependencies: [
                "IncidentClient", "EventStore", "Projections", "IncidentModel", "Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // LinkProxy (the slow, cut link of `bench link` and the link tests), and the lean
                // connections of `bench append` (TLS when the endpoint names a CA).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // `incidentctl backup`: reads the log through the client API, checks the copy with the store's own recovery.
        .target(
            name: "IncidentBackup",
            dependencies: [
                "IncidentClient", "EventStore", "IncidentModel", "Wire",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "incidentctl",
            dependencies: [
                "IncidentClient", "IncidentBench", "IncidentBackup", "Exports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer target over the parsers of untrusted input; `make fuzz` builds it with -sanitize=fuzzer, a plain build as a replay tool.
        .executableTarget(
            name: "IncidentFuzz",
            dependencies: [
                "Wire", "IncidentModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IncidentModelTests",
            dependencies: ["IncidentModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventStoreTests",
            dependencies: [
                "EventStore", "IncidentModel", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "IncidentModel"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExportsTests",
            dependencies: ["Exports", "IncidentModel", "Projections", "IncidentBench"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SyncTests",
            dependencies: [
                "Sync", "EventStore", "IncidentModel", "Wire", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WireTests",
            dependencies: [
                "Wire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IncidentServerTests",
            dependencies: [
                "IncidentServer", "IncidentClient", "IncidentTestSupport", "IncidentBench", "IncidentBackup", "EventStore", "IncidentModel", "Projections", "Sync", "Wire", "IncidentHTTP",
                .product(name: "CompressNIO", package: "compress-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SystemdTests",
            dependencies: [
                "Systemd", "IncidentServer", "IncidentClient", "IncidentTestSupport", "IncidentModel", "Wire", "IncidentBench",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FuzzRegressionTests",
            dependencies: ["IncidentFuzz", "IncidentModel"],
            swiftSettings: swiftSettings
        ),
    ]
)
