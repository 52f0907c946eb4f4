// The real relay binary (`.build/debug/relay run`) on loopback, for tests that must go
// through what operators run: its own process, its own configuration file, its console
// output collected, stopped with SIGTERM or killed.
import Foundation
import Synchronization

package final class RelayProcess: Sendable {
    package let directory: URL
    package let udpPort: Int
    package let tcpPort: Int
    package let httpPort: Int
    package let configPath: String
    let process: Mutex<Process?> = Mutex(nil)
    let output = OutputBuffer()

    /// The binary the tests were built with.
    package static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/relay").path
    }

    /// Writes a configuration (`extra` YAML appended) in a new directory and starts the relay.
    /// `httpPort` puts the status server on a given port (one a test occupies, say).
    package init(extra: String = "", directory: URL? = nil, httpPort: Int? = nil) throws {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("relay-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.directory = dir
        let ports = try FreePort.pick(3)
        (udpPort, tcpPort, self.httpPort) = (ports[0], ports[0], httpPort ?? ports[2])
        configPath = dir.appendingPathComponent("relay.yaml").path
        let passkey = dir.appendingPathComponent("passkey").path
        _ = FileManager.default.createFile(atPath: passkey, contents: Data(RunningRelay.passkey.utf8), attributes: [.posixPermissions: 0o600])
        let yaml = """
            listen:
              - udp: "127.0.0.1:\(udpPort)"
              - tcp: "127.0.0.1:\(tcpPort)"
              - udp: "[::1]:\(udpPort)"
              - tcp: "[::1]:\(tcpPort)"
            http: "127.0.0.1:\(self.httpPort)"
            data_directory: \(dir.path)/data
            passkey_file: \(passkey)

            """ + extra
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts (again) the relay on the same configuration and data.
    package func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run", "--config", configPath]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let output = self.output
        out.fileHandleForReading.readabilityHandler = { handle in
            let d = handle.availableData
            output.data.withLock { $0.append(d) }
        }
        try p.run()
        process.withLock { $0 = p }
    }

    /// Everything the relay printed so far (console and log lines).
    package var printed: String { output.data.withLock { String(decoding: $0, as: UTF8.self) } }

    package var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }

    /// Resident memory of the running relay, in bytes (from /proc).
    package var residentBytes: Int? {
        process.withLock({ $0?.processIdentifier }).flatMap(Self.residentBytes(of:))
    }

    /// Resident memory of any process, in bytes (from /proc: Linux only).
    package static func residentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kb * 1024
    }

    /// The exit status once it has ended.
    package var terminationStatus: Int32? { process.withLock { p in p.flatMap { $0.isRunning ? nil : $0.terminationStatus } } }

    /// Waits until the relay answers /healthz (it has bound its sockets).
    package func waitUntilReady(timeout: Duration = .seconds(20)) async -> Bool {
        await RunningRelay.waitUntilAsync(timeout: timeout) { await self.healthy() }
    }

    /// Whether /healthz answers 200 within two seconds.
    package func healthy() async -> Bool {
        guard let answer = try? await Send.httpGet(port: httpPort, path: "/healthz", timeout: .seconds(2)) else { return false }
        return answer.status == 200
    }

    /// SIGTERM, then SIGKILL after `grace`; returns whether it ended within the grace.
    @discardableResult
    package func stop(grace: Duration = .seconds(10)) async -> Bool {
        guard let p = process.withLock({ $0 }), p.isRunning else { return true }
        p.terminate()
        let ended = await RunningRelay.waitUntilAsync(timeout: grace) { !p.isRunning }
        if !ended { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return ended
    }

    /// SIGKILL at once.
    package func kill9() {
        guard let p = process.withLock({ $0 }), p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Runs the binary with other arguments (`alerts --json`, `status`) on this configuration,
    /// waiting on a thread of its own (not one of the few that run every test).
    package func command(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try self.commandBlocking(arguments) }) }.start()
        }
    }

    func commandBlocking(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = arguments + ["--config", configPath]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    deinit {
        if let p = process.withLock({ $0 }), p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

final class OutputBuffer: Sendable {
    let data = Mutex(Data())
}

/// Free ports on 127.0.0.1 and ::1 for both UDP and TCP, from 20000-29999: below the kernel's
/// ephemeral range (32768-60999), so no test that binds port 0 can be handed one of them
/// between this check and the relay's bind.
package enum FreePort {
    package static func pick(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts < 1000 else { throw POSIXError(.EADDRINUSE) }
            let port = Int.random(in: 20000..<30000)
            if !ports.contains(port), bindable(port, SOCK_STREAM), bindable(port, SOCK_DGRAM) { ports.append(port) }
        }
        return ports
    }

    /// Whether each of `ports` can be bound now, for TCP and UDP, on 127.0.0.1 and ::1 (a
    /// test that needs fixed ports, such as `relay run`'s defaults).
    package static func free(_ ports: [Int]) -> Bool {
        ports.allSatisfy { bindable($0, SOCK_STREAM) && bindable($0, SOCK_DGRAM) }
    }

    /// Whether `port` can be bound on 127.0.0.1 and on ::1 (the relay a test starts listens
    /// on both, so a test has two source addresses, both loopback).
    static func bindable(_ port: Int, _ type: __socket_type) -> Bool {
        let v4 = socket(AF_INET, Int32(type.rawValue), 0)
        defer { close(v4) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(v4, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0
        else { return false }
        let v6 = socket(AF_INET6, Int32(type.rawValue), 0)
        defer { close(v6) }
        var address6 = sockaddr_in6()
        address6.sin6_family = sa_family_t(AF_INET6)
        address6.sin6_addr = in6addr_loopback
        address6.sin6_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(v6, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
    }
}
