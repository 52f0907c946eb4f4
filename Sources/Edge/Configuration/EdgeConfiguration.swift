import Detection
import Foundation
import Platform
import Plumbing
import Wire
import Yams

/// The edge's configuration, from YAML. Every field has a default but `edge_id`, the key
/// and the relay address. docs/configuration.md describes each field.
package struct EdgeConfiguration: Sendable {
    package enum Transport: String, Sendable { case udp, tcp }

    package struct Relay: Sendable {
        package var transport: Transport = .udp
        /// `host:port` or `[v6]:port`; frames go to the first that works.
        package var addresses: [(host: String, port: Int)] = []
        /// UDP: send each datagram this many times (lossy or one-way links).
        package var redundancy = 1
        /// Largest syslog message; default 1,400 over UDP, 8,000 over TCP.
        package var budgetBytes: Int?
        package var seal = false
    }

    package struct Batch: Sendable {
        package var maxEvents = 64
        package var maxDelayMilliseconds = 200
    }

    package struct Spool: Sendable {
        package var maxBytes = 64 << 20
        /// TCP: frames written in this window before a disconnect are sent again.
        package var resendWindowSeconds = 30
    }

    package struct Journal: Sendable {
        /// JSON lines of every event detected; nil turns it off.
        package var path: String?
        package var maxBytes = 10 << 20
        package var keep = 3
    }

    package var edgeID: EdgeID
    package var key: SecretSource
    package var hostname: String
    package var relay = Relay()
    package var files: [String] = []
    /// Windows event logs (EVTX files) to follow.
    package var evtxFiles: [String] = []
    /// Windows event log channels (`Security`, `System`) to subscribe to: the Windows build.
    package var eventLogChannels: [String] = []
    /// Follow the journal; `journalFile` reads a journal file or directory instead of the
    /// system journal.
    package var followJournal = false
    package var journalFile: String?
    package var startAt: FileTail.StartAt = .end
    package var ruleFiles: [String] = []
    package var batch = Batch()
    package var spool = Spool()
    package var heartbeatSeconds = 30
    package var stateDirectory = "/var/lib/edge"
    package var journal = Journal()
    package var timeZone: TimeZone = .current

    /// Reads the edge key from its source.
    package func readKey() throws -> EdgeKey {
        let text: String
        do {
            text = try key.read()
        } catch let error as WireError {
            throw EdgeError(error.detail)
        }
        do {
            return try EdgeKey(hex: text)
        } catch {
            throw EdgeError("the \(key) is not an edge key (64 hex digits, as `relay edge-key` prints)")
        }
    }

    /// Parses and checks `yaml`; throws `ConfigurationProblems` listing every mistake with
    /// its line.
    package static func parse(_ yaml: String, origin: String) throws -> EdgeConfiguration {
        var problems = ConfigurationProblems(origin: origin)
        let known: Set<String> = [
            "edge_id", "key", "key_file", "key_env", "hostname", "relay", "sources", "start_at", "rules", "batch", "spool",
            "heartbeat_seconds", "state_directory", "journal", "time_zone",
        ]
        let (root, map) = try problems.topLevel(yaml, known: known)
        func value(_ name: String) -> Node? { map[Node(name)] }
        func string(_ node: Node?, _ name: String) -> String? { problems.string(node, name) }
        func int(_ node: Node?, _ name: String, _ range: ClosedRange<Int>) -> Int? { problems.int(node, name, range) }

        let edgeID: EdgeID?
        if let text = string(value("edge_id"), "edge_id") {
            edgeID = EdgeID(rawValue: text)
            if edgeID == nil { problems.add(value("edge_id"), "edge_id must be 1-64 characters of A-Z a-z 0-9 . _ -") }
        } else {
            edgeID = nil
            if value("edge_id") == nil { problems.add(root, "edge_id is missing") }
        }
        let key = problems.secret("key", in: map) { k in
            (try? EdgeKey(hex: k)) == nil ? "key must be 64 hex digits, as `relay edge-key` prints" : nil
        }
        if key == nil, !["key", "key_file", "key_env"].contains(where: { value($0) != nil }) {
            problems.add(root, "the edge key is missing: set key, key_file or key_env")
        }

        var configuration = EdgeConfiguration(edgeID: edgeID ?? EdgeID(rawValue: "x")!, key: key ?? .inline(""), hostname: Self.localHostname())
        if let h = string(value("hostname"), "hostname") { configuration.hostname = h }

        if let relay = value("relay") {
            if let m = relay.mapping {
                for (k, _) in m where !["transport", "addresses", "address", "redundancy", "budget_bytes", "seal"].contains(k.string ?? "") {
                    problems.add(k, "unknown relay setting \(k.string ?? "?")")
                }
                if let t = string(m[Node("transport")], "relay.transport") {
                    if let transport = Transport(rawValue: t) { configuration.relay.transport = transport } else {
                        problems.add(m[Node("transport")], "relay.transport must be udp or tcp")
                    }
                }
                var addressNodes: [Node] = []
                if let one = m[Node("address")] { addressNodes.append(one) }
                if let list = m[Node("addresses")] {
                    if let seq = list.sequence { addressNodes += seq } else { problems.add(list, "relay.addresses must be a list") }
                }
                for node in addressNodes {
                    guard let text = string(node, "relay address") else { continue }
                    if let parsed = ConfigurationProblems.parseAddress(text) { configuration.relay.addresses.append(parsed) } else {
                        problems.add(node, "relay address \(text) must be host:port or [v6-address]:port")
                    }
                }
                if addressNodes.isEmpty { problems.add(relay, "relay.addresses is missing") }
                if let r = int(m[Node("redundancy")], "relay.redundancy", 1...5) { configuration.relay.redundancy = r }
                if let b = int(m[Node("budget_bytes")], "relay.budget_bytes", 480...65_000) { configuration.relay.budgetBytes = b }
                if let s = m[Node("seal")] {
                    if let b = s.bool { configuration.relay.seal = b } else { problems.add(s, "relay.seal must be true or false") }
                }
            } else {
                problems.add(relay, "relay must be a mapping (transport, addresses, ...)")
            }
        } else {
            problems.add(root, "relay is missing (where to send: relay: {addresses: [\"host:5514\"]})")
        }

        if let sources = value("sources") {
            if let seq = sources.sequence {
                for item in seq {
                    if let file = item.mapping?[Node("file")], let path = string(file, "sources[].file") {
                        configuration.files.append(path)
                    } else if let file = item.mapping?[Node("evtx")], let path = string(file, "sources[].evtx") {
                        configuration.evtxFiles.append(path)
                    } else if let channel = item.mapping?[Node("eventlog")], let name = string(channel, "sources[].eventlog") {
                        if name.isEmpty || name.utf8.count > 256 || name.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                            problems.add(channel, "sources[].eventlog is a channel name such as Security or System")
                        } else if EventLogSubscriptions.native == nil {
                            problems.add(channel, "eventlog sources need the Windows build of the edge; here, follow an exported log with evtx: PATH")
                        } else {
                            configuration.eventLogChannels.append(name)
                        }
                    } else if let journal = item.mapping?[Node("journald")] {
                        #if !os(Linux)
                        problems.add(journal, "journald sources need Linux")
                        #endif
                        configuration.followJournal = true
                        if let f = journal.mapping?[Node("file")] { configuration.journalFile = string(f, "sources[].journald.file") }
                    } else {
                        problems.add(item, "each source is {file: PATH}, {evtx: PATH}, {journald: {}} or {eventlog: CHANNEL}")
                    }
                }
            } else {
                problems.add(sources, "sources must be a list, e.g. - file: /var/log/auth.log")
            }
        } else {
            #if os(Windows)
            // The channels the Windows rules read.
            configuration.eventLogChannels = ["Security", "System"]
            #else
            if let file = Self.defaultFile() { configuration.files = [file] } else { configuration.followJournal = true }
            #endif
        }
        if let s = string(value("start_at"), "start_at") {
            if let v = FileTail.StartAt(rawValue: s) { configuration.startAt = v } else { problems.add(value("start_at"), "start_at must be end or beginning") }
        }
        if let rules = value("rules") {
            if let seq = rules.sequence {
                for item in seq {
                    guard let path = string(item, "rules[]") else { continue }
                    configuration.ruleFiles.append(path)
                    do {
                        _ = try RuleLoader.load(file: path)
                    } catch let p as RuleLoader.Problems {
                        for message in p.messages { problems.add(item, message) }
                    } catch {
                        problems.add(item, "\(error)")
                    }
                }
            } else {
                problems.add(rules, "rules must be a list of rule files")
            }
        }
        if let batch = value("batch")?.mapping {
            if let n = int(batch[Node("max_events")], "batch.max_events", 1...4096) { configuration.batch.maxEvents = n }
            if let n = int(batch[Node("max_delay_ms")], "batch.max_delay_ms", 0...60_000) { configuration.batch.maxDelayMilliseconds = n }
        }
        if let spool = value("spool")?.mapping {
            if let n = int(spool[Node("max_bytes")], "spool.max_bytes", 65_536...(1 << 40)) { configuration.spool.maxBytes = n }
            if let n = int(spool[Node("resend_window_seconds")], "spool.resend_window_seconds", 0...86_400) { configuration.spool.resendWindowSeconds = n }
        }
        if let n = int(value("heartbeat_seconds"), "heartbeat_seconds", 1...3600) { configuration.heartbeatSeconds = n }
        if let s = string(value("state_directory"), "state_directory") { configuration.stateDirectory = s }
        if let journal = value("journal") {
            if journal.scalar?.string == "off" || journal.bool == false {
                configuration.journal.path = nil
            } else if let m = journal.mapping {
                configuration.journal.path = string(m[Node("path")], "journal.path")
                if let n = int(m[Node("max_bytes")], "journal.max_bytes", 4096...(1 << 40)) { configuration.journal.maxBytes = n }
                if let n = int(m[Node("keep")], "journal.keep", 0...100) { configuration.journal.keep = n }
            } else {
                problems.add(journal, "journal must be off or {path, max_bytes, keep}")
            }
        } else {
            configuration.journal.path = configuration.stateDirectory + "/events.jsonl"
        }
        if let tz = string(value("time_zone"), "time_zone") {
            if let zone = TimeZone(identifier: tz) { configuration.timeZone = zone } else { problems.add(value("time_zone"), "unknown time zone \(tz)") }
        }
        if !problems.messages.isEmpty { throw problems }
        return configuration
    }

    package static func load(file path: String) throws -> EdgeConfiguration {
        try parse(try ConfigurationProblems.text(ofFile: path), origin: path)
    }

    /// The budget per syslog message for this transport.
    package var budgetBytes: Int {
        relay.budgetBytes ?? (relay.transport == .udp ? Envelope.udpBudgetBytes : Envelope.tcpBudgetBytes)
    }

    /// `/var/log/auth.log` (Debian) or `/var/log/secure` (Red Hat), whichever exists; nil
    /// means neither, and the journal is followed instead.
    static func defaultFile() -> String? {
        ["/var/log/auth.log", "/var/log/secure"].first { FileManager.default.fileExists(atPath: $0) }
    }

    static func localHostname() -> String {
        ThisMachine.name
    }
}

