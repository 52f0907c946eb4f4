import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle
import Synchronization
import Wire

/// The address a listener actually bound, once it has (port 0 becomes a real port).
package final class BoundAddress: Sendable {
    private let state = Mutex<(address: SocketAddress?, waiters: [CheckedContinuation<SocketAddress, Never>])>((nil, []))

    package init() {}

    func set(_ address: SocketAddress) {
        let waiters = state.withLock { state in
            state.address = address
            defer { state.waiters = [] }
            return state.waiters
        }
        for w in waiters { w.resume(returning: address) }
    }

    /// Waits until the listener has bound.
    package func value() async -> SocketAddress {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> SocketAddress? in
                if let address = state.address { return address }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Syslog over UDP (RFC 5426): one message per datagram.
package struct UDPListener: Service {
    package let listener: RelayConfiguration.Listener
    let intake: Intake
    let group: any EventLoopGroup
    let limits: RelayConfiguration.Limits
    package let bound = BoundAddress()
    let logger: Logger

    package func run() async throws {
        let intake = self.intake, maxBytes = limits.maxMessageBytes
        // No SO_REUSEADDR: on a UDP socket it lets any local user bind the same port with it
        // and take the datagrams (Linux delivers unicast to the last socket bound), blinding
        // the relay. UDP has no TIME_WAIT, so a restart does not need it.
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_rcvbuf), value: 8 << 20)
            // recvmmsg splits the buffer evenly between the datagrams of one read: each slot
            // holds the largest message plus one byte, so a longer datagram is seen (and
            // refused as oversized) instead of being cut short without a word.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.vector * Self.slot(maxBytes)))
            .channelOption(.maxMessagesPerRead, value: 64)
            .channelOption(.datagramVectorReadMessageCount, value: Self.vector)
            .channelInitializer { channel in
                // Each datagram is handled on the event loop that read it: no hop, no queue
                // between the socket and the intake (whose own queue is bounded).
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPIntakeHandler(intake: intake, maxMessageBytes: maxBytes))
                }
            }
            .bind(host: listener.host, port: listener.port).get()
        if root, let size = Self.forcedReceiveBuffer {
            // As root, raise the receive buffer past net.core.rmem_max: bursts wait in the
            // kernel instead of being dropped there.
            _ = try? await channel.setOption(.socketOption(.init(rawValue: SO_RCVBUFFORCE)), value: size).get()
        }
        if let address = channel.localAddress { bound.set(address) }
        logger.info("listening", metadata: ["listener": "\(listener)", "address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        // Ends on graceful shutdown and on cancellation (another service failed: waiting on
        // the close future alone kept the relay alive, deaf to SIGTERM).
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Asked of the kernel as root (SO_RCVBUFFORCE); Linux doubles it for its bookkeeping,
    /// so the socket holds 128 MiB, as rsyslog's imudp with `rcvbufSize="64m"` does.
    static let forcedReceiveBuffer: Int? = 64 << 20
    /// Datagrams read per system call.
    static let vector = 32
    /// Bytes of the read buffer per datagram: the largest message plus one (a UDP payload is
    /// at most 65,507 bytes).
    static func slot(_ maxMessageBytes: Int) -> Int { min(maxMessageBytes, 65_507) + 1 }
    var root: Bool { geteuid() == 0 }
}

/// Hands each datagram to the intake.
///
/// A deliberate exception to "bytes in handlers, decisions in async code": the intake's work
/// (verifying, reassembling, detecting in plain syslog) runs here, on the event loop, without
/// a hop to a task per datagram. That is what lets one relay take a million-message flood
/// (docs/benchmarks.md); the intake is bounded per message and hands its results to the
/// pipeline through a bounded queue, so the loop never waits on the store or a robot.
final class UDPIntakeHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let intake: Intake
    let maxMessageBytes: Int

    init(intake: Intake, maxMessageBytes: Int) {
        self.intake = intake
        self.maxMessageBytes = maxMessageBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        guard datagram.data.readableBytes <= maxMessageBytes else {
            intake.counters.add("relay_rejected_total{reason=\"oversized\"}")
            return
        }
        intake.handle(datagram.data.readableBytesView, sender: datagram.remoteAddress.ipAddress ?? "unknown", transport: .udp)
    }
}

