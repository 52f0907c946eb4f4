import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Plumbing
import Synchronization
import Wire

/// iFlytek Spark's WebSocket chat API (../shared/specs/chat-and-llm-apis.md §B.1-§B.7): a
/// URL signed with the account's APIKey and APISecret, one JSON request frame, the answer in
/// streamed frames (status 0, 1…, 2, usage on the last), errors as `header.code`.
package enum Spark {
    /// The signed URL for `url` (`wss://spark-api.xf-yun.com/v3.5/chat`) at `date`.
    ///
    /// signature = base64(HMAC-SHA256(secret, "host: H\ndate: D\nGET /path HTTP/1.1")),
    /// authorization = base64(`api_key="K", algorithm="hmac-sha256", headers="host date request-line", signature="S"`),
    /// query = authorization, date and host, form-encoded (§B.2).
    package static func signedURL(_ url: String, apiKey: String, apiSecret: String, date: Date) -> String? {
        guard let c = URLComponents(string: url), let host = c.host, c.scheme == "wss" || c.scheme == "ws" else { return nil }
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        let dateText = httpDate(date)
        let signature = Self.signature(host: host, date: dateText, requestLine: "GET \(path) HTTP/1.1", secret: apiSecret)
        let origin = "api_key=\"\(apiKey)\", algorithm=\"hmac-sha256\", headers=\"host date request-line\", signature=\"\(signature)\""
        let authorization = Data(origin.utf8).base64EncodedString()
        let port = c.port.map { ":\($0)" } ?? ""
        return "\(c.scheme!)://\(host)\(port)\(path)?authorization=\(formEncode(authorization))&date=\(formEncode(dateText))&host=\(formEncode(host))"
    }

    package static func signature(host: String, date: String, requestLine: String, secret: String) -> String {
        let origin = "host: \(host)\ndate: \(date)\n\(requestLine)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(origin.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// RFC 1123 in GMT: `Fri, 05 May 2023 10:43:39 GMT`.
    package static func httpDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = Int(seconds.quotientAndRemainder(dividingBy: 86_400).quotient) - (seconds < 0 && seconds % 86_400 != 0 ? 1 : 0)
        let inDay = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = CivilDate.civil(fromDays: Int64(days))
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekdays[((days % 7) + 7) % 7]), \(two(d)) \(months[m - 1]) \(y) \(two(inDay / 3600)):\(two(inDay / 60 % 60)):\(two(inDay % 60)) GMT"
    }

    /// `application/x-www-form-urlencoded`, as Python's `urlencode` writes it (space as `+`).
    package static func formEncode(_ s: String) -> String { PercentEncoding.encode(s, spaceAsPlus: true) }

    /// The request frame (§B.4). `domain` must match the URL's path (`generalv3.5` on /v3.5/chat).
    static func requestFrame(appID: String, domain: String, system: String, user: String, maxTokens: Int) -> [UInt8] {
        let json = "{\"header\": {\"app_id\": \(Event.quoted(appID))}, "
            + "\"parameter\": {\"chat\": {\"domain\": \(Event.quoted(domain)), \"temperature\": 0.3, \"max_tokens\": \(maxTokens), \"top_k\": 4}}, "
            + "\"payload\": {\"message\": {\"text\": [{\"role\": \"system\", \"content\": \(Event.quoted(system))}, "
            + "{\"role\": \"user\", \"content\": \(Event.quoted(user))}]}}}"
        return Array(json.utf8)
    }

    /// Codes worth one more try later (§B.6): transport, capacity and rate errors.
    package static func retryable(_ code: Int) -> Bool {
        [10000, 10001, 10002, 10006, 10007, 10008, 10009, 10010, 10011, 10012, 10110, 10222, 10223, 11202, 11203].contains(code)
    }

    package struct Answer: Sendable, Equatable {
        package var text: String
        package var totalTokens: Int?
    }

    package enum Failure: SafeToLog, Equatable {
        /// The upgrade was refused: 401 bad signature, 403 clock skew or IP not allowed.
        case handshake(status: Int, message: String)
        /// An error frame: `header.code` and its message.
        case code(Int, String)
        /// The connection ended before the final frame.
        case incomplete
        case malformed
        case tooLarge

        package var description: String {
            switch self {
            case .handshake(let status, let message): "handshake refused: HTTP \(status) \(message.prefix(200))"
            case .code(let code, let message): "error \(code): \(message.prefix(200))"
            case .incomplete: "connection closed before the final frame"
            case .malformed: "a frame that is not Spark's JSON"
            case .tooLarge: "answer too large"
            }
        }
    }

    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused(EventLoopFuture<(Int, String)>)
    }

    /// One question on one connection (Spark's sessions are short: the server closes after
    /// the final frame). Throws `Failure` or a network error; the connection is closed after
    /// `limit` whatever happens.
    static func ask(signedURL: String, frame: [UInt8], tls: NIOSSLContext?, limit: TimeAmount,
                    proxy: (host: String, port: Int, authorization: String?)? = nil) async throws -> Answer {
        guard let c = URLComponents(string: signedURL), let host = c.host else { throw Failure.malformed }
        // The URL writes an IPv6 address in brackets (`wss://[2001:db8::5]:8443/…`), and so do
        // the Host header and the signature; a socket takes the address without them.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let secure = c.scheme == "wss"
        let port = c.port ?? (secure ? 443 : 80)
        let target = c.percentEncodedPath + (c.percentEncodedQuery.map { "?" + $0 } ?? "")
        let hostHeader = c.port.map { "\(host):\($0)" } ?? host
        let upgrade: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: proxy?.host ?? name, port: proxy?.port ?? port) { channel in
                // A hard bound on the whole exchange, whatever the server does or does not send.
                channel.eventLoop.scheduleTask(in: limit) { channel.close(promise: nil) }
                return channel.eventLoop.makeCompletedFuture {
                    if let proxy {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyTunnel(target: name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)", authorization: proxy.authorization))
                    }
                    if secure {
                        // Never plain text to a wss:// address.
                        guard let tls else { throw Failure.malformed }
                        // An address is not a name for SNI: the certificate is then checked
                        // against the address connected to (NIOSSL does it with no name).
                        // Through a proxy that address would be the proxy's: such a certificate
                        // could not be checked for Spark, so the question is not asked.
                        let isAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
                        if isAddress && proxy != nil { throw Failure.malformed }
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : name))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 20) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 20))
                            return .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: hostHeader)
                    headers.add(name: "Content-Length", value: "0")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                let reader = RefusalReader(promise: channel.eventLoop.makePromise())
                                try channel.pipeline.syncOperations.addHandler(reader)
                                return .refused(reader.promise.futureResult)
                            }
                        })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        switch try await upgrade.get() {
        case .refused(let answer):
            let (status, body) = try await answer.get()
            let message = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["message"] as? String ?? body
            throw Failure.handshake(status: status, message: message)
        case .websocket(let socket):
            return try await socket.executeThenClose { inbound, outbound in
                // A server that refuses at once (11203: too many connections) sends its error
                // frame and closes, perhaps before this write: the frame still says why.
                var writeError: (any Error)?
                do {
                    try await outbound.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: frame)))
                } catch {
                    writeError = error
                }
                var text = ""
                for try await received in inbound {
                    switch received.opcode {
                    case .text:
                        let (chunk, status, tokens) = try parse(received.unmaskedData)
                        text += chunk
                        guard text.utf8.count <= 64 * 1024 else { throw Failure.tooLarge }
                        if status == 2 {
                            try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(),
                                                                     data: ByteBuffer(bytes: [0x03, 0xE8])))
                            return Answer(text: text, totalTokens: tokens)
                        }
                    case .connectionClose:
                        throw writeError ?? Failure.incomplete
                    case .ping:
                        try? await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: received.unmaskedData))
                    default:
                        break
                    }
                }
                throw writeError ?? Failure.incomplete
            }
        }
    }

    /// One response frame: its content chunk, its status, and the total tokens on the last.
    package static func parse(_ buffer: ByteBuffer) throws -> (String, Int, Int?) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any],
            let header = o["header"] as? [String: Any], let code = header["code"] as? Int
        else { throw Failure.malformed }
        // The code first: an error frame has no payload (§B.5).
        guard code == 0 else { throw Failure.code(code, header["message"] as? String ?? "") }
        let status = header["status"] as? Int ?? 1
        let choices = (o["payload"] as? [String: Any])?["choices"] as? [String: Any]
        let chunk = ((choices?["text"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
        let usage = ((o["payload"] as? [String: Any])?["usage"] as? [String: Any])?["text"] as? [String: Any]
        return (chunk, status, usage?["total_tokens"] as? Int)
    }

    /// Opens an HTTP CONNECT tunnel through a proxy before anything else is sent: writes
    /// from the handlers behind it (the TLS handshake, the upgrade request) wait until the
    /// proxy answers 200.
    final class ProxyTunnel: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        struct Refused: SafeToLog {
            var status: String
            var description: String { "the proxy refused the tunnel: \(status)" }
        }

        let target: String
        let authorization: String?
        var open = false
        var held: [(NIOAny, EventLoopPromise<Void>?)] = []
        var answer: [UInt8] = []

        init(target: String, authorization: String?) {
            self.target = target
            self.authorization = authorization
        }

        func channelActive(context: ChannelHandlerContext) {
            let credentials = authorization.map { "Proxy-Authorization: \($0)\r\n" } ?? ""
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\(credentials)\r\n")), promise: nil)
            context.fireChannelActive()
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if open { context.write(data, promise: promise) } else { held.append((data, promise)) }
        }

        func flush(context: ChannelHandlerContext) {
            if open { context.flush() }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !open else { return context.fireChannelRead(data) }
            answer += unwrapInboundIn(data).readableBytesView
            guard let end = answer.firstRange(of: Array("\r\n\r\n".utf8)) else {
                if answer.count > 16 * 1024 {
                    context.fireErrorCaught(Refused(status: "an answer without end"))
                    context.close(promise: nil)
                }
                return
            }
            let statusLine = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
            guard statusLine.split(separator: " ").dropFirst().first == "200" else {
                context.fireErrorCaught(Refused(status: String(statusLine.prefix(100))))
                context.close(promise: nil)
                return
            }
            open = true
            let rest = answer[end.upperBound...]
            answer = []
            for (data, promise) in held { context.write(data, promise: promise) }
            held = []
            context.flush()
            if !rest.isEmpty { context.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: rest))) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            for (_, promise) in held { promise?.fail(ChannelError.ioOnClosedChannel) }
            held = []
        }
    }

    /// Reads a refused upgrade's status and body (at most 4 KiB).
    final class RefusalReader: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<(Int, String)>
        var status = 0
        var body: [UInt8] = []
        var done = false

        init(promise: EventLoopPromise<(Int, String)>) { self.promise = promise }

        func finish(_ result: Result<(Int, String), any Error>) {
            guard !done else { return }
            done = true
            promise.completeWith(result)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(let b): if body.count < 4096 { body += b.readableBytesView.prefix(4096 - body.count) }
            case .end:
                finish(.success((status, String(decoding: body, as: UTF8.self))))
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.success((status, String(decoding: body, as: UTF8.self))))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(error))
            context.close(promise: nil)
        }
    }
}


@available(*, unavailable)
extension Spark.ProxyTunnel: Sendable {}

@available(*, unavailable)
extension Spark.RefusalReader: Sendable {}
