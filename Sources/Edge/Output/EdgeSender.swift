import Foundation
import Logging
import NIOCore
import NIOPosix
import Plumbing
import ServiceLifecycle
import Synchronization
import Wire

/// Sends spooled frames and heartbeats to the relay, as RFC 5424 syslog over UDP (one
/// datagram per packet, optionally repeated) or TCP (octet counting), and never over HTTP.
///
/// UDP: a spooled frame is sent and removed. TCP: a frame written to the connection stays
/// spooled for the resend window; when the connection breaks, everything still spooled is
/// sent again after reconnecting (the relay drops what it already had by sequence number).
/// Reconnects back off from 0.5 s to 30 s with jitter.
///
/// A deliberate exception to "no waiting on futures": each UDP datagram's write is awaited
/// (`.get()`) before the frame leaves the spool, so a frame is deleted only once the kernel
/// took all its packets; the sender is one task, and UDP writes complete at once.
package final class EdgeSender: Service, Sendable {
    let configuration: EdgeConfiguration
    let spool: Spool
    let key: EdgeKey
    let group: any EventLoopGroup
    let logger: Logger
    let doorbell = Doorbell()
    private let heartbeats = Mutex<[Frame]>([])
    package let counters = EdgeCounters()

    package init(configuration: EdgeConfiguration, spool: Spool, key: EdgeKey, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.spool = spool
        self.key = key
        self.group = group
        self.logger = logger
    }

    /// New frames are in the spool.
    package func spooled() { doorbell.ring() }

    /// Sends a heartbeat when it can (dropped if the relay is unreachable: a later one says more).
    package func send(heartbeat: Frame) {
        heartbeats.withLock {
            $0.append(heartbeat)
            if $0.count > 4 { $0.removeFirst($0.count - 4) }
        }
        doorbell.ring()
    }

    package func run() async throws {
        let packetizer = Packetizer(edgeID: configuration.edgeID, key: key)
        let envelope = Envelope(hostname: configuration.hostname)
        // On shutdown, wake the loop so it sees it at once instead of at its next timeout.
        try await withGracefulShutdownHandler {
            switch configuration.relay.transport {
            case .udp: try await runUDP(packetizer, envelope)
            case .tcp: await runTCP(envelope)
            }
        } onGracefulShutdown: {
            self.doorbell.ring()
        }
    }

    private func messages(_ frame: Frame, _ packetizer: Packetizer, _ envelope: Envelope) throws -> [String] {
        try envelope.messages(for: frame, packetizer: packetizer, budgetBytes: configuration.budgetBytes)
    }

    private func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: UDP

    private func runUDP(_ packetizer: Packetizer, _ envelope: Envelope) async throws {
        let target = configuration.relay.addresses[0]
        let remote = try SocketAddress.makeAddressResolvingHost(target.host, port: target.port)
        // A plain channel, not an async writer: a frame leaves the spool only once its
        // datagrams were handed to the kernel (the write's future), so a kill -9 between
        // "queued" and "sent" cannot lose it.
        let channel = try await DatagramBootstrap(group: group)
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0).get()
        defer { channel.close(promise: nil) }
        while !Task.isCancelledOrShuttingDown {
            for name in spool.names() {
                // None: damaged (the spool removed and counted it) or unreadable for now.
                guard let entry = spool.entry(name) else { continue }
                let frame = entry.frame(edgeID: configuration.edgeID, sendTimeMilliseconds: nowMilliseconds())
                try await sendUDP(frame, channel, remote, packetizer, envelope)
                spool.remove(name)
                counters.add(.framesSent)
            }
            // Heartbeats after the spooled frames: a heartbeat of a new epoch must not
            // reach the relay before frames of earlier epochs.
            for frame in heartbeats.withLock({ h in defer { h = [] }; return h }) {
                try await sendUDP(frame, channel, remote, packetizer, envelope)
                counters.add(.heartbeatsSent)
            }
            await doorbell.wait(timeout: .seconds(5))
        }
    }

    private func sendUDP(_ frame: Frame, _ channel: any Channel, _ remote: SocketAddress, _ packetizer: Packetizer, _ envelope: Envelope) async throws {
        let texts = try messages(frame, packetizer, envelope)
        for _ in 0..<configuration.relay.redundancy {
            for text in texts {
                try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(string: text))).get()
                counters.add(.datagramsSent)
            }
        }
    }

    // MARK: TCP

    private func runTCP(_ envelope: Envelope) async {
        var backoff = ReconnectBackoff()
        while !Task.isCancelledOrShuttingDown {
            do {
                try await connectAndSend(envelope) { backoff.connected(at: .now) }
            } catch {
                counters.add(.disconnects)
                logger.warning("relay connection lost", metadata: ["error": "\(error)"])
            }
            guard !Task.isCancelledOrShuttingDown else { return }
            // Whatever was sent recently may be lost with the connection: all of it is still
            // spooled and goes again after the reconnect.
            let delay = backoff.ended(at: .now)
            try? await Task.sleep(for: delay * Double.random(in: 0.8...1.2))
        }
    }

    private func connectAndSend(_ envelope: Envelope, connected: () -> Void) async throws {
        var lastError: any Error = EdgeError("no relay address")
        for address in configuration.relay.addresses {
            let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
            do {
                channel = try await ClientBootstrap(group: group)
                    .connectTimeout(.seconds(5))
                    .channelOption(.socketOption(.so_keepalive), value: 1)
                    .connect(host: address.host, port: address.port) { ch in
                        ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
                    }
            } catch {
                lastError = error
                continue
            }
            connected()
            counters.add(.connects)
            logger.info("connected to the relay", metadata: ["address": "\(address.host):\(address.port)"])
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // The relay sends nothing: the inbound side ending means it closed.
                    group.addTask {
                        for try await _ in inbound {}
                        throw EdgeError("the relay closed the connection")
                    }
                    group.addTask {
                        let packetizer = Packetizer(edgeID: self.configuration.edgeID, key: self.key)
                        var sent: [(name: String, at: ContinuousClock.Instant)] = []
                        while !Task.isCancelledOrShuttingDown {
                            let already = Set(sent.map(\.name))
                            for name in self.spool.names() where !already.contains(name) {
                                guard let entry = self.spool.entry(name) else { continue }
                                let frame = entry.frame(edgeID: self.configuration.edgeID, sendTimeMilliseconds: self.nowMilliseconds())
                                try await self.writeTCP(frame, outbound, packetizer, envelope)
                                sent.append((name, .now))
                                self.counters.add(.framesSent)
                            }
                            for frame in self.heartbeats.withLock({ h in defer { h = [] }; return h }) {
                                try await self.writeTCP(frame, outbound, packetizer, envelope)
                                self.counters.add(.heartbeatsSent)
                            }
                            // Past the resend window a frame is taken as delivered.
                            let window = Duration.seconds(self.configuration.spool.resendWindowSeconds)
                            while let first = sent.first, ContinuousClock.now - first.at > window {
                                self.spool.remove(first.name)
                                sent.removeFirst()
                            }
                            await self.doorbell.wait(timeout: .seconds(1))
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
            return
        }
        throw lastError
    }

    private func writeTCP(_ frame: Frame, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ packetizer: Packetizer, _ envelope: Envelope) async throws {
        var buffer = ByteBuffer()
        for text in try messages(frame, packetizer, envelope) { OctetCountingEncoder.encode(text, into: &buffer) }
        try await outbound.write(buffer)
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

/// The wait before the edge connects to the relay again. It doubles from 0.5 s to 30 s while
/// connections fail or end soon after they were made, and starts again from 0.5 s only after
/// a connection that lasted `healthy`: a relay that closes connections under overload (it
/// does, to have dropped frames resent) is not reconnected to twice a second by every edge.
/// A value told the time, so it is tested without waiting.
struct ReconnectBackoff {
    static let first = Duration.milliseconds(500)
    static let most = Duration.seconds(30)
    static let healthy = Duration.seconds(10)

    private(set) var next = first
    private var connectedAt: ContinuousClock.Instant?

    mutating func connected(at now: ContinuousClock.Instant) {
        connectedAt = now
    }

    /// The connection (or the attempt) ended at `now`: how long to wait before the next.
    mutating func ended(at now: ContinuousClock.Instant) -> Duration {
        if let connectedAt, now - connectedAt >= Self.healthy { next = Self.first }
        connectedAt = nil
        let delay = next
        next = min(next * 2, Self.most)
        return delay
    }
}
