import ArgumentParser
import Detection
import Foundation
import Logging
import Plumbing
import Relay
import ServiceLifecycle
import UnixSignals
import Wire

@main
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Receives edge frames and plain syslog, correlates account activity, alerts.",
        version: RelayApp.version,
        subcommands: [Run.self, CheckConfig.self, EdgeKeyCommand.self, Status.self, Alerts.self]
    )
}

struct StoreOptions: ParsableArguments {
    @Option(help: "The relay's YAML configuration; without one, the embedded defaults.")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Where the relay keeps its store and passkey (overrides the configuration).")
    var dataDirectory: String?

    func load() throws -> RelayConfiguration {
        var configuration = RelayConfiguration.embedded
        if let config {
            do {
                configuration = try RelayConfiguration.load(file: config)
            } catch let problems as ConfigurationProblems {
                FileHandle.standardError.write(Data((problems.description + "\n").utf8))
                throw ExitCode(78)  // EX_CONFIG
            }
        }
        if let dataDirectory { configuration.dataDirectory = URL(fileURLWithPath: dataDirectory) }
        return configuration
    }
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
        let app = try RelayApp(configuration: try store.load(), logger: logger)
        if let created = app.createdPasskeyFile {
            logger.notice("created a new passkey", metadata: ["file": "\(created)"])
        }
        ConsolePrinter.attach(to: app.pipeline, events: app.configuration.consoleEvents)
        let group = ServiceGroup(
            configuration: .init(
                services: app.services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a configuration and report every mistake with its line.")

    @Option(help: "The relay's YAML configuration.")
    var config: String

    func run() throws {
        let configuration: RelayConfiguration
        do {
            configuration = try RelayConfiguration.load(file: config)
        } catch let problems as ConfigurationProblems {
            FileHandle.standardError.write(Data((problems.description + "\n").utf8))
            throw ExitCode(78)
        }
        // Everything that needs a file read or a key parsed, all reported at once.
        var problems: [String] = []
        for (name, source) in [("passkey", configuration.passkey), ("passkey_previous", configuration.passkeyPrevious)] {
            guard let source else { continue }
            do {
                _ = try Passkey(try source.read())
            } catch {
                problems.append("the \(name) from \(source) cannot be used: \(error)")
            }
        }
        // The first step of a rotation (deploy/README.md): the copy is made, the new passkey not yet.
        var warnings: [String] = []
        if let previous = try? configuration.passkeyPrevious?.read(),
            previous == (try? (configuration.passkey ?? .file(configuration.dataDirectory.appendingPathComponent("passkey").path)).read())
        {
            warnings.append("passkey_previous holds the same passkey as the current one: make the new passkey to go on with the rotation")
        }
        do {
            try configuration.checkTLS()
        } catch {
            problems.append("\(error)")
        }
        problems += configuration.checkSecrets()
        guard problems.isEmpty else {
            FileHandle.standardError.write(Data(problems.map { "\(config): \($0)\n" }.joined().utf8))
            throw ExitCode(78)
        }
        for warning in warnings + SecretFile.warnings { FileHandle.standardError.write(Data("\(config): warning: \(warning)\n".utf8)) }
        print("\(config): ok — listening on \(configuration.listeners.map(\.description).joined(separator: ", ")), data in \(configuration.dataDirectory.path)")
    }
}

struct EdgeKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-key",
        abstract: "Print one edge's key and the configuration snippet for it.")

    @Option(help: "The edge id: 1-64 characters of A-Z a-z 0-9 . _ -")
    var edge: String

    @Option(help: "The key generation (default: the edge's current one, from edges.key_generations, else 1).")
    var generation: UInt16?

    @OptionGroup var store: StoreOptions

