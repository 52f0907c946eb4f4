// A fake iFlytek Spark WebSocket server on loopback that enforces the rules of
// ../shared/specs/chat-and-llm-apis.md §B.9: the signed URL checked as the gateway checks it
// (401 unknown key / bad signature, 403 date outside 300 s, both authorization spellings, GMT
// or UTC), path and domain matched, the request frame's schema and ranges, prompt length,
// moderation, quotas (daily, per second, concurrent), one question per connection (10007),
// the answer streamed in frames with status 0, 1…, 2 and usage only on the last, then closed.
// It can fail (an error code), hang, or answer slowly.
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import Wire

package final class FakeSpark: Sendable {
    package enum Mode: Sendable, Equatable {
        case normal
        /// Take the request, never answer.
        case hang
        /// Answer with this error code after the request.
        case fail(Int)
        /// Answer the next request with this error code, then normally.
        case failOnce(Int)
        /// Wait this long between frames.
        case slow(Duration)
    }

    package struct Options: Sendable {
        /// The fake's clock for the date check (nil: the real one). §0's vector needs
        /// `Fri, 05 May 2023 10:43:39 GMT`.
        package var now: Date?
        /// Closes a connection that sends no request within this time (Spark: 60 s).
        package var idleSeconds: Double = 60
        package var dailyQuota = Int.max
        package var maxPerSecond = Int.max
        package var maxConcurrent = Int.max
        /// Input containing this is refused with 10013; output containing it stops with 10014.
        package var blockedInput: String?
        package var blockedOutput: String?
        package init() {}
    }

    /// What the fake saw: handshake refusals by status, request frames, answers completed,
    /// error codes sent.
    package struct Record: Sendable {
        package var refusals: [Int: Int] = [:]
        package var refusalMessages: [String] = []
        package var requests: [String] = []
        package var completed = 0
        package var errors: [Int] = []
        package var connections = 0
    }

    package let appID: String
    package let apiKey: String
    package let apiSecret: String
    package let answer: String
    package let port: Int
    /// The address it listens on.
    package let host: String
    /// `wss` when served over TLS, else `ws`.
    package let scheme: String
    private let channel: any Channel
    private let state = Mutex<State>(State())

    struct State {
        var mode: Mode = .normal
        var options = Options()
        var record = Record()
        var open = 0
        var today = 0
        var recent: [ContinuousClock.Instant] = []
    }

    /// Paths and the domains each takes (§B.1, with the legacy names).
    static let domains: [String: Set<String>] = [
        "/v1.1/chat": ["lite", "general"], "/v2.1/chat": ["generalv2"], "/v3.1/chat": ["generalv3"], "/chat/pro-128k": ["pro-128k"],
        "/v3.5/chat": ["generalv3.5"], "/chat/max-32k": ["max-32k"], "/v4.0/chat": ["4.0Ultra"], "/v1/x1": ["spark-x", "x1"],
    ]

    package init(
        appID: String = "a1b2c3d4", apiKey: String = "addd2272b6d8b7c8abdd79531420ca3b", apiSecret: String = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi",
        answer: String = "疑似口令爆破：同一来源在两分钟内多次尝试登录。建议立即封禁来源 IP，并检查该账号是否存在成功登录。",
        host: String = "127.0.0.1", tls: (certificate: String, key: String)? = nil
    ) async throws {
        self.host = host
        scheme = tls == nil ? "ws" : "wss"
        let context = try tls.map { files in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.key, format: .pem))))
        }
        self.appID = appID
        self.apiKey = apiKey
        self.apiSecret = apiSecret
        self.answer = answer
        let box = Box()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20,
                    shouldUpgrade: { channel, head in
                        guard let fake = box.fake.withLock({ $0 }) else { return channel.eventLoop.makeSucceededFuture(nil) }
                        return channel.eventLoop.makeSucceededFuture(fake.handshake(head) == nil ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, head in
                        // The refusal handler sits before the frame decoder the upgrader added.
                        channel.pipeline.removeHandler(name: "refusal").flatMap {
                            channel.pipeline.addHandler(Session(box: box, path: URLComponents(string: "http://x" + head.uri)?.path ?? ""))
                        }
                    })
                return child.eventLoop.makeCompletedFuture {
                    if let context { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                }.flatMap {
                    child.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }.flatMap { child.pipeline.addHandler(Refusal(box: box), name: "refusal") }
            }
            .bind(host: host, port: 0).get()
        port = channel.localAddress!.port!
        box.fake.withLock { $0 = self }
    }

    /// `ws://127.0.0.1:PORT/v3.5/chat`, or `wss://` over TLS (the real one is
    /// `wss://spark-api.xf-yun.com/…`).
    package func url(_ path: String = "/v3.5/chat") -> String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
    }
    package func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
    package func configure(_ change: (inout Options) -> Void) { state.withLock { change(&$0.options) } }
    package var record: Record { state.withLock { $0.record } }
    package func stop() async { try? await channel.close() }

    final class Box: Sendable { let fake = Mutex<FakeSpark?>(nil) }

    // MARK: handshake (§B.2, §B.3)

    /// nil when the upgrade may go ahead, else the HTTP status and message to refuse with.
    func handshake(_ head: HTTPRequestHead) -> (Int, String)? {
        let verdict = check(head)
        if let (status, message) = verdict {
            state.withLock {
                $0.record.refusals[status, default: 0] += 1
                $0.record.refusalMessages.append(message)
            }
        }
        return verdict
    }

    func check(_ head: HTTPRequestHead) -> (Int, String)? {
        guard head.method == .GET, let c = URLComponents(string: "http://x" + head.uri) else { return (400, "Bad Request") }
        guard Self.domains[c.path] != nil else { return (404, "no Route matched with those values") }
        // Form-decoded: `+` is a space (Python's urlencode writes the date so).
        var query: [String: String] = [:]
        for pair in (c.percentEncodedQuery ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if query[kv[0]] == nil { query[kv[0]] = kv.count > 1 ? kv[1] : "" }
        }
        guard let authorization = query["authorization"], !authorization.isEmpty else { return (401, "Unauthorized") }
        guard let decoded = Data(base64Encoded: authorization).flatMap({ String(data: $0, encoding: .utf8) }) else {
            return (401, "HMAC signature cannot be verified")
        }
        // `api_key="K", algorithm=…` or `hmac username="K", …`, any spaces after the commas.
        var fields: [String: String] = [:]
        for part in decoded.split(separator: ",") {
            var item = part.trimmingCharacters(in: .whitespaces)
            if item.hasPrefix("hmac ") { item = String(item.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
            guard let eq = item.firstIndex(of: "=") else { continue }
            let value = item[item.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            fields[String(item[..<eq]).trimmingCharacters(in: .whitespaces)] = value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2
                ? String(value.dropFirst().dropLast()) : value
        }
        guard let key = fields["api_key"] ?? fields["username"], let signature = fields["signature"] else {
            return (401, "HMAC signature cannot be verified")
        }
        guard key == apiKey else { return (401, "HMAC signature cannot be verified: fail to retrieve credential") }
        guard fields["algorithm"] == "hmac-sha256", fields["headers"] == "host date request-line" else {
            return (401, "HMAC signature cannot be verified")
        }
        let skewMessage = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
        guard let date = query["date"], let when = Self.parseHTTPDate(date) else { return (403, skewMessage) }
        let now = state.withLock { $0.options.now } ?? Date()
        guard abs(now.timeIntervalSince(when)) <= 300 else { return (403, skewMessage) }
        // Signed over the Host the gateway was reached by (its name, without a port).
        let host = head.headers.first(name: "Host").map { h in h.hasPrefix("[") ? String(h.prefix { $0 != "]" }) + "]" : String(h.split(separator: ":").first ?? "") } ?? ""
        let origin = "host: \(host)\ndate: \(date)\n\(head.method.rawValue) \(c.percentEncodedPath) HTTP/1.1"
        let expected = Data(HMAC<SHA256>.authenticationCode(for: Array(origin.utf8), using: SymmetricKey(data: Array(apiSecret.utf8)))).base64EncodedString()
        guard signature == expected else { return (401, "HMAC signature does not match") }
        return nil
    }

    /// `Fri, 05 May 2023 10:43:39 GMT` (or `UTC`).
    static func parseHTTPDate(_ s: String) -> Date? {
        let parts = s.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" || parts[5] == "UTC", let d = Int(parts[1]),
            let m = months.firstIndex(of: String(parts[2])), let y = Int(parts[3])
        else { return nil }
        let t = parts[4].split(separator: ":").compactMap { Int($0) }
        guard t.count == 3 else { return nil }
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (y, m + 1, d, t[0], t[1], t[2])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: c)
    }

    /// Answers a refused upgrade the way the gateway does: the status and `{"message": …}`.
    final class Refusal: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let box: Box
        var head: HTTPRequestHead?
        init(box: Box) { self.box = box }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let head else { return }
                let (status, message) = box.fake.withLock { $0 }?.check(head) ?? (400, "Bad Request: not a WebSocket upgrade")
                let body = "{\"message\":\"\(message)\"}"
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                headers.add(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    // MARK: session (§B.4-§B.7)

    /// What to do with a request frame: an error code, or the frames of the answer.
    func respond(to text: String, path: String) -> (code: Int, message: String, chunks: [String], usage: (Int, Int)) {
        let (mode, options) = state.withLock { s in
            s.record.requests.append(text)
            return (s.mode, s.options)
        }
        guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            return (10003, "bad message format", [], (0, 0))
        }
        guard let header = o["header"] as? [String: Any], let app = header["app_id"] as? String,
            let payload = o["payload"] as? [String: Any], let message = payload["message"] as? [String: Any],
            let texts = message["text"] as? [[String: Any]], !texts.isEmpty,
            let chat = (o["parameter"] as? [String: Any])?["chat"] as? [String: Any], let domain = chat["domain"] as? String
        else { return (10004, "schema error: header.app_id, parameter.chat.domain and payload.message.text are required", [], (0, 0)) }
        guard app == appID else { return (11200, "AppIdNoAuthError: app_id does not match the key", [], (0, 0)) }
        guard Self.domains[path]?.contains(domain) == true else { return (10163, "domain \(domain) is not served on \(path)", [], (0, 0)) }
        let long = ["lite", "general", "pro-128k"].contains(domain) ? 4096 : 8192
        if let n = chat["max_tokens"] as? Int, !(1...long).contains(n) { return (10005, "max_tokens out of range", [], (0, 0)) }
        if let t = chat["temperature"] as? Double, !(t > 0 && t <= 1) { return (10005, "temperature out of range", [], (0, 0)) }
        if let k = chat["top_k"] as? Int, !(1...6).contains(k) { return (10005, "top_k out of range", [], (0, 0)) }
        var roles: [String] = []
        var prompt = ""
        for t in texts {
            guard let role = t["role"] as? String, ["system", "user", "assistant"].contains(role), let content = t["content"] as? String else {
                return (10005, "bad message role or content", [], (0, 0))
            }
            roles.append(role)
            prompt += content
        }
        guard roles.last == "user" else { return (10005, "the last message must be the user's", [], (0, 0)) }
        // A strict count: every character a token (Chinese text is close to that).
        let tokens = prompt.count
        let context = domain == "max-32k" ? 32_768 : domain == "pro-128k" ? 131_072 : 8192
        guard tokens <= context else { return (10907, "tokens over limit", [], (0, 0)) }
        if let blocked = options.blockedInput, prompt.contains(blocked) { return (10013, "input failed content moderation", [], (0, 0)) }
        let quota: (Int, String)? = state.withLock { s in
            let now = ContinuousClock.now
            s.recent.removeAll { now - $0 >= .seconds(1) }
            if s.today >= options.dailyQuota { return (11201, "daily quota exceeded") }
            if s.recent.count >= options.maxPerSecond { return (11202, "rate exceeded") }
            s.today += 1
            s.recent.append(now)
            return nil
        }
        if let (code, message) = quota { return (code, message, [], (0, 0)) }
        if case .fail(let code) = mode { return (code, "failure requested by the test", [], (0, 0)) }
        if case .failOnce(let code) = mode {
            state.withLock { $0.mode = .normal }
            return (code, "failure requested by the test", [], (0, 0))
        }
        // At least three frames: the answer cut in three.
        let scalars = Array(answer)
        let third = max(1, scalars.count / 3)
        let chunks = [String(scalars.prefix(third)), String(scalars.dropFirst(third).prefix(third)), String(scalars.dropFirst(2 * third))]
        if let blocked = options.blockedOutput, answer.contains(blocked) {
            return (10014, "output failed content moderation", Array(chunks.prefix(1)), (tokens, 0))
        }
        return (0, "Success", chunks, (tokens, answer.count))
    }

    final class Session: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let box: Box
        var asked = false
        var finished = false
        var overConcurrency = false
        let path: String
        let sid = "cht000\(UInt32.random(in: 0...UInt32.max))@dx"
        init(box: Box, path: String) {
            self.box = box
            self.path = path
        }

        var fake: FakeSpark? { box.fake.withLock { $0 } }

        func handlerAdded(context: ChannelHandlerContext) {
            guard let fake else { return }
            let (idle, over) = fake.state.withLock { s -> (Double, Bool) in
                s.record.connections += 1
                s.open += 1
                return (s.options.idleSeconds, s.open > s.options.maxConcurrent)
            }
            // Over the licensed connections: the request is answered with 11203.
            overConcurrency = over
            // No request within the idle time: closed (§B.7).
            let loop = context.eventLoop.assumeIsolated()
            loop.scheduleTask(in: .milliseconds(Int64(idle * 1000))) { [self] in
                if !asked { close(context: context) }
            }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            fake?.state.withLock { $0.open -= 1 }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            // A client must mask its frames (RFC 6455 §5.1).
            guard frame.maskKey != nil else {
                close(context: context, code: 1002)
                return
            }
            switch frame.opcode {
            case .text:
                guard frame.fin else { return close(context: context, code: 1003) }
                guard !asked else {
                    if !finished { sendError(context: context, 10007, "user busy: the previous answer is not finished") }
                    return
                }
                asked = true
                if overConcurrency { return sendError(context: context, 11203, "concurrency exceeded") }
                answer(context: context, String(decoding: frame.unmaskedData.readableBytesView, as: UTF8.self))
            case .connectionClose:
                close(context: context)
            case .ping:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            default:
                break
            }
        }

        func answer(context: ChannelHandlerContext, _ text: String) {
            guard let fake else { return }
            let (code, message, chunks, usage) = fake.respond(to: text, path: path)
            let mode = fake.state.withLock { $0.mode }
            if mode == .hang { return }
            var gap = TimeAmount.milliseconds(5)
            if case .slow(let d) = mode { gap = .nanoseconds(Int64(d.components.seconds) * 1_000_000_000 + d.components.attoseconds / 1_000_000_000) }
            let loop = context.eventLoop.assumeIsolated()
            for (n, chunk) in chunks.enumerated() {
                let last = code == 0 && n == chunks.count - 1
                let status = n == 0 ? 0 : last ? 2 : 1
                var json = "{\"header\":{\"code\":0,\"message\":\"Success\",\"sid\":\"\(sid)\",\"status\":\(status)},"
                    + "\"payload\":{\"choices\":{\"status\":\(status),\"seq\":\(n),\"text\":[{\"content\":\(Event.quoted(chunk)),\"role\":\"assistant\",\"index\":0}]}"
                if last {
                    json += ",\"usage\":{\"text\":{\"question_tokens\":\(usage.0),\"prompt_tokens\":\(usage.0),\"completion_tokens\":\(usage.1),\"total_tokens\":\(usage.0 + usage.1)}}"
                }
                json += "}}"
                loop.scheduleTask(in: gap * Int64(n + 1)) { [self] in
                    guard context.channel.isActive else { return }
                    // Counted before the last frame goes: a client that has it may look at
                    // the record at once.
                    if last { fake.state.withLock { $0.record.completed += 1 } }
                    context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: json))), promise: nil)
                    if last {
                        finished = true
                        close(context: context)
                    }
                }
            }
            if code != 0 {
                loop.scheduleTask(in: gap * Int64(chunks.count + 1)) { [self] in
                    sendError(context: context, code, message)
                }
            }
        }

        func sendError(context: ChannelHandlerContext, _ code: Int, _ message: String) {
            finished = true
            fake?.state.withLock { $0.record.errors.append(code) }
            let json = "{\"header\":{\"code\":\(code),\"message\":\(Event.quoted(message)),\"sid\":\"\(sid)\",\"status\":2}}"
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: json))), promise: nil)
            close(context: context)
        }

        func close(context: ChannelHandlerContext, code: UInt16 = 1000) {
            guard context.channel.isActive else { return }
            var data = context.channel.allocator.buffer(capacity: 2)
            data.writeInteger(code)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
                .whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension FakeSpark.Refusal: Sendable {}

@available(*, unavailable)
extension FakeSpark.Session: Sendable {}
