import ArgumentParser
import Foundation
import Logging
import Relay
import ServiceLifecycle
import Wire

@main
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Receives edge frames and plain syslog, correlates account activity, alerts.",
        version: RelayApp.version,
        subcommands: [Run.self, EdgeKeyCommand.self]
    )
}

struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Where the relay keeps its store and passkey.")
    var dataDirectory: String = "relay-data"
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the relay. Without a configuration: syslog over UDP and TCP on 127.0.0.1:5514, data in ./relay-data/.")

    @OptionGroup var store: StoreOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "relay")
        var configuration = RelayConfiguration.embedded
        configuration.dataDirectory = URL(fileURLWithPath: store.dataDirectory)
        let app = try RelayApp(configuration: configuration, logger: logger)
        if let created = app.createdPasskeyFile {
            logger.notice("created a new passkey", metadata: ["file": "\(created)"])
        }
        let printer = ConsolePrinter(items: app.intake.items)
        let group = ServiceGroup(
            configuration: .init(
                services: app.services.map { .init(service: $0) } + [.init(service: printer)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

struct EdgeKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-key",
        abstract: "Print one edge's key and the configuration snippet for it.")

    @Option(help: "The edge id: 1-64 characters of A-Z a-z 0-9 . _ -")
    var edge: String

    @OptionGroup var store: StoreOptions

    func run() throws {
        guard let id = EdgeID(rawValue: edge) else {
            throw ValidationError("an edge id is 1-64 characters of A-Z a-z 0-9 . _ -")
        }
        let (keys, created) = try KeyRing.load(nil, dataDirectory: URL(fileURLWithPath: store.dataDirectory))
        if let created { FileHandle.standardError.write(Data("created a new passkey in \(created)\n".utf8)) }
        let key = keys.key(for: id)
        print(key.hexEncoded)
        print("""

            # For the edge's configuration (keep the key secret: whoever has it can speak as \(id)):
            edge_id: \(id)
            key: \(key.hexEncoded)
            """)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
