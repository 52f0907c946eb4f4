// A relay on loopback for tests of the relay and of the edge (a harness, not a fake: it is
// the real relay with ephemeral ports and its output collected).
import Foundation
import Logging
import NIOCore
import NIOPosix
import Plumbing
import NIOSSL
import NIOTLS
import Relay
import ServiceLifecycle
import Synchronization
import Wire

/// A relay on loopback with ephemeral ports, its items collected for assertions.
package final class RunningRelay: Sendable {
    package let app: RelayApp
    package let udpPort: Int
    /// The UDP listener on ::1, when started with `alsoIPv6`.
    package let udpPort6: Int?
    package let tcpPort: Int
    /// The status server's port (metrics, health, status page), when it runs.
    package let httpPort: Int?
    let collected = Collected()
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    package static let passkey = "relay tests passkey, 32 bytes long"

    /// `port` 0 picks free ports; a given port is used for both UDP and TCP (a restart).
    package static func start(
        limits: RelayConfiguration.Limits = .init(), host: String = "127.0.0.1", port: Int = 0, dataDirectory: URL? = nil,
        policy: EdgeRegistry.Policy = .init(), tickSeconds: Int = 3600, alsoIPv6: Bool = false,
        clock: WallClock = .system, waitClock: any Clock<Duration> = ContinuousClock(),
        configure: (inout RelayConfiguration) -> Void = { _ in }
    ) async throws -> RunningRelay {
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("relay-test-\(UUID().uuidString)")
        var configuration = RelayConfiguration(
            listeners: [.init(transport: .udp, host: host, port: port), .init(transport: .tcp, host: host, port: port)]
                // A second source address for tests, still loopback: ::1 (udpPort6).
                + (alsoIPv6 ? [.init(transport: .udp, host: "::1", port: 0)] : []),
            dataDirectory: directory, passkey: .inline(passkey), limits: limits)
        configuration.edgePolicy = policy
        configuration.tickSeconds = tickSeconds
        configuration.http = .init(host: host, port: 0)
        configure(&configuration)
        var logger = Logger(label: "relay-test")
        logger.logLevel = .warning
        let app = try RelayApp(configuration: configuration, clock: clock, waitClock: waitClock, logger: logger)
        return await RunningRelay(app: app, logger: logger)
    }

    /// Items and plain syslog are observed; the relay takes the same paths as `relay run`.
    private init(app: RelayApp, logger: Logger) async {
        self.app = app
        let collected = self.collected
        app.pipeline.observe(items: { item in collected.items.withLock { $0.append(item) } })
        app.intake.observePlain { message in collected.plain.withLock { $0.append(message) } }
        app.pipeline.observe(incidents: { change in collected.incidents.withLock { $0.append(change) } })
        group = ServiceGroup(services: app.services, logger: logger)
        let group = self.group
        task = Task { try await group.run() }
        udpPort = await app.udpListeners[0].bound.value().port!
        udpPort6 = app.udpListeners.count > 1 ? await app.udpListeners[1].bound.value().port : nil
        tcpPort = await app.tcpListeners[0].bound.value().port!
        if let server = app.statusServer { httpPort = await server.bound.value().port } else { httpPort = nil }
    }

    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        app.intake.finish()
    }

    package var items: [IntakeItem] { collected.items.withLock { $0 } }

    /// Every incident change, in order.
    package var incidentChanges: [IncidentChange] { collected.incidents.withLock { $0 } }

    /// Incidents as they stand now (the latest change of each), by id.
    package var incidents: [Incident] {
        var latest: [Int64: Incident] = [:]
        for change in incidentChanges { latest[change.incident.id] = change.incident }
        return latest.values.sorted { $0.id < $1.id }
    }

    package var frames: [FrameReceiver.Delivery] {
        items.compactMap { if case .frame(let d, _) = $0 { d } else { nil } }
    }

    /// Events the relay raised itself (edge.restarted, edge.loss, edge.silent).
    package var relayEvents: [Event] {
        items.compactMap { if case .relay(let e) = $0 { e } else { nil } }
    }

    /// Plain syslog messages taken, parsed as the relay parses them (those it could not
    /// parse are left out).
    package var syslog: [SyslogMessage] {
        let parser = SyslogParser(maxMessageBytes: app.configuration.limits.maxMessageBytes)
        return collected.plain.withLock { $0 }.compactMap { try? parser.parse($0.bytes) }
    }

    package var syslogEvents: [Event] {
        items.flatMap { item -> [Event] in
            if case .detected(let events, _) = item { return events }
            return []
        }
    }

    /// Events of every edge frame delivered, in arrival order.
    package var edgeEvents: [Event] {
        frames.flatMap { d -> [Event] in
            if case .events(let events) = d.body { return events }
            return []
        }
    }

    package func counter(_ name: String) -> Int { app.intake.counters[name] }

    /// Waits, at most `timeout`, until `condition` holds (no relay needed).
    @discardableResult
    package static func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Waits, at most `timeout`, until the asynchronous `condition` holds.
    @discardableResult
    package static func waitUntilAsync(timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return await condition()
    }

    /// Waits, at most `timeout`, until `condition` holds.
    @discardableResult
    package func wait(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}

