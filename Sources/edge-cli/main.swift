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
        var output: [UInt8] = []
        output.reserveCapacity(1 << 17)
        let flush: (inout [UInt8]) -> Void = { buffer in
            buffer.withUnsafeBytes { FileHandle.standardOutput.write(Data($0)) }
            buffer.removeAll(keepingCapacity: true)
        }
        for input in inputs {
            try tester.run(path: input, output: &output, flush: flush)
        }
        flush(&output)
    }
}
