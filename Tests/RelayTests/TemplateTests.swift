import Detection
import Foundation
import Plumbing
import Testing
import TestSupport
import Wire

@testable import Relay

/// A channel's own message layout, from its configuration to the robot.
@Suite("Message templates", .serialized)
struct TemplateTests {
    @Test func aChannelsTemplateShapesItsAlerts() async throws {
        let fake = try await FakeDingTalk()
        let yaml = """
            channels:
              - type: dingtalk
                webhook: "\(fake.webhook)"
                secret: "\(fake.secret!)"
                keyword: 告警
                min_severity: high
                template:
                  title: "{severity}: {title}"
                  text: |
                    ## 安全告警 {id}
                    主机 {host}，来源 {source_ip}，共 {count} 次
                    目标账号：{target_user}
                    {evidence}
            """
        let channels = try RelayConfiguration.parse(yaml, origin: "relay.yaml").channels
        let relay = try await RunningRelay.start { $0.channels = channels }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.80", sequence: 1)
        await relay.wait { fake.accepted.count == 1 }
        await relay.stop()
        await fake.stop()
        let message = try #require(fake.accepted.first)
        // The fake keeps a markdown message as its title, a newline, then its text.
        let (title, text) = try #require(message.text.firstIndex(of: "\n").map { (String(message.text[..<$0]), String(message.text[message.text.index(after: $0)...])) })
        #expect(title == "[告警] 高: brute force from 203.0.113.80 against web-01", "\(title)")
        #expect(text.hasPrefix("## 安全告警 \\#1\n主机 web-01，来源 203.0.113.80，共 5 次\n> Nov 29 16:10:15 web-01 sshd\\[1000\\]: Failed password"), "\(text)")
        #expect(!text.contains("目标账号"), "a line with nothing to show is left out")
        #expect(fake.refusals.isEmpty)
    }

    @Test func theTemplateKeepsTheHeadlineAndShortensTheEvidence() {
        var i = Incident(id: 7, key: "k", rule: "brute-force", kind: "brute_force", severity: .high, title: "brute force from 203.0.113.9", count: 40,
                         firstSeen: 0, lastSeen: 0, lastArrival: 0, status: .open, evidence: [], hosts: [])
        i.evidence = (0..<10).map { "sshd[\($0)]: Failed password for [evil](http://x) from 203.0.113.9 " + String(repeating: "x", count: 500) }
        i.user = "a*b"
        let t = AlertTemplate(title: "{title}", text: "# {title}\nUser {user} ({group})\n{analysis}\n{evidence}")
        let m = AlertMessage.incident(i, language: .en, keyword: "ALERT", maxBytes: 4000, analysis: nil, template: t)
        #expect(m.title == "[ALERT] brute force from 203.0.113.9")
        #expect(m.text.hasPrefix("[ALERT]\n\n# brute force from 203.0.113.9\nUser a\\*b ()\n> sshd\\[0\\]: Failed password for \\[evil\\]\\(hxxp\\[://\\]x\\)"), "\(m.text)")
        #expect(m.text.utf8.count <= 4000 + 20 && (2..<10).contains(m.text.components(separatedBy: "> sshd").count - 1), "evidence shortened to fit")
        #expect(m.plainLines.first == "brute force from 203.0.113.9", "Feishu's lines without markdown: \(m.plainLines.prefix(2))")
    }

    /// Values from logs are filled in one pass: a user named `{analysis}` or `{evidence}` is
    /// shown as written, never expanded (the replacement filled placeholders one after the
    /// other, so a value written early was read again as a template later).
    @Test func aValueThatLooksLikeAPlaceholderIsNotExpanded() {
        var i = Incident(id: 8, key: "k", rule: "brute-force", kind: "brute_force", severity: .high, title: "t", count: 5,
                         firstSeen: 0, lastSeen: 0, lastArrival: 0, status: .open, evidence: ["line one"], hosts: [])
        i.user = "{analysis}{evidence}"
        let t = AlertTemplate(title: "{user}", text: "User {user} {analysis}\n{evidence}")
        let m = AlertMessage.incident(i, language: .en, keyword: nil, maxBytes: 4000, analysis: "SECRET-ANALYSIS", template: t)
        #expect(m.title == "{analysis}{evidence}")
        #expect(m.text.hasPrefix("User {analysis}{evidence} SECRET-ANALYSIS\n> line one"), "\(m.text)")
        #expect(m.text.components(separatedBy: "SECRET-ANALYSIS").count == 2)
        // The incident's headline too, and an unknown placeholder stays as written.
        var e = Event(kind: .login)
        e.user = "{count}"
        #expect(Incident.headline("{count} for {user} {nope}", event: e, count: 3) == "3 for {count} {nope}")
    }

    /// A template of braces costs what its length does: 256 KiB of `{` before one `}` (each
    /// unknown brace used to send the scan to the far `}` again).
    @Test func aTemplateOfBracesIsLinear() {
        let template = String(repeating: "{", count: 256 << 10) + "count}" + String(repeating: "}{", count: 64 << 10)
        let started = ContinuousClock.now
        let filled = FieldTemplate.fill(template) { $0 == "count" ? "7" : nil }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(filled.hasPrefix(String(repeating: "{", count: (256 << 10) - 1) + "7}{"))
        #expect(FieldTemplate.fill("a {b} {{count}} {") { $0 == "count" ? "3" : nil } == "a {b} {3} {")
        #expect(FieldTemplate.placeholders("{x}{{y}}") == ["x", "y"])
    }

    @Test func unknownPlaceholdersAreReportedWithTheirLine() {
        do {
            _ = try RelayConfiguration.parse("""
                channels:
                  - type: webhook
                    webhook: "http://127.0.0.1:9/x"
                    template:
                      title: "{severity} {titel}"
                      text: "{user}"
                """, origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            #expect(p.description.contains("relay.yaml:5:") && p.description.contains("unknown placeholder {titel}"), "\(p)")
        } catch {
            Issue.record("\(error)")
        }
    }
}
