// The fake DingTalk robot and fake iFlytek Spark of Sources/TestSupport as a program, for the
// demo (demo/run.sh) and the three-network test (deploy/test-networks.sh): the services outside
// the air gap, as strict as the tests' fakes (a request the real service would refuse is
// refused). Not part of the product.
//
//     airgap-fakes [--host ADDRESS]
//
// Prints one JSON line with the robot's webhook, secret and keyword and Spark's URL and
// credentials, then one JSON line per message the robot accepted, until SIGTERM or SIGINT;
// on standard error, each message as a person reads it.
import Foundation
import TestSupport
import Wire

var host = "127.0.0.1"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--host":
        guard let value = arguments.popFirst() else { FileHandle.standardError.write(Data("--host needs an address\n".utf8)); exit(64) }
        host = value
    default:
        FileHandle.standardError.write(Data("usage: airgap-fakes [--host ADDRESS]\n".utf8))
        exit(64)
    }
}

/// One line on standard output, written at once (a script reads them as they come).
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let robot = try await FakeDingTalk(host: host)
let spark = try await FakeSpark(host: host)
func json(_ pairs: [(String, String)]) -> String {
    "{" + pairs.map { "\(Event.quoted($0.0)): \(Event.quoted($0.1))" }.joined(separator: ", ") + "}"
}
emit(json([
    ("dingtalk_webhook", robot.webhook), ("dingtalk_secret", robot.secret ?? ""), ("dingtalk_keyword", robot.keywords.first ?? ""),
    ("spark_url", spark.url()), ("spark_app_id", spark.appID), ("spark_api_key", spark.apiKey), ("spark_api_secret", spark.apiSecret),
]))

for signal in [SIGTERM, SIGINT] { Foundation.signal(signal, SIG_IGN) }
let stop = AsyncStream<Void> { continuation in
    let sources = [SIGTERM, SIGINT].map { number in
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    // The sources live as long as the stream.
    nonisolated(unsafe) let kept = sources
    continuation.onTermination = { _ in kept.forEach { $0.cancel() } }
}
let printer = Task {
    var shown = 0
    while !Task.isCancelled {
        let accepted = robot.accepted
        for message in accepted.dropFirst(shown) {
            emit(json([("robot_message_ms", String(message.wallMilliseconds)), ("text", message.text)]))
            let time = Date(timeIntervalSince1970: Double(message.wallMilliseconds) / 1000).formatted(date: .omitted, time: .standard)
            FileHandle.standardError.write(Data("\n── DingTalk group, \(time) ──────────────────────────\n\(message.text)\n".utf8))
        }
        shown = accepted.count
        try? await Task.sleep(for: .milliseconds(100))
    }
}
for await _ in stop { break }
printer.cancel()
emit(json([("stopped", "true"), ("robot_accepted", String(robot.accepted.count)), ("spark_requests", String(spark.record.requests.count)), ("spark_answers", String(spark.record.completed))]))
await robot.stop()
await spark.stop()
