import ArgumentParser
import Detection
import Edge
import Foundation

@main
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Follows this host's security logs and sends account activity to the relay.",
        version: EdgeAgent.version,
        subcommands: [TestRules.self]
    )
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
        var out = BufferedOutput()
        for input in inputs {
            try tester.run(path: input) { out.write($0) }
        }
        out.flush()
    }
}

/// Line output through one buffer: printing 200,000 lines one write at a time is slow.
struct BufferedOutput {
    private var buffer: [UInt8] = []

    mutating func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
