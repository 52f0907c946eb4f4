import ArgumentParser
import Detection
import Edge
import Foundation
import Logging
import ServiceLifecycle

@main
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Follows this host's security logs and sends account activity to the relay.",
        version: EdgeAgent.version,
        subcommands: [Run.self, CheckConfig.self, TestRules.self]
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
        print("\(options.config): ok — edge \(configuration.edgeID), \(configuration.relay.transport) to \(relay), following \((configuration.files + (configuration.followJournal ? ["journald"] : [])).joined(separator: ", "))")
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
        let tester = RuleTester(detector: Detector(rules: set), json: json)
        var output: [UInt8] = []
        output.reserveCapacity(1 << 17)
        let flush: (inout [UInt8]) -> Void = { buffer in
            // Straight to the descriptor: no copy into Data per chunk.
            buffer.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let n = write(1, bytes.baseAddress! + done, bytes.count - done)
                    if n > 0 {
                        done += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        // A closed pipe (test-rules | head): nothing more to say.
                        Foundation.exit(errno == EPIPE ? 0 : 1)
                    }
                }
            }
            buffer.removeAll(keepingCapacity: true)
        }
        for input in inputs {
            try tester.run(path: input, output: &output, flush: flush)
        }
        flush(&output)
    }
}
