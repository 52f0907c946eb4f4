import ArgumentParser
import Detection
import Edge
import Foundation
import Logging
import Platform
import Plumbing
import ServiceLifecycle
import UnixSignals
import WindowsEvents

@main
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Follows this host's security logs and sends account activity to the relay.",
        version: EdgeAgent.version,
        subcommands: [Run.self, CheckConfig.self, TestRules.self, ReadEvtx.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(help: "The edge's YAML configuration.")
    var config: String

    func load() throws -> EdgeConfiguration {
        do {
            return try EdgeConfiguration.load(file: config)
        } catch let problems as ConfigurationProblems {
            FileHandle.standardError.write(Data((problems.description + "\n").utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow the configured logs and send what they show to the relay.")

    @OptionGroup var options: ConfigOption

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        MemoryFootprint.releaseStartupMemory()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "edge")
        let configuration = try options.load()
        let app: EdgeApp
        do {
            app = try EdgeApp(configuration: configuration, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("edge: \(error)\n".utf8))
            throw ExitCode.failure
        }
        // Code run once at start-up need not stay resident (docs/benchmarks.md, peak RSS).
        Task.detached {
            try? await Task.sleep(for: .seconds(2))
            MemoryFootprint.releaseStartupMemory()
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app.readerService), .init(service: app.sender)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a configuration and report every mistake with its line.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration = try options.load()
        do {
            _ = try configuration.readKey()
        } catch {
            FileHandle.standardError.write(Data("\(options.config): \(error)\n".utf8))
            throw ExitCode(78)
        }
        let relay = configuration.relay.addresses.map { "\($0.host):\($0.port)" }.joined(separator: ", ")
        print("\(options.config): ok — edge \(configuration.edgeID), \(configuration.relay.transport) to \(relay), following \((configuration.files + configuration.evtxFiles + (configuration.followJournal ? ["journald"] : [])).joined(separator: ", "))")
    }
}

struct TestRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-rules",
        abstract: "Run the detection rules over log files and print every event.")

    @Flag(help: "One JSON object per event and line, with `input` and `line` (1-based).")
    var json = false

    @Option(help: "A YAML rule file that adds or overrides rules (repeatable).")
    var rules: [String] = []

    @Argument(help: "Log files; - reads standard input.")
    var inputs: [String]

    func run() throws {
        var set = RuleSet.builtin
        for file in rules {
            do {
                set = set.applying(try RuleLoader.load(file: file))
            } catch let problems as RuleLoader.Problems {
                throw ValidationError(problems.description)
            }
        }
        var detector = Detector(rules: set)
        // As the relay reads plain syslog: forwarded Windows events (NXLog, Winlogbeat, Snare) too.
        detector.readsForwardedWindowsEvents = true
        let tester = RuleTester(detector: detector, json: json)
        var output: [UInt8] = []
        output.reserveCapacity(1 << 17)
        for input in inputs {
            try tester.run(path: input, output: &output, flush: standardOutput)
        }
        standardOutput(&output)
    }
}

struct ReadEvtx: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-evtx",
        abstract: "Print every record of Windows EVTX files, one per line.",
        discussion: """
            Each line has the record id, time, channel, event id, provider, computer and the \
            EventData or UserData values by name. Damaged chunks and records are skipped and \
            counted on standard error.
            """)

    @Flag(help: "One JSON object per record: record_id, event_id, channel, provider, computer, time, data.")
    var json = false

    @Argument(help: "EVTX files.")
    var inputs: [String]

    func run() throws {
        var output: [UInt8] = []
        output.reserveCapacity(1 << 17)
        var failed = false
        for input in inputs {
            let statistics: EvtxStatistics
            do {
                let file = try EvtxFile(path: input)
                if json {
                    statistics = try file.appendJSONLines(to: &output, flush: standardOutput)
                } else {
                    statistics = try file.forEachEvent { event in
                        event.appendText(to: &output)
                        output.append(0x0A)
                        if output.count >= 1 << 16 { standardOutput(&output) }
                    }
                }
            } catch {
                standardOutput(&output)
                FileHandle.standardError.write("edge read-evtx: \(error)\n".data(using: .utf8)!)
                failed = true
                continue
            }
            let damage = [
                (statistics.damagedChunks, "damaged chunks skipped"),
                (statistics.damagedRecords, "damaged records skipped"),
                (statistics.unfinishedRecords, "records without their closing size"),
                (statistics.headerChecksumMismatches, "chunk header checksums wrong"),
                (statistics.dataChecksumMismatches, "chunk data checksums wrong"),
                (statistics.fileHeaderChecksumMatches ? 0 : 1, "file header checksum wrong"),
            ].filter { $0.0 > 0 }
            if !damage.isEmpty {
                standardOutput(&output)
                let text = damage.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                FileHandle.standardError.write("edge read-evtx: \(input): \(statistics.records) records; \(text)\n".data(using: .utf8)!)
            }
        }
        standardOutput(&output)
        if failed { throw ExitCode(1) }
    }
}

/// Writes `buffer` to standard output and empties it: straight to the descriptor, no copy
/// into Data per chunk. A closed pipe (`| head`) ends the program quietly.
func standardOutput(_ buffer: inout [UInt8]) {
    switch buffer.withUnsafeBytes({ ThisMachine.writeStandardOutput($0) }) {
    case .written: buffer.removeAll(keepingCapacity: true)
    case .closed: Foundation.exit(0)
    case .failed: Foundation.exit(1)
    }
}