/// Syslog over TCP (RFC 6587): octet counting or LF framing, detected per connection.
package struct TCPListener: Service {
    package let listener: RelayConfiguration.Listener
    let intake: Intake
    let group: any EventLoopGroup
    let limits: RelayConfiguration.Limits
    package let bound = BoundAddress()
    let logger: Logger
    /// Shared by every TCP and TLS listener: the caps are the relay's, not a listener's.
    private let connections: ConnectionTable

    /// Set for a `tls` listener: TLS is the first handler of every connection.
    let tls: NIOSSLContext?

    init(
        listener: RelayConfiguration.Listener, intake: Intake, group: any EventLoopGroup, limits: RelayConfiguration.Limits,
        connections: ConnectionTable, tls: NIOSSLContext? = nil, logger: Logger
    ) {
        self.listener = listener
        self.intake = intake
        self.group = group
        self.limits = limits
        self.connections = connections
        self.tls = tls
        self.logger = logger
    }

    package func run() async throws {
        let limits = self.limits
        let tls = self.tls
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .bind(host: listener.host, port: listener.port) { child in
                child.eventLoop.makeCompletedFuture {
                    if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(SyslogStreamDecoder(maxMessageBytes: limits.maxMessageBytes)))
                    try child.pipeline.syncOperations.addHandler(ConnectionDeadlines(limits: limits, tls: tls != nil))
                    return try NIOAsyncChannel<SyslogFrame, Never>(wrappingChannelSynchronously: child)
                }
            }
        if let address = server.channel.localAddress { bound.set(address) }
        logger.info("listening", metadata: ["listener": "\(listener)", "address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")"])
        do {
            try await cancelWhenGracefulShutdown { try await acceptConnections(server) }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    private func acceptConnections(_ server: NIOAsyncChannel<NIOAsyncChannel<SyslogFrame, Never>, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        let sender = connection.channel.remoteAddress?.ipAddress ?? "unknown"
                        if let refusal = self.connections.admit(sender) {
                            intake.counters.add("relay_connections_refused_total{reason=\"\(refusal)\"}")
                            try? await connection.channel.close()
                            continue
                        }
                        group.addTask {
                            await handle(connection)
                            self.connections.release(sender)
                        }
                    }
                }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<SyslogFrame, Never>) async {
        let sender = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        intake.counters.add("relay_connections_total")
        do {
            try await connection.executeThenClose { inbound, _ in
                for try await frame in inbound {
                    switch frame {
                    case .message(let buffer):
                        if intake.handle(buffer.readableBytesView, sender: sender, transport: listener.transport) == .frameDropped {
                            // The edge resends what it sent recently when it reconnects.
                            intake.counters.add("relay_connections_closed_total{reason=\"frame_dropped\"}")
                            return
                        }
                    case .oversized:
                        intake.counters.add("relay_rejected_total{reason=\"oversized\"}")
                    }
                }
            }
        } catch let error as WireError {
            intake.counters.add("relay_rejected_total{reason=\"\(error.reason)\"}")
            logger.debug("closed connection", metadata: ["sender": "\(sender)", "reason": "\(error.reason)"])
        } catch let error as NIOSSLError {
            intake.counters.add("relay_rejected_total{reason=\"tls\"}")
            logger.debug("TLS failed", metadata: ["sender": "\(sender)", "error": "\(error)"])
        } catch let error as BoringSSLError {
            intake.counters.add("relay_rejected_total{reason=\"tls\"}")
            logger.debug("TLS failed", metadata: ["sender": "\(sender)", "error": "\(error)"])
        } catch {
            logger.debug("connection ended", metadata: ["sender": "\(sender)", "error": "\(error)"])
        }
    }
}

