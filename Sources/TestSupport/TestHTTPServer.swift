import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP/1.1 side of the fakes of services outside the air gap (the chat robots, the
/// model): a server on `host`, port 0, that hands each request (its head, and a body of at
/// most 1 MiB) to the fake, and writes the fake's answer, after its delay, or none at all.
/// With `tls` (a certificate and its key, PEM files), it speaks HTTPS.
final class TestHTTPServer: Sendable {
    struct Answer: Sendable {
        var status: Int
        var body: String
        var contentType = "application/json"
        /// Answer only after this long (a slow service).
        var delay: Duration?
    }

    /// The fake's reading of a request; nil never answers (a hung service).
    typealias Respond = @Sendable (HTTPRequestHead, [UInt8]) -> Answer?

    let port: Int
    private let channel: any Channel
    private let responder = Responder()

    /// The answerer, set after the server is made (a class: the pipeline holds it).
    final class Responder: Sendable {
        let respond = Mutex<Respond?>(nil)
    }

    init(host: String, tls: (certificate: String, key: String)? = nil) async throws {
        let responder = self.responder
        let context = try tls.map { files in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.key, format: .pem))))
        }
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    if let context { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                }.flatMap {
                    child.pipeline.configureHTTPServerPipeline()
                }.flatMap {
                    child.pipeline.addHandler(Handler { head, body in responder.respond.withLock { $0 }?(head, body) })
                }
            }
            .bind(host: host, port: 0).get()
        port = channel.localAddress!.port!
    }

    /// Who answers the requests (set once the fake is made: it answers as itself).
    func serve(_ answer: @escaping Respond) {
        responder.respond.withLock { $0 = answer }
    }

    func stop() async { try? await channel.close() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let respond: Respond
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(_ respond: @escaping Respond) { self.respond = respond }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = []
            case .body(var b):
                if body.count < 1 << 20 { body += b.readBytes(length: b.readableBytes) ?? [] }
            case .end:
                guard let h = head, let answer = respond(h, body) else { return }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: answer.contentType)
                headers.add(name: "Content-Length", value: String(answer.body.utf8.count))
                let write = { [self] in
                    guard context.channel.isActive else { return }
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .init(statusCode: answer.status), headers: headers))), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
                if let delay = answer.delay {
                    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay / .milliseconds(1)))) { write() }
                } else {
                    write()
                }
            }
        }
    }
}

@available(*, unavailable)
extension TestHTTPServer.Handler: Sendable {}
