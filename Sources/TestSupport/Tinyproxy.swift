import Foundation
import NIOCore
import NIOPosix

/// A real HTTP proxy (Debian's tinyproxy) on loopback, as gateways reach the internet
/// through one: plain requests and CONNECT tunnels, logged.
package final class Tinyproxy: Sendable {
    package let port: Int
    package let directory: URL
    let process: Process

    /// `connectPorts`: the only ports CONNECT may reach (tinyproxy's ConnectPort); empty: any.
    /// `basicAuth`: the user and password the proxy asks for (407 without them).
    package init(connectPorts: [Int] = [], basicAuth: (user: String, password: String)? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A port free on both loopbacks now (a random one was sometimes taken: tinyproxy then
        // could not listen, and the test met "connection refused" far from the cause).
        port = try FreePort.pick(1)[0]
        let config = """
            Port \(port)
            Listen 127.0.0.1
            Timeout 60
            Allow 127.0.0.1
            LogFile "\(directory.path)/tinyproxy.log"
            LogLevel Info
            PidFile "\(directory.path)/tinyproxy.pid"
            MaxClients 50
            \(connectPorts.map { "ConnectPort \($0)" }.joined(separator: "\n"))
            \(basicAuth.map { "BasicAuth \($0.user) \($0.password)" } ?? "")

            """
        let file = directory.appendingPathComponent("tinyproxy.conf")
        try config.write(to: file, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["-d", "-c", file.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Listening when a connection succeeds (at most 5 s).
        for _ in 0..<100 {
            if (try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get())
                .map({ $0.close(promise: nil) }) != nil
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("tinyproxy.log"), encoding: .utf8)) ?? ""
        throw TinyproxyError(description: "tinyproxy is not listening on 127.0.0.1:\(port) after 5 s (running: \(process.isRunning)); its log: \(log.suffix(1000))")
    }

    package struct TinyproxyError: Error, CustomStringConvertible {
        package let description: String
    }

    static let path = "/usr/bin/tinyproxy"
    package static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// tinyproxy's log: one `CONNECT` line per request it took, with the target.
    package var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("tinyproxy.log"), encoding: .utf8)) ?? ""
    }

    package func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(process.processIdentifier, &status, 0)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