final class Collected: Sendable {
    let items = Mutex<[IntakeItem]>([])
    let plain = Mutex<[Intake.PlainMessage]>([])
    let incidents = Mutex<[IncidentChange]>([])
}

/// Sends bytes the way a real sender would, over loopback.
package enum Send {
    /// Sends datagrams from `from` (any 127.x.y.z works on Linux loopback) to `host:port`.
    package static func udp(_ datagrams: [[UInt8]], port: Int, host: String = "127.0.0.1", from: String? = nil) async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: from ?? (host == "::1" ? "::1" : "127.0.0.1"), port: 0) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: ch)
                }
            }
        let remote = try SocketAddress(ipAddress: host, port: port)
        try await channel.executeThenClose { _, outbound in
            for d in datagrams {
                try await outbound.write(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: d)))
            }
        }
    }

    /// Opens one TCP connection, writes `bytes` (in pieces of `piece` bytes), closes.
    package static func tcp(_ bytes: [UInt8], port: Int, piece: Int = 1 << 20) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch)
                }
            }
        try await channel.executeThenClose { _, outbound in
            var i = 0
            while i < bytes.count {
                try await outbound.write(ByteBuffer(bytes: bytes[i..<min(bytes.count, i + piece)]))
                i += piece
            }
        }
    }

    /// One HTTP/1.1 GET on loopback: the status code and the body.
    /// Without an answer within `timeout` the connection is closed and the status is 0.
    package static func httpGet(
        port: Int, path: String, method: String = "GET", timeout: Duration = .seconds(60)
    ) async throws -> (status: Int, headers: String, body: String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { ch in
                ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
            }
        let raw = channel.channel
        let timer = raw.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
            + timeout.components.attoseconds / 1_000_000_000)) { raw.close(promise: nil) }
        defer { timer.cancel() }
        var received: [UInt8] = []
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
            for try await var chunk in inbound { received += chunk.readBytes(length: chunk.readableBytes) ?? [] }
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (0, text, "") }
        let head = String(text[..<split.lowerBound])
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, head, String(text[split.upperBound...]))
    }

    /// Writes `bytes` on a new loopback TCP connection and returns everything read until the
    /// peer closes it or `timeout` passes.
    package static func exchange(_ bytes: [UInt8], port: Int, timeout: Duration = .seconds(5)) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { ch in
                ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
            }
        let received = Mutex<[UInt8]>([])
        let raw = channel.channel
        let timer = raw.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
            + timeout.components.attoseconds / 1_000_000_000)) { raw.close(promise: nil) }
        try? await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: bytes))
            for try await var chunk in inbound { received.withLock { $0 += chunk.readBytes(length: chunk.readableBytes) ?? [] } }
        }
        timer.cancel()
        return received.withLock { $0 }
    }

    /// Opens one TLS connection (trusting `trust`, a PEM file), writes `bytes`, closes.
    package static func tls(_ bytes: [UInt8], port: Int, trust: String, serverName: String = "localhost") async throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trust))
        let context = try NIOSSLContext(configuration: configuration)
        let handshake = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try ch.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: handshake))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch)
                }
            }
        try await channel.executeThenClose { _, outbound in
            // Closing before the handshake is done would lose what was written.
            try await handshake.futureResult.get()
            try await outbound.write(ByteBuffer(bytes: bytes))
        }
    }

    final class HandshakeWaiter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let promise: EventLoopPromise<Void>
        init(promise: EventLoopPromise<Void>) { self.promise = promise }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { promise.succeed(()) }
            context.fireUserInboundEventTriggered(event)
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.fireErrorCaught(error)
        }
        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }
    }

    package static func octetCounted(_ messages: [String]) -> [UInt8] {
        OctetCountingEncoder.stream(messages)
    }

    /// Runs util-linux `logger` with `arguments`; returns its exit status.
    @discardableResult
    package static func logger(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/logger")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

package enum EdgeFixture {
    package static let edge = EdgeID(rawValue: "web-01")!

    package static func messages(
        events: [Event], sequence: UInt64, epoch: UInt32 = 1000, edge: EdgeID = edge, passkey: String = RunningRelay.passkey,
        generation: UInt16 = 1, budget: Int = Envelope.udpBudgetBytes, sendTime: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) throws -> [[UInt8]] {
        try messages(
            body: .events(events), sequence: sequence, epoch: epoch, edge: edge, passkey: passkey, generation: generation, budget: budget,
            sendTime: sendTime)
    }

    package static func messages(
        body: FrameBody, sequence: UInt64, epoch: UInt32 = 1000, edge: EdgeID = edge, passkey: String = RunningRelay.passkey,
        generation: UInt16 = 1, budget: Int = Envelope.udpBudgetBytes, sendTime: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) throws -> [[UInt8]] {
        let key = try Passkey(passkey).edgeKey(for: edge, generation: generation)
        let encoder = try FrameEncoder(edgeID: edge, key: key)
        let frame = try encoder.makeFrame(body, epoch: epoch, sequence: sequence, sendTimeMilliseconds: sendTime)
        return try Envelope(hostname: edge.rawValue).messages(for: frame, encoder: encoder, budgetBytes: budget).map { Array($0.utf8) }
    }

    package static func event(_ n: Int) -> Event {
        Event(
            kind: .login, outcome: .failure, timeMicroseconds: 1_795_939_815_000_000 + Int64(n), host: "web-01", program: "sshd",
            pid: Int64(1000 + n), user: "admin\(n)", sourceIP: "203.0.113.9", sourcePort: Int64(40000 + n), method: "password",
            rule: "sshd.failed_password", severity: .medium,
            raw: "Nov 29 16:10:15 web-01 sshd[\(1000 + n)]: Failed password for admin\(n) from 203.0.113.9 port \(40000 + n) ssh2 \(String(repeating: "x", count: n % 200))")
    }
}

/// A real rsyslogd, as a forwarder between senders and the relay: started in the
/// foreground with its own configuration, input on loopback, killed on `stop`.
package final class Rsyslog: Sendable {
    package let inputPort: Int
    let process: SpawnedProcess
    package let directory: URL

    /// `forward` is the omfwd action's parameters, e.g.
    /// `protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"`.
    package convenience init(forwardTo port: Int, _ forward: String) throws {
        try self.init { directory, inputPort in
            """
            global(workDirectory="\(directory.path)" maxMessageSize="64k")
            module(load="imudp")
            input(type="imudp" address="127.0.0.1" port="\(inputPort)")
            *.* action(type="omfwd" target="127.0.0.1" port="\(port)" \(forward)
                       action.resumeRetryCount="-1" queue.type="LinkedList" queue.size="100000")

            """
        }
    }

    /// rsyslogd on the configuration `configuration` returns for its own work directory and an
    /// input port free on loopback (UDP and TCP) that the configuration must listen on.
    package convenience init(configuration: (_ directory: URL, _ inputPort: Int) throws -> String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rsyslog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let inputPort = try FreePort.pick(1)[0]
        try configuration(directory, inputPort).write(to: directory.appendingPathComponent("rsyslog.conf"), atomically: true, encoding: .utf8)
        try self.init(directory: directory, inputPort: inputPort)
    }

    private init(directory: URL, inputPort: Int) throws {
        self.directory = directory
        self.inputPort = inputPort
        let log = directory.appendingPathComponent("rsyslogd.out").path
        process = try SpawnedProcess(
            "/usr/sbin/rsyslogd",
            ["-n", "-f", directory.appendingPathComponent("rsyslog.conf").path, "-i", directory.appendingPathComponent("rsyslogd.pid").path],
            output: log)
    }

    /// Stops rsyslogd as systemd does (SIGTERM; it saves its queues if configured to) and
    /// keeps its directory; false if it did not exit within `timeout`.
    package func terminate(timeout: Duration = .seconds(30)) async -> Bool {
        await process.terminate(timeout: timeout)
    }

    /// A new rsyslogd on the same configuration, directory (its saved queues) and port.
    package func restarted() throws -> Rsyslog {
        try Rsyslog(directory: directory, inputPort: inputPort)
    }

    /// `rsyslogd -N1` on `configuration`: whether it passes, and what rsyslogd printed.
    package static func check(_ configuration: String) throws -> (passed: Bool, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rsyslog-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("rsyslog.conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/rsyslogd")
        process.arguments = ["-N1", "-f", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0, output)
    }

    package static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd") }

    package func stop() {
        // SIGKILL: with the relay gone, rsyslogd would wait for its queue to drain.
        process.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// What rsyslogd printed (its errors), for test failure messages.
    package var output: String {
        (try? String(contentsOf: directory.appendingPathComponent("rsyslogd.out"), encoding: .utf8)) ?? ""
    }

    deinit { process.kill() }
}

/// A child process started the way systemd starts services: no signal blocked, every signal
/// at its default, no descriptor but its output. (Foundation's `Process` passes on the spawning thread's signal
/// mask; the test runner's threads block SIGTERM, and an rsyslogd started that way ignores
/// the SIGTERM a test sends it to stop it as systemd would.)
package final class SpawnedProcess: Sendable {
    package let pid: pid_t
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `path` with `arguments`, standard output and error appended to `output`.
    package init(_ path: String, _ arguments: [String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the test's: a relay's listening socket left open in the child
        // would outlive the relay and take its port.
        // (glibc 2.34's closefrom action, which Swift does not import: looked up by name.)
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            throw POSIXError(.ENOSYS)
        }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    /// Whether it still runs (reaps it once it has exited).
    package var isRunning: Bool {
        exitStatus.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            return status == nil
        }
    }

    /// SIGTERM, then waits for the exit at most `timeout`; false if it still runs.
    package func terminate(timeout: Duration) async -> Bool {
        guard isRunning else { return true }
        Glibc.kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !isRunning
    }

    /// SIGKILL and reaped.
    package func kill() {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        exitStatus.withLock { status in
            var raw: Int32 = 0
            if status == nil, waitpid(pid, &raw, 0) == pid { status = raw }
        }
    }
}
