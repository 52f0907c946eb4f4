import Foundation
import Testing
import TestSupport
import Wire

@testable import Relay

/// `/metrics`, `/healthz` and the status page over a real loopback connection.
@Suite("Status server", .serialized)
struct StatusServerTests {
    @Test func metricsHealthAndStatusPage() async throws {
        let relay = try await RunningRelay.start()
        let port = try #require(relay.httpPort)
        // One genuine frame with five failed attempts (a brute force), one forged frame (an
        // edge.forgery incident).
        try await Send.udp(try EdgeFixture.messages(events: (0..<5).map(EdgeFixture.event), sequence: 1), port: relay.udpPort)
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(9)], sequence: 2, passkey: "somebody else's passkey here"), port: relay.udpPort)
        await relay.wait { relay.incidents.count == 2 && relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 1 }
        #expect(Set(relay.incidents.map(\.kind)) == ["brute_force", "edge.forgery"])
        relay.app.pipeline.flush()

        let metrics = try await Send.httpGet(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers.contains("text/plain; version=0.0.4"))
        #expect(metrics.body.contains("relay_messages_total{transport=\"udp\"} 2"), "\(metrics.body)")
        #expect(metrics.body.contains("relay_rejected_total{reason=\"bad_mac\"} 1"))
        #expect(metrics.body.contains("relay_edge_events_total 5"))
        #expect(metrics.body.contains("relay_incidents_opened_total{severity=\"high\"} 2"))
        #expect(metrics.body.contains("relay_stored_events_total 6"), "five logins and the relay's edge.forgery")
        #expect(metrics.body.contains("relay_edges 1"))
        #expect(metrics.body.contains("relay_incidents_open 2"))
        #expect(metrics.body.contains("# TYPE relay_rejected_total counter"))

        let health = try await Send.httpGet(port: port, path: "/healthz")
        #expect(health.status == 200)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
        #expect(json["status"] as? String == "ok" && json["edges"] as? Int == 1 && json["open_incidents"] as? Int == 2)

        let page = try await Send.httpGet(port: port, path: "/")
        #expect(page.status == 200 && page.headers.contains("text/html"))
        #expect(page.body.contains("<td>web-01</td>"))
        #expect(page.body.contains("brute force from 203.0.113.9"))

        #expect(try await Send.httpGet(port: port, path: "/nothing").status == 404)
        #expect(try await Send.httpGet(port: port, path: "/metrics", method: "POST").status == 405)
        let head = try await Send.httpGet(port: port, path: "/healthz", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        await relay.stop()
    }

    @Test func hostileEdgeNamesAreEscapedOnThePage() async throws {
        let relay = try await RunningRelay.start()
        // Edge ids are restricted to A-Z a-z 0-9 . _ -, but incident titles carry user names
        // from log lines: those must not become markup.
        let evil = Event(kind: .accountCreated, outcome: .success, timeMicroseconds: 1_795_939_815_000_000, host: "web-01", program: "useradd",
                         targetUser: "<script>alert(1)</script>", rule: "useradd.user", severity: .medium, raw: "new user")
        try await Send.udp(try EdgeFixture.messages(events: [evil], sequence: 1), port: relay.udpPort)
        await relay.wait { relay.incidents.count == 1 }
        relay.app.pipeline.flush()
        let page = try await Send.httpGet(port: try #require(relay.httpPort), path: "/")
        #expect(!page.body.contains("<script>"))
        #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        await relay.stop()
    }
}
