// A fake OpenAI-compatible chat completions server on loopback (§D.5 of the spec): Bearer
// key checked (401 {"error":"Unauthorized"}), empty messages refused, answers in the
// OpenAI shape; it can hang, to test the relay's timeout. As Spark's HTTP API (§B.8, §B.9
// 12-14): the APIPassword checked (401 with the gateway's HMAC message), the model checked,
// `code`/`message`/`sid` in every body, business errors as `code != 0`, and `stream: true`
// answered with `data:` lines (no space) ending in `data:[DONE]`.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Wire

package final class FakeLLM: Sendable {
    package enum Mode: Sendable {
        case normal, hang, error
        /// Answer as usual after this long.
        case slow(Duration)
    }
    package enum Flavor: Sendable { case openai, spark }
    static let sparkModels: Set<String> = ["lite", "generalv3", "pro-128k", "generalv3.5", "max-32k", "4.0Ultra", "kjwx"]

    package let key: String
    package let answer: String
    package let flavor: Flavor
    /// Spark: input containing this is answered with code 10013.
    package let blockedInput: String?
    package let port: Int
    private let server: TestHTTPServer
    let scheme: String
    private let state = Mutex<(mode: Mode, requests: [[String: any Sendable]], raw: [String])>((.normal, [], []))

    package init(
        key: String = "sk-local-test", answer: String = "Likely a password-guessing attack; check sshd logs and block the source.",
        flavor: Flavor = .openai, blockedInput: String? = nil, tls: (certificate: String, key: String)? = nil
    ) async throws {
        scheme = tls == nil ? "http" : "https"
        self.key = key
        self.answer = answer
        self.flavor = flavor
        self.blockedInput = blockedInput
        server = try await TestHTTPServer(host: "127.0.0.1", tls: tls)
        port = server.port
        server.serve { [self] head, body in
            guard let (status, text) = respond(uri: head.uri, headers: head.headers, body: body) else { return nil }
            var delay: Duration?
            if case .slow(let d) = mode { delay = d }
            return TestHTTPServer.Answer(status: status, body: text, contentType: text.hasPrefix("data:") ? "text/event-stream" : "application/json", delay: delay)
        }
    }

    package var url: String { "\(scheme)://127.0.0.1:\(port)/v1/chat/completions" }
    package func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
    var mode: Mode { state.withLock { $0.mode } }
    /// The raw request bodies received.
    package var requests: [String] { state.withLock { $0.raw } }
    package func stop() async { await server.stop() }

    func respond(uri: String, headers: HTTPHeaders, body: [UInt8]) -> (Int, String)? {
        let mode = state.withLock { s -> Mode in
            s.raw.append(String(decoding: body, as: UTF8.self))
            return s.mode
        }
        if case .hang = mode { return nil }
        if case .error = mode { return (502, "<html>bad gateway</html>") }
        guard uri.hasPrefix("/v1/") else { return (404, "{}") }
        if flavor == .spark { return spark(headers: headers, body: body) }
        guard headers.first(name: "Authorization") == "Bearer \(key)" else { return (401, "{\"error\":\"Unauthorized\"}") }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let messages = json["messages"] as? [[String: Any]], !messages.isEmpty
        else { return (400, "{\"error\":{\"message\":\"[] is too short - 'messages'\",\"type\":\"invalid_request_error\"}}") }
        let content = Event.quoted(answer)
        return (200, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"\(json["model"] as? String ?? "")\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\(content)},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":10,\"total_tokens\":20}}")
    }

    func spark(headers: HTTPHeaders, body: [UInt8]) -> (Int, String) {
        guard headers.first(name: "Authorization") == "Bearer \(key)" else {
            return (401, "{\"message\":\"HMAC signature cannot be verified:enforced header 'host' not used for signature creation\"}")
        }
        let sid = "cha000b0003@dx\(Int.random(in: 1000...9999))"
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let messages = json["messages"] as? [[String: Any]], !messages.isEmpty
        else { return (400, "{\"code\":10004,\"message\":\"schema error: messages\",\"sid\":\"\(sid)\"}") }
        guard let model = json["model"] as? String, Self.sparkModels.contains(model) else {
            return (400, "{\"code\":10005,\"message\":\"invalid model\",\"sid\":\"\(sid)\"}")
        }
        let prompt = messages.compactMap { $0["content"] as? String }.joined()
        if let blockedInput, prompt.contains(blockedInput) {
            return (200, "{\"code\":10013,\"message\":\"input failed content moderation\",\"sid\":\"\(sid)\"}")
        }
        let content = Event.quoted(answer)
        let usage = "{\"prompt_tokens\":\(prompt.count),\"completion_tokens\":\(answer.count),\"total_tokens\":\(prompt.count + answer.count)}"
        if json["stream"] as? Bool == true {
            let first = "data:{\"code\":0,\"message\":\"Success\",\"sid\":\"\(sid)\",\"id\":\"\(sid)\",\"created\":1719546385,"
                + "\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\(content)},\"index\":0}]}\n\n"
            let last = "data:{\"code\":0,\"message\":\"Success\",\"sid\":\"\(sid)\",\"id\":\"\(sid)\",\"created\":1719546385,"
                + "\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"index\":0}],\"usage\":\(usage)}\n\n"
            return (200, first + last + "data:[DONE]\n\n")
        }
        return (200, "{\"code\":0,\"message\":\"Success\",\"sid\":\"\(sid)\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\(content)},\"index\":0}],"
            + "\"usage\":\(usage)}")
    }
}

