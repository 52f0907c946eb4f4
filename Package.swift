// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "airgap-alarm",
    products: [
        .executable(name: "edge", targets: ["edge-cli"]),
        .executable(name: "relay", targets: ["relay-cli"]),
        .library(name: "Wire", targets: ["Wire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // zlib from the system (Debian: zlib1g-dev), with inline wrappers for its macros.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The Windows Event Log API (winevt.h) for the edge's live subscription; empty elsewhere.
        .target(
            name: "CWinEvt",
            linkerSettings: [.linkedLibrary("wevtapi", .when(platforms: [.windows]))]
        ),
        // What differs between Linux and Windows: regular files read by position and mapped,
        // files written durably or only where nothing was, the machine's name, standard output.
        .target(name: "Platform"),
        // What edge and relay share that is not the protocol: configuration problems and
        // secrets, the doorbell, the wall clock, the rotating JSON-lines file.
        .target(
            name: "Plumbing",
            dependencies: ["Wire", .product(name: "Yams", package: "Yams")]
        ),
        // The protocol both binaries speak. No sockets here.
        .target(
            name: "Wire",
            dependencies: [
                "CZlib",
                "Platform",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The event vocabulary's rule engine and built-in rule pack, shared by edge and relay.
        .target(
            name: "Detection",
            dependencies: [
                "Wire",
                "Plumbing",
                "WindowsEvents",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Windows events: the EVTX reader (binary XML), event XML, the event model.
        .target(
            name: "WindowsEvents",
            dependencies: ["Wire", "CZlib", "Platform"]
        ),
        .target(
            name: "Edge",
            dependencies: [
                "Wire",
                "Plumbing",
                "Platform",
                .target(name: "CWinEvt", condition: .when(platforms: [.windows])),
                "Detection",
                "WindowsEvents",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Relay",
            dependencies: [
                "Wire",
                "Plumbing",
                "Detection",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The store: SQLite from the system (Debian: libsqlite3-dev).
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "edge-cli",
            dependencies: [
                "Edge",
                "Plumbing",
                "Platform",
                "Detection",
                "WindowsEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "relay-cli",
            dependencies: [
                "Relay",
                "Plumbing",
                "Detection",
                "Wire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // libFuzzer entry points; built only by fuzz/run.sh with -sanitize=fuzzer.
        .executableTarget(
            name: "fuzz-wire",
            dependencies: [
                "Wire",
                "WindowsEvents",
                "Detection",
                "Relay",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fuzz/Sources/fuzz-wire"
        ),
        // Release-build micro-benchmark of the frame codec: bench/wire.sh runs it.
        .executableTarget(
            name: "wire-bench",
            dependencies: ["Wire"],
            path: "bench/Sources/wire-bench"
        ),
        // Load generator for bench/relay.sh: edge frames from many simulated edges.
        .executableTarget(
            name: "relay-load",
            dependencies: ["Wire"],
            path: "bench/Sources/relay-load"
        ),
        // The fake robot and Spark as a program: demo/run.sh and the three-network test.
        .executableTarget(
            name: "airgap-fakes",
            dependencies: ["TestSupport", "Wire"],
            path: "demo/Sources/airgap-fakes"
        ),
        // Test harness shared by test targets: a real relay on loopback, senders.
        .target(
            name: "TestSupport",
            dependencies: [
                "Relay",
                "Plumbing",
                "Wire",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "DetectionTests",
            dependencies: ["Detection", "Wire", "WindowsEvents", "Plumbing"],
            exclude: ["Expected"]
        ),
        .testTarget(
            name: "EdgeTests",
            dependencies: [
                "Edge", "Wire", "Detection", "TestSupport", "Relay", "WindowsEvents", "Plumbing", "Platform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: [
                "Relay",
                "Plumbing",
                "Wire",
                "TestSupport",
                "Detection",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WindowsEventsTests",
            dependencies: ["WindowsEvents", "Wire"]
        ),
        .testTarget(
            name: "WireTests",
            dependencies: [
                "Wire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Vectors"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Every target: `any` spelled out for existentials, and a file uses only the modules it imports.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
// Wire is the one library others may use: an import is internal unless marked public, so
// its public surface shows which modules it exposes.
for target in package.targets where target.name == "Wire" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("InternalImportsByDefault")]
}
