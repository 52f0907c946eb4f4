// A fake DingTalk custom robot on loopback that enforces the rules of
// ../shared/specs/chat-and-llm-apis.md §A.8: a request the real robot would refuse is refused
// here, with the real errcode in an HTTP 200 body.
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Plumbing
import Synchronization

package typealias FakeRobot = FakeDingTalk

/// Also plays the Feishu custom bot (§C.6), the WeCom group robot (§C'.4) and a plain JSON
/// webhook, each with its own URL shape, signing, limits and error codes.
package final class FakeDingTalk: Sendable {
    package enum Flavor: String, Sendable { case dingtalk, feishu, wecom, webhook }

    package enum Mode: Sendable, Equatable {
        case normal
        /// HTTP 500 to everything.
        case down
        /// errcode -1 (system busy) to everything.
        case busy
        /// Read the request, never answer.
        case hang
        /// Take the message (it reaches the group), then never answer: the sender cannot
        /// know, and must retry with the same msgUuid.
        case acceptThenHang
        /// Handle the request as usual, but answer only after this long.
        case slow(Duration)
    }

    package struct Received: Sendable {
        package var time: ContinuousClock.Instant
        package var wallMilliseconds: Int64
        package var body: [String: any Sendable]
        package var text: String
        package var messageID: String?
    }

    package let flavor: Flavor
    package let token: String
    package let secret: String?
    package let keywords: [String]
    package let blockSeconds: Int
    /// The robot's time: its rate limits and the signatures' time checks. A test that sets
    /// the relay's clock gives the fake the same one.
    package let clock: WallClock
    private let state = Mutex<State>(State())
    private let server: TestHTTPServer
    /// `https` when the fake serves TLS (as every real robot does), else `http`.
    let scheme: String
    package let port: Int
    /// The address it listens on: loopback, or an address in a network namespace a test made.
    package let host: String

    struct State {
        var mode: Mode = .normal
        var accepted: [Received] = []
        /// Wall-clock microseconds (the fake's `clock`).
        var acceptedTimes: [Int64] = []
        var blockedUntil: Int64?
        var seenIDs: Set<String> = []
        var refusals: [Int: Int] = [:]
        var requests = 0
    }

    package init(
        _ flavor: Flavor = .dingtalk, token: String = "fake-token-0123", secret: String? = "SECfake-robot-secret", keywords: [String] = ["告警"],
        blockSeconds: Int = 600, host: String = "127.0.0.1", clock: WallClock = .system, tls: (certificate: String, key: String)? = nil
    ) async throws {
        scheme = tls == nil ? "http" : "https"
        self.host = host
        self.clock = clock
        self.flavor = flavor
        self.token = token
        self.secret = secret
        self.keywords = keywords
        self.blockSeconds = blockSeconds
        server = try await TestHTTPServer(host: host, tls: tls)
        port = server.port
        server.serve { [self] head, body in
            guard let (status, json) = answer(method: head.method, uri: head.uri, headers: head.headers, body: body) else { return nil }
            var delay: Duration?
            if case .slow(let d) = mode { delay = d }
            return TestHTTPServer.Answer(status: status, body: json, delay: delay)
        }
    }

    package var webhook: String {
        switch flavor {
        case .dingtalk: "\(scheme)://\(host):\(port)/robot/send?access_token=\(token)"
        case .feishu: "\(scheme)://\(host):\(port)/open-apis/bot/v2/hook/\(token)"
        case .wecom: "\(scheme)://\(host):\(port)/cgi-bin/webhook/send?key=\(token)"
        case .webhook: "\(scheme)://\(host):\(port)/hooks/alerts"
        }
    }

    package func set(_ mode: Mode) { state.withLock { $0.mode = mode } }
    var mode: Mode { state.withLock { $0.mode } }
    package var accepted: [Received] { state.withLock { $0.accepted } }
    package var requests: Int { state.withLock { $0.requests } }
    /// How many requests were refused with each errcode.
    package var refusals: [Int: Int] { state.withLock { $0.refusals } }

    /// The most messages accepted within any 60 s.
    package var highestPerMinute: Int {
        let times = state.withLock { $0.acceptedTimes }
        var best = 0
        for (i, t) in times.enumerated() {
            best = max(best, times[i...].prefix { $0 - t < 60_000_000 }.count)
        }
        return best
    }

    package func stop() async { await server.stop() }

    /// (HTTP status, JSON answer), or nil to never answer.
    func answer(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) -> (Int, String)? {
        let mode = state.withLock { s -> Mode in
            s.requests += 1
            return s.mode
        }
        switch mode {
        case .hang: return nil
        case .down: return (500, "{\"error\": \"down\"}")
        case .busy: return refuse(-1, "系统繁忙")
        case .normal, .acceptThenHang, .slow: break
        }
        switch flavor {
        case .dingtalk: break
        case .feishu: return feishu(uri: uri, body: body, mode: mode)
        case .wecom: return wecom(uri: uri, body: body, mode: mode)
        case .webhook:
            guard method == .POST, (try? JSONSerialization.jsonObject(with: Data(body))) != nil else { return (400, "{}") }
            return record(text: String(decoding: body, as: UTF8.self), id: nil, msgtype: "webhook", perMinute: 10_000, perSecond: nil, mode: mode,
                          throttled: (429, "{}"), success: (200, "{}"))
        }
        guard method == .POST else { return refuse(43002, "需要POST请求") }
        let query = Self.query(uri)
        guard let tokenGiven = query["access_token"], !tokenGiven.isEmpty else { return refuse(40035, "缺少参数 access_token") }
        guard tokenGiven == token else { return refuse(300005, "token is not exist") }
        guard headers.first(name: "Content-Type")?.lowercased().hasPrefix("application/json") == true else {
            return refuse(43004, "无效的HTTP HEADER Content-Type")
        }
        if let secret {
            guard let ts = query["timestamp"], let sign = query["sign"] else { return refuse(310000, "sign not match") }
            guard ts.count == 13, let t = Int64(ts) else { return refuse(310000, "invalid timestamp") }
            let now = clock.now / 1000
            guard abs(now - t) <= 3_600_000 else { return refuse(310000, "invalid timestamp") }
            let mac = HMAC<SHA256>.authenticationCode(for: Data("\(ts)\n\(secret)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
            guard sign == Data(mac).base64EncodedString() else { return refuse(310000, "sign not match") }
        }
        guard body.count <= 20_000 else { return refuse(460101, "message too long, exceed 20000 bytes") }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return refuse(400105, "body is not JSON") }
        let msgtype = json["msgtype"] as? String
        var text = ""
        switch msgtype {
        case "text":
            guard let t = (json["text"] as? [String: Any])?["content"] as? String else { return refuse(400105, "text.content missing") }
            text = t
        case "markdown":
            guard let md = json["markdown"] as? [String: Any], let title = md["title"] as? String, let t = md["text"] as? String else {
                return refuse(400105, "markdown.title and markdown.text required")
            }
            text = title + "\n" + t
        case "link", "actionCard", "feedCard":
            text = String(decoding: body, as: UTF8.self)
        default:
            return refuse(400105, "不支持的消息类型")
        }
        if !keywords.isEmpty, !keywords.contains(where: { text.contains($0) }) { return refuse(310000, "keywords not in content") }
        if let at = json["at"] as? [String: Any], let mobiles = at["atMobiles"] as? [String] {
            for m in mobiles where !text.contains("@\(m)") { return refuse(400105, "atMobiles \(m) not in the text") }
        }
        let id = json["msgUuid"] as? String
        let now = clock.now
        let arrived = ContinuousClock.now
        let answer = state.withLock { s -> (Int, String) in
            if let until = s.blockedUntil, now < until { return refuseLocked(&s, 130101, "send too fast, exceed 20 times per minute") }
            let lastMinute = s.acceptedTimes.filter { now - $0 < 60_000_000 }.count
            if lastMinute >= 20 {
                s.blockedUntil = now + Int64(blockSeconds) * 1_000_000
                return refuseLocked(&s, 130101, "send too fast, exceed 20 times per minute")
            }
            s.acceptedTimes.append(now)
            // The same msgUuid again: accepted, not shown twice.
            if let id, !s.seenIDs.insert(id).inserted { return (200, "{\"errcode\":0,\"errmsg\":\"ok\"}") }
            s.accepted.append(Received(time: arrived, wallMilliseconds: now / 1000,
                                       body: ["msgtype": msgtype ?? ""], text: text, messageID: id))
            return (200, "{\"errcode\":0,\"errmsg\":\"ok\"}")
        }
        return mode == .acceptThenHang ? nil : answer
    }

    /// Counts an accepted message against the robot's limits and records it.
    private func record(
        text: String, id: String?, msgtype: String, perMinute: Int, perSecond: Int?, mode: Mode, throttled: (Int, String), success: (Int, String)
    ) -> (Int, String)? {
        let now = clock.now
        let arrived = ContinuousClock.now
        let answer = state.withLock { s -> (Int, String) in
            let lastMinute = s.acceptedTimes.filter { now - $0 < 60_000_000 }.count
            let lastSecond = s.acceptedTimes.filter { now - $0 < 1_000_000 }.count
            if lastMinute >= perMinute || (perSecond.map { lastSecond >= $0 } ?? false) {
                s.refusals[-2, default: 0] += 1
                return throttled
            }
            s.acceptedTimes.append(now)
            s.accepted.append(Received(time: arrived, wallMilliseconds: now / 1000, body: ["msgtype": msgtype],
                                       text: text, messageID: id))
            return success
        }
        return mode == .acceptThenHang ? nil : answer
    }

    private func feishu(uri: String, body: [UInt8], mode: Mode) -> (Int, String)? {
        func fail(_ code: Int, _ msg: String) -> (Int, String) {
            state.withLock { $0.refusals[code, default: 0] += 1 }
            return (200, "{\"code\":\(code),\"msg\":\"\(msg)\",\"data\":{}}")
        }
        guard uri.hasSuffix("/open-apis/bot/v2/hook/\(token)") else { return fail(19001, "param invalid: incoming webhook access token invalid") }
        guard body.count <= 20_000, let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return fail(9499, "Bad Request") }
        guard let type = json["msg_type"] as? String else { return fail(9499, "Bad Request") }
        if type == "interactive" { guard json["card"] != nil else { return fail(9499, "Bad Request") } } else {
            guard json["content"] is [String: Any] else { return fail(9499, "Bad Request") }
        }
        if let secret {
            guard let ts = json["timestamp"] as? String, let sign = json["sign"] as? String, ts.count == 10, let t = Int64(ts) else {
                return fail(19021, "sign match fail or timestamp is not within one hour from current time")
            }
            let key = SymmetricKey(data: Data("\(ts)\n\(secret)".utf8))
            let expected = Data(HMAC<SHA256>.authenticationCode(for: Data(), using: key)).base64EncodedString()
            guard abs(clock.now / 1_000_000 - t) <= 3600, sign == expected else {
                return fail(19021, "sign match fail or timestamp is not within one hour from current time")
            }
        }
        let text = String(decoding: body, as: UTF8.self).removingJSONEscapes
        if !keywords.isEmpty, !keywords.contains(where: { text.contains($0) }) { return fail(19024, "Key Words Not Found") }
        return record(text: text, id: nil, msgtype: type, perMinute: 100, perSecond: 5, mode: mode,
                      throttled: (200, "{\"code\":11232,\"msg\":\"frequency limited\"}"), success: (200, "{\"code\":0,\"data\":{},\"msg\":\"success\"}"))
    }

    private func wecom(uri: String, body: [UInt8], mode: Mode) -> (Int, String)? {
        func fail(_ code: Int, _ msg: String) -> (Int, String) {
            state.withLock { $0.refusals[code, default: 0] += 1 }
            return (200, "{\"errcode\":\(code),\"errmsg\":\"\(msg), hint: [fake]\"}")
        }
        guard FakeDingTalk.query(uri)["key"] == token else { return fail(93000, "invalid webhook url") }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let type = json["msgtype"] as? String else {
            return fail(40008, "invalid message type")
        }
        let content: String
        switch type {
        case "markdown":
            guard let c = (json["markdown"] as? [String: Any])?["content"] as? String, !c.isEmpty else { return fail(44004, "empty content") }
            guard c.utf8.count <= 4096 else { return fail(40058, "markdown.content exceed max length 4096. invalid Request Parameter") }
            content = c
        case "text":
            guard let c = (json["text"] as? [String: Any])?["content"] as? String, !c.isEmpty else { return fail(44004, "empty content") }
            guard c.utf8.count <= 2048 else { return fail(40058, "text.content exceed max length 2048. invalid Request Parameter") }
            content = c
        default:
            return fail(40008, "invalid message type")
        }
        return record(text: content, id: nil, msgtype: type, perMinute: 20, perSecond: nil, mode: mode,
                      throttled: (200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}"), success: (200, "{\"errcode\":0,\"errmsg\":\"ok\"}"))
    }

    private func refuse(_ code: Int, _ message: String) -> (Int, String) {
        state.withLock { refuseLocked(&$0, code, message) }
    }

    private func refuseLocked(_ s: inout State, _ code: Int, _ message: String) -> (Int, String) {
        s.refusals[code, default: 0] += 1
        return (200, "{\"errcode\":\(code),\"errmsg\":\(String(decoding: try! JSONSerialization.data(withJSONObject: [message]), as: UTF8.self).dropFirst().dropLast())}")
    }

    /// Query parameters form-decoded as a server does: `+` is a space, `%XX` a byte.
    static func query(_ uri: String) -> [String: String] {
        guard let q = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var out: [String: String] = [:]
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            func decode(_ s: Substring) -> String {
                (String(s).replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? String(s)
            }
            out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return out
    }
}

extension String {
    /// The strings of a JSON text, escapes undone, one per line: what a keyword is searched in.
    var removingJSONEscapes: String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(self.utf8)) else { return self }
        var out: [String] = []
        func walk(_ v: Any) {
            if let s = v as? String { out.append(s) } else if let a = v as? [Any] { a.forEach(walk) } else if let d = v as? [String: Any] { d.values.forEach(walk) }
        }
        walk(object)
        return out.joined(separator: "\n")
    }
}