    func run() throws {
        guard let id = EdgeID(rawValue: edge) else {
            throw ValidationError("an edge id is 1-64 characters of A-Z a-z 0-9 . _ -")
        }
        let configuration = try store.load()
        if generation == 0 { throw ValidationError("key generations start at 1") }
        let (keys, created) = try KeyRing.load(configuration)
        if let created { FileHandle.standardError.write(Data("created a new passkey in \(created)\n".utf8)) }
        let key = keys.key(for: id, generation: generation)
        let effective = generation ?? keys.generations(of: id)[0]
        if effective != 1 { FileHandle.standardError.write(Data("key generation \(effective) of \(id)\n".utf8)) }
        print(key.hexEncoded)
        print("""

            # For the edge's configuration (keep the key secret: whoever has it can speak as \(id)):
            edge_id: \(id)
            key: \(key.hexEncoded)
            """)
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show recent incidents from the store, newest first.")

    @OptionGroup var store: StoreOptions

    @Flag(help: "One JSON object per line: kind, severity, count, source_ip, user, host, first_seen, last_seen, delivered, ...")
    var json = false

    @Option(help: "How many incidents to show.")
    var limit = 50

    @Flag(name: .customLong("retry-dead"), help: "Put every dead letter (an alert that ran out of attempts) back in the outbox; the running relay sends it.")
    var retryDead = false

    func run() throws {
        let configuration = try store.load()
        if retryDead {
            let n = try Store(directory: configuration.dataDirectory).retryDead(now: Int64(Date().timeIntervalSince1970 * 1_000_000))
            print("\(n) dead letter(s) queued again")
            return
        }
        let db = try Store(directory: configuration.dataDirectory, readOnly: true)
        let dead = try db.outbox(status: .dead)
        let incidents = try db.recentIncidents(limit: limit)
        if json {
            for i in incidents { print(i.jsonObject()) }
            return
        }
        if incidents.isEmpty { print("no incidents in \(configuration.dataDirectory.path)") }
        for d in dead {
            print(TerminalText.safe("DEAD LETTER: incident #\(d.incident) to \(d.channel) after \(d.attempts) attempts: \(d.lastError ?? "?") (relay alerts --retry-dead sends it again)"))
        }
        for i in incidents {
            let last = SyslogTimestamp.iso8601UTC(microseconds: i.lastSeen, fractionDigits: 0)
            let state = i.status == .open ? "open" : "closed"
            print(TerminalText.safe("#\(i.id) \(last) \(i.severity.rawValue.uppercased()) \(i.kind) x\(i.count) [\(state)\(i.delivered ? ", delivered" : "")\(i.authenticated ? "" : ", plain syslog")] \(i.title)"))
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each edge (last heard, frames, losses, restarts, silence) and the store's counts.")

    @OptionGroup var store: StoreOptions

    func run() throws {
        let configuration = try store.load()
        let db = try Store(directory: configuration.dataDirectory, readOnly: true)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        print("store: \(db.path)")
        let counts = try db.counts()
        print("events: \(counts.events)  incidents: \(counts.incidents) (\(counts.openIncidents) open)")
        let outbox = try db.outbox()
        if outbox.isEmpty {
            print("outbox: empty (no channels configured, or nothing sent yet)")
        } else {
            for channel in Set(outbox.map(\.channel)).sorted() {
                let mine = outbox.filter { $0.channel == channel }
                let pending = mine.filter { $0.status == .pending }
                let late = pending.filter { $0.attempts > 0 }
                print("outbox \(channel): \(mine.filter { $0.status == .delivered }.count) delivered, \(pending.count) pending"
                    + (late.isEmpty ? "" : " (\(late.count) after failed attempts, last: \(late.last?.lastError ?? "?"))")
                    + ", \(mine.filter { $0.status == .dead }.count) dead")
            }
        }
        let registry = try db.state("edges").flatMap { try? JSONDecoder().decode(EdgeRegistry.self, from: $0) }
        let records = registry?.records ?? [:]
        if records.isEmpty {
            print("edges: none heard yet")
            return
        }
        print("edges: \(records.count)")
        print("  " + ["EDGE", "STATE", "LAST FRAME", "LAST HEARTBEAT", "EPOCH", "FRAMES", "LOST", "RESTARTS", "KEY"].joined(separator: "\t"))
        for (id, r) in records.sorted(by: { $0.key < $1.key }) {
            func ago(_ ms: Int64?) -> String { ms.map { "\(max(0, now - $0) / 1000) s ago" } ?? "never" }
            print("  " + [id, r.silent ? "SILENT" : "ok", ago(r.lastFrameMilliseconds), ago(r.lastHeartbeatMilliseconds), String(r.epoch),
                          String(r.frames), String(r.framesLost), String(r.restarts), r.previousKey ?? "current"].joined(separator: "\t"))
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
