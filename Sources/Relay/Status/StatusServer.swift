import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import Wire

/// Prometheus `/metrics`, `/healthz` and a small status page (`/`) listing the edges and
/// the latest incidents, over HTTP/1.1 on one address (loopback by default: put a reverse
/// proxy in front to reach it from elsewhere). GET and HEAD only; at most 64 connections,
/// each closed after 30 s without a request.
package struct StatusServer: Service {
    package let address: RelayConfiguration.HTTPAddress
    let app: StatusSource
    let group: any EventLoopGroup
    let logger: Logger
    package let bound = BoundAddress()
    private let open = OpenConnections()
    static let maxConnections = 64

    init(address: RelayConfiguration.HTTPAddress, app: StatusSource, group: any EventLoopGroup, logger: Logger) {
        self.address = address
        self.app = app
        self.group = group
        self.logger = logger
    }

    package func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: address.host, port: address.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try child.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                }
            }
        if let a = server.channel.localAddress { bound.set(a) }
        logger.info("status page, /metrics and /healthz", metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            if open.count.wrappingAdd(1, ordering: .relaxed).newValue > Self.maxConnections {
                                open.count.wrappingSubtract(1, ordering: .relaxed)
                                try? await connection.channel.close()
                                continue
                            }
                            group.addTask {
                                try? await serve(connection)
                                open.count.wrappingSubtract(1, ordering: .relaxed)
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: continue  // GET and HEAD carry none worth reading.
                case .end:
                    guard let h = head else { continue }
                    let (status, type, body) = respond(h)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: type)
                    headers.add(name: "Content-Length", value: String(body.utf8.count))
                    headers.add(name: "Cache-Control", value: "no-store")
                    if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(.head(HTTPResponseHead(version: h.version, status: status, headers: headers)))
                    if h.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
                    try await outbound.write(.end(nil))
                    if !h.isKeepAlive { return }
                    head = nil
                }
            }
        }
    }

    func respond(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "GET or HEAD only\n")
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        switch path {
        case "/metrics": return (.ok, "text/plain; version=0.0.4; charset=utf-8", app.metrics())
        case "/healthz":
            let (healthy, json) = app.health()
            return (healthy ? .ok : .serviceUnavailable, "application/json", json + "\n")
        case "/": return (.ok, "text/html; charset=utf-8", app.statusPage())
        default: return (.notFound, "text/plain; charset=utf-8", "not found: try /, /metrics or /healthz\n")
        }
    }
}

/// What the status server shows, read from the running relay.
struct StatusSource: Sendable {
    let intake: Intake
    let pipeline: Pipeline
    let listeners: [String]
    let started = Date()

    func metrics() -> String {
        let registry = intake.counters.registry
        let edges = intake.edges()
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }
        gauge("relay_edges", "Edges the relay has heard from").set(Double(edges.count))
        gauge("relay_edges_silent", "Edges silent for longer than their heartbeat allows").set(Double(edges.values.filter(\.silent).count))
        gauge("relay_incidents_open", "Incidents open (still counting their group's events)").set(Double(pipeline.openIncidentCount))
        let (frames, bytes, r) = intake.reassemblyState()
        gauge("relay_reassembly_pending_bytes", "Bytes of fragments waiting for the rest of their frame").set(Double(bytes))
        gauge("relay_reassembly_pending_frames", "Frames waiting for more fragments").set(Double(frames))
        for (name, value) in [("completed", r.completed), ("expired", r.expired), ("evicted", r.evicted), ("overflow", r.overflow),
                              ("conflicts", r.conflicts), ("duplicates", r.duplicates)] {
            gauge("relay_reassembly_fragments", "Fragmented frames by outcome since start", [("outcome", name)]).set(Double(value))
        }
        gauge("relay_uptime_seconds", "Seconds since the relay started").set(Date().timeIntervalSince(started))
        return registry.emitToString()
    }

    /// Healthy while the store is being written (no write error since the last success).
    func health() -> (Bool, String) {
        let storeOK = pipeline.storeHealthy
        let edges = intake.edges()
        let json = "{\"status\": \(Event.quoted(storeOK ? "ok" : "store_unwritable")), \"listeners\": [\(listeners.map(Event.quoted).joined(separator: ", "))], "
            + "\"edges\": \(edges.count), \"silent_edges\": \(edges.values.filter(\.silent).count), \"open_incidents\": \(pipeline.openIncidentCount)}"
        return (storeOK, json)
    }

    func statusPage() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func ago(_ ms: Int64?) -> String { ms.map { "\(max(0, now - $0) / 1000) s ago" } ?? "never" }
        var rows = ""
        for (id, r) in intake.edges().sorted(by: { $0.key < $1.key }) {
            rows += "<tr class=\"\(r.silent ? "bad" : "ok")\"><td>\(esc(id))</td><td>\(r.silent ? "SILENT" : "ok")</td><td>\(ago(r.lastFrameMilliseconds))</td>"
                + "<td>\(ago(r.lastHeartbeatMilliseconds))</td><td>\(r.epoch)</td><td>\(r.frames)</td><td>\(r.framesLost)</td><td>\(r.restarts)</td><td>\(esc(r.previousKey ?? "current"))</td></tr>\n"
        }
        if rows.isEmpty { rows = "<tr><td colspan=9>no edge heard yet</td></tr>\n" }
        var incidents = ""
        for i in (try? pipeline.store.recentIncidents(limit: 30)) ?? [] {
            incidents += "<tr class=\"\(i.severity.rawValue)\"><td>#\(i.id)</td><td>\(SyslogTimestamp.iso8601UTC(microseconds: i.lastSeen, fractionDigits: 0))</td>"
                + "<td>\(i.severity.rawValue)</td><td>\(esc(i.kind))</td><td>\(i.count)</td><td>\(esc(i.title))</td><td>\(i.status.rawValue)</td></tr>\n"
        }
        if incidents.isEmpty { incidents = "<tr><td colspan=7>no incident yet</td></tr>\n" }
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>relay status</title>
            <style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
            .bad,.critical{background:#fdd}.high{background:#fed}</style></head><body>
            <h1>relay \(esc(RelayApp.version))</h1>
            <p>listening on \(esc(listeners.joined(separator: ", "))); up \(Int(Date().timeIntervalSince(started))) s; <a href="/metrics">metrics</a>, <a href="/healthz">health</a></p>
            <h2>edges</h2>
            <table><tr><th>edge</th><th>state</th><th>last frame</th><th>last heartbeat</th><th>epoch</th><th>frames</th><th>lost</th><th>restarts</th><th>key</th></tr>
            \(rows)</table>
            <h2>latest incidents</h2>
            <table><tr><th>id</th><th>last seen (UTC)</th><th>severity</th><th>kind</th><th>count</th><th>what</th><th>state</th></tr>
            \(incidents)</table>
            </body></html>

            """
    }
}