final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// The TCP and TLS connections open, over all listeners and by address, against the
/// relay's caps: idle connections from one address (or from many) cannot use up the
/// descriptors that new edges, the store and the robots need.
package final class ConnectionTable: Sendable {
    package let maxTotal: Int
    package let maxPerSource: Int
    /// Sources the operator listed (`edges.sources`, `plain_syslog.from`): a quarter of
    /// `maxTotal` is kept for them, so that connections from anywhere else (an attacker
    /// holding idle connections from many addresses) cannot lock the known edges out.
    package let known: [IPRange]
    private let state = Mutex<(total: Int, bySource: [String: Int])>((0, [:]))

    package init(maxTotal: Int, maxPerSource: Int, known: [IPRange] = []) {
        self.maxTotal = maxTotal
        self.maxPerSource = maxPerSource
        self.known = known
    }

    /// Places only known sources may take.
    package var reserved: Int { known.isEmpty ? 0 : maxTotal / 4 }

    /// The relay's caps, with the total held below the descriptors the process may open:
    /// the soft RLIMIT_NOFILE is raised to the hard one, and `reserve` of it kept for
    /// everything else. Returns the table and whether the configured total was lowered.
    package static func fitted(_ limits: RelayConfiguration.Limits, known: [IPRange] = [], reserve: Int = 256) -> (ConnectionTable, lowered: Int?) {
        var rl = rlimit()
        var available = Int.max
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 {
            if rl.rlim_cur < rl.rlim_max {
                var raised = rl
                raised.rlim_cur = rl.rlim_max
                if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { rl = raised }
            }
            available = Int(clamping: rl.rlim_cur)  // RLIM_INFINITY is UInt64.max: clamped to Int.max
        }
        let total = max(1, min(limits.maxConnections, available - reserve))
        return (ConnectionTable(maxTotal: total, maxPerSource: limits.maxConnectionsPerSource, known: known),
                total < limits.maxConnections ? total : nil)
    }

    /// The key a source is counted under: its address, or for IPv6 its /64 (one host holds
    /// a whole /64 to pick addresses from).
    static func sourceKey(_ source: String) -> String {
        guard source.contains(":") else { return source }
        var address = in6_addr()
        guard inet_pton(AF_INET6, source, &address) == 1 else { return source }
        return withUnsafeBytes(of: &address) { bytes in bytes.prefix(8).map { String(format: "%02x", $0) }.joined() } + "::/64"
    }

    /// Takes a place for a connection from `source`; the reason when there is none.
    package func admit(_ source: String) -> String? {
        let limit = maxTotal - (reserved > 0 && !known.contains { $0.contains(source) } ? reserved : 0)
        let key = Self.sourceKey(source)
        return state.withLock { s in
            guard s.total < limit else { return "total" }
            guard s.bySource[key, default: 0] < maxPerSource else { return "per_source" }
            s.total += 1
            s.bySource[key, default: 0] += 1
            return nil
        }
    }

    package func release(_ source: String) {
        let source = Self.sourceKey(source)
        state.withLock { s in
            s.total -= 1
            let n = s.bySource[source, default: 1] - 1
            s.bySource[source] = n > 0 ? n : nil
        }
    }

    package var open: Int { state.withLock { $0.total } }
}

/// Closes a TCP connection that completes no message for `idle_timeout_seconds` (bytes
/// that never make a message do not count: one byte a minute held a connection forever),
/// that has been open `max_connection_seconds`, or whose TLS handshake has not completed
/// within `tls_handshake_seconds`. Sits after the framing decoder, which passes it each
/// message and the TLS handshake's event.
final class ConnectionDeadlines: ChannelInboundHandler {
    typealias InboundIn = SyslogFrame
    typealias InboundOut = SyslogFrame

    let idle: TimeAmount
    let lifetime: TimeAmount
    let handshake: TimeAmount?
    private var opened = NIODeadline.now()
    private var lastMessage = NIODeadline.now()
    private var handshakeDone = false
    private var check: RepeatedTask?

    init(limits: RelayConfiguration.Limits, tls: Bool) {
        idle = .seconds(Int64(limits.idleTimeoutSeconds))
        lifetime = .seconds(Int64(limits.maxConnectionSeconds))
        handshake = tls ? .seconds(Int64(limits.tlsHandshakeSeconds)) : nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        opened = .now()
        lastMessage = opened
        // Checked a few times per the shortest deadline, at most once a second.
        let shortest = min(idle, lifetime, handshake ?? idle)
        let every = TimeAmount.nanoseconds(max(100_000_000, min(1_000_000_000, shortest.nanoseconds / 4)))
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { [weak self] _ in
            guard let self else { return }
            let now = NIODeadline.now()
            let expired = now - self.lastMessage >= self.idle || now - self.opened >= self.lifetime
                || (!self.handshakeDone && self.handshake.map { now - self.opened >= $0 } ?? false)
            if expired { loopBound.value.close(promise: nil) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastMessage = .now()
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { handshakeDone = true }
        context.fireUserInboundEventTriggered(event)
    }
}

@available(*, unavailable)
extension ConnectionDeadlines: Sendable {}

/// Closes a connection when IdleStateHandler says it has been quiet too long.
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
