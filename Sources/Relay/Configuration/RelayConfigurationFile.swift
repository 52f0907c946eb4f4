import Detection
import Foundation
import NIOSSL
import Plumbing
import Wire
import Yams

extension RelayConfiguration {
    /// Parses a relay configuration file; throws `ConfigurationProblems` listing every
    /// mistake with its line. docs/configuration.md describes each setting.
    package static func parse(_ yaml: String, origin: String) throws -> RelayConfiguration {
        var problems = ConfigurationProblems(origin: origin)
        let known: Set<String> = [
            "listen", "data_directory", "passkey", "passkey_file", "passkey_env", "passkey_previous", "passkey_previous_file",
            "passkey_previous_env", "limits", "freshness", "edges", "correlation", "allow",
            "store", "console", "http", "tls", "channels", "proxy", "proxy_credentials_file", "proxy_credentials_env", "outbound_ca_file", "analysis", "plain_syslog",
        ]
        let (_, map) = try problems.topLevel(yaml, known: known)
        func string(_ node: Node?, _ name: String) -> String? { problems.string(node, name) }
        func int(_ node: Node?, _ name: String, _ range: ClosedRange<Int>) -> Int? { problems.int(node, name, range) }
        var configuration = RelayConfiguration()
        if let listen = map[Node("listen")] {
            if let seq = listen.sequence {
                configuration.listeners = []
                for item in seq {
                    guard let m = item.mapping, m.count == 1, let (k, v) = m.first, let transport = Listener.Transport(rawValue: k.string ?? "") else {
                        problems.add(item, "each listener is {udp: \"ADDRESS:PORT\"}, {tcp: \"ADDRESS:PORT\"} or {tls: \"ADDRESS:PORT\"}")
                        continue
                    }
                    guard let text = string(v, "listen.\(transport)") else { continue }
                    if let a = ConfigurationProblems.parseAddress(text) {
                        configuration.listeners.append(Listener(transport: transport, host: a.host, port: a.port))
                    } else {
                        problems.add(v, "listener address \(text) must be ADDRESS:PORT or [v6-address]:PORT")
                    }
                }
                if seq.isEmpty { problems.add(listen, "listen needs at least one listener") }
            } else {
                problems.add(listen, "listen must be a list, e.g. - udp: \"10.0.0.1:5514\"")
            }
        }
        if let d = string(map[Node("data_directory")], "data_directory") { configuration.dataDirectory = URL(fileURLWithPath: d) }
        /// `name`, `name_file` or `name_env`: a passkey given inline, in a file, or in the environment.
        func secret(_ name: String) -> SecretSource? {
            problems.secret(name, in: map) { p in
                p.utf8.count < Passkey.minimumBytes ? "\(name) must be at least \(Passkey.minimumBytes) bytes" : nil
            }
        }
        configuration.passkey = secret("passkey")
        configuration.passkeyPrevious = secret("passkey_previous")
        if configuration.passkeyPrevious != nil, configuration.passkeyPrevious == configuration.passkey {
            problems.add(map[Node("passkey_previous")] ?? map[Node("passkey_previous_file")] ?? map[Node("passkey_previous_env")],
                         "passkey_previous names the passkey itself")
        }
        if let limits = map[Node("limits")]?.mapping {
            if let n = int(limits[Node("max_message_bytes")], "limits.max_message_bytes", 480...(1 << 20)) { configuration.limits.maxMessageBytes = n }
            if let n = int(limits[Node("max_connections")], "limits.max_connections", 1...1_000_000) { configuration.limits.maxConnections = n }
            if let n = int(limits[Node("idle_timeout_seconds")], "limits.idle_timeout_seconds", 1...86_400) { configuration.limits.idleTimeoutSeconds = n }
            if let n = int(limits[Node("max_connections_per_source")], "limits.max_connections_per_source", 1...1_000_000) {
                configuration.limits.maxConnectionsPerSource = n
            }
            if let n = int(limits[Node("max_connection_seconds")], "limits.max_connection_seconds", 10...(30 * 86_400)) {
                configuration.limits.maxConnectionSeconds = n
            }
            if let n = int(limits[Node("tls_handshake_seconds")], "limits.tls_handshake_seconds", 1...300) { configuration.limits.tlsHandshakeSeconds = n }
            if let n = int(limits[Node("queue_depth")], "limits.queue_depth", 1...10_000_000) { configuration.limits.queueDepth = n }
            if let n = int(limits[Node("queue_bytes")], "limits.queue_bytes", (1 << 20)...(64 << 30)) { configuration.limits.queueBytes = n }
            if let n = int(limits[Node("plain_per_sender_per_second")], "limits.plain_per_sender_per_second", 1...100_000_000) {
                configuration.limits.plainPerSenderPerSecond = n
            }
        }
        if let f = map[Node("freshness")]?.mapping {
            if let n = int(f[Node("max_age_seconds")], "freshness.max_age_seconds", 1...(366 * 86_400)) { configuration.freshness.maxAge = .seconds(n) }
            if let n = int(f[Node("max_future_seconds")], "freshness.max_future_seconds", 1...(366 * 86_400)) { configuration.freshness.maxFuture = .seconds(n) }
        }
        if let e = map[Node("edges")]?.mapping {
            for (k, _) in e where !["silence_seconds", "loss_after_seconds", "sources", "hosts", "key_generations"].contains(k.string ?? "") {
                problems.add(k, "unknown setting edges.\(k.string ?? "?") (known: hosts, key_generations, loss_after_seconds, silence_seconds, sources)")
            }
            if let generations = e[Node("key_generations")] {
                if let m = generations.mapping {
                    for (k, v) in m {
                        guard let id = k.string.flatMap(EdgeID.init(rawValue:)) else {
                            problems.add(k, "edges.key_generations: \(k.string ?? "?") is not an edge id (1-64 of A-Z a-z 0-9 . _ -)")
                            continue
                        }
                        let items = v.sequence.map(Array.init) ?? [v]
                        let numbers = items.compactMap { $0.scalar.flatMap { Int($0.string) } }.compactMap { UInt16(exactly: $0) }.filter { $0 >= 1 }
                        guard numbers.count == items.count, (1...2).contains(numbers.count), numbers.count == 1 || numbers[0] > numbers[1] else {
                            problems.add(v, "edges.key_generations.\(id) is a generation (1-65535), or the new and the old during a rotation, the new first: [2, 1]")
                            continue
                        }
                        configuration.edgeKeyGenerations[id.rawValue] = numbers
                    }
                } else {
                    problems.add(generations, "edges.key_generations maps edge ids to key generations, e.g. web-01: [2, 1]")
                }
            }
            if let hosts = e[Node("hosts")] {
                if let m = hosts.mapping {
                    for (k, v) in m {
                        guard let id = k.string.flatMap(EdgeID.init(rawValue:)) else {
                            problems.add(k, "edges.hosts: \(k.string ?? "?") is not an edge id (1-64 of A-Z a-z 0-9 . _ -)")
                            continue
                        }
                        configuration.edgeHosts[id.rawValue] = texts(v, "edges.hosts.\(id)", &problems) ?? []
                    }
                } else {
                    problems.add(hosts, "edges.hosts maps edge ids to the host names they may speak for, e.g. web-01: [web01, web01.corp]")
                }
            }
            if let sources = e[Node("sources")] {
                if let m = sources.mapping {
                    for (k, v) in m {
                        guard let id = k.string.flatMap(EdgeID.init(rawValue:)) else {
                            problems.add(k, "edges.sources: \(k.string ?? "?") is not an edge id (1-64 of A-Z a-z 0-9 . _ -)")
                            continue
                        }
                        var ranges: [IPRange] = []
                        for text in texts(v, "edges.sources.\(id)", &problems) ?? [] {
                            if let r = IPRange(text) { ranges.append(r) } else { problems.add(v, "\(text) is not an address or network") }
                        }
                        configuration.edgeSources[id.rawValue] = ranges
                    }
                } else {
                    problems.add(sources, "edges.sources maps edge ids to addresses, e.g. web-01: [10.0.1.5]")
                }
            }
            if let n = int(e[Node("silence_seconds")], "edges.silence_seconds", 5...86_400) { configuration.edgePolicy.silenceMilliseconds = Int64(n) * 1000 }
            if let n = int(e[Node("loss_after_seconds")], "edges.loss_after_seconds", 1...3600) { configuration.edgePolicy.lossAfterMilliseconds = Int64(n) * 1000 }
        }
        if let plain = map[Node("plain_syslog")] {
            if plain.scalar?.string == "off" {
                configuration.plainSyslogFrom = []
            } else if plain.scalar?.string == "on" {
                configuration.plainSyslogFrom = nil
            } else if let m = plain.mapping {
                for (k, _) in m where k.string != "from" {
                    problems.add(k, "unknown setting plain_syslog.\(k.string ?? "?") (known: from)")
                }
                var ranges: [IPRange] = []
                if let from = m[Node("from")] {
                    for text in texts(from, "plain_syslog.from", &problems) ?? [] {
                        if let r = IPRange(text) { ranges.append(r) } else { problems.add(from, "\(text) is not an address or network") }
                    }
                } else {
                    problems.add(plain, "plain_syslog needs from: [forwarder addresses or networks]")
                }
                configuration.plainSyslogFrom = ranges
            } else {
                problems.add(plain, "plain_syslog must be on, off, or from: [forwarder addresses or networks]")
            }
        }
        if let t = map[Node("tls")] {
            if let m = t.mapping {
                for (k, _) in m where !["certificate_file", "key_file", "client_ca_file"].contains(k.string ?? "") {
                    problems.add(k, "unknown setting tls.\(k.string ?? "?") (known: certificate_file, client_ca_file, key_file)")
                }
                let cert = string(m[Node("certificate_file")], "tls.certificate_file")
                let key = string(m[Node("key_file")], "tls.key_file")
                if cert == nil || key == nil { problems.add(t, "tls needs certificate_file and key_file") }
                if let cert, let key {
                    configuration.tls = TLSFiles(certificateFile: cert, keyFile: key, clientCAFile: string(m[Node("client_ca_file")], "tls.client_ca_file"))
                }
            } else {
                problems.add(t, "tls must be a mapping with certificate_file and key_file")
            }
        }
        if configuration.listeners.contains(where: { $0.transport == .tls }), configuration.tls == nil {
            problems.add(map[Node("listen")], "a tls listener needs the tls section (certificate_file, key_file)")
        }
        if let c = map[Node("channels")] { configuration.channels = parseChannels(c, &problems) }
        if let a = map[Node("analysis")] { configuration.analysis = parseAnalysis(a, &problems) }
        if let f = string(map[Node("outbound_ca_file")], "outbound_ca_file") {
            if (try? NIOSSLCertificate.fromPEMFile(f))?.isEmpty ?? true {
                problems.add(map[Node("outbound_ca_file")], "outbound_ca_file must be a readable file of PEM certificates")
            }
            configuration.outboundCAFile = f
        }
        if let p = string(map[Node("proxy")], "proxy") {
            // http://HOST:PORT, or http://USER:PASSWORD@HOST:PORT for a proxy that asks for them.
            var rest = p.hasPrefix("http://") ? String(p.dropFirst(7)) : p
            var credentials: SecretSource?
            if let at = rest.lastIndex(of: "@") {
                credentials = .inline(String(rest[..<at]).removingPercentEncoding ?? String(rest[..<at]))
                rest = String(rest[rest.index(after: at)...])
            }
            if rest.hasSuffix("/") { rest.removeLast() }
            if let a = ConfigurationProblems.parseAddress(rest) {
                configuration.proxy = .init(host: a.host, port: a.port)
                configuration.proxy?.credentials = credentials
            } else {
                problems.add(map[Node("proxy")], "proxy must be http://HOST:PORT (an HTTP proxy that tunnels HTTPS with CONNECT)")
            }
        }
        for (key, make) in [("proxy_credentials_file", SecretSource.file), ("proxy_credentials_env", SecretSource.environment)] {
            guard let v = string(map[Node(key)], key) else { continue }
            if configuration.proxy == nil {
                problems.add(map[Node(key)], "\(key) needs proxy")
            } else if configuration.proxy?.credentials != nil {
                problems.add(map[Node(key)], "give the proxy's credentials once: in the proxy URL, proxy_credentials_file or proxy_credentials_env")
            } else {
                configuration.proxy?.credentials = make(v)
            }
        }
        if configuration.proxy != nil {
            // Through the proxy, TLS checks an address in a certificate against the address
            // connected to, which is the proxy's: a certificate naming the proxy's address
            // would pass for anything behind it. Such a URL is refused here, not at the first
            // alert.
            let message = "cannot be checked through the proxy: its certificate would be compared with the proxy's address; give a DNS name, or no proxy"
            if let a = configuration.analysis, Self.isSecureAtAnAddress(a.url) {
                problems.add(map[Node("analysis")]?.mapping?[Node("url")], "analysis.url names an IP address over TLS, which \(message)")
            }
            for c in configuration.channels {
                if let url = try? c.webhook.read(), Self.isSecureAtAnAddress(url) {
                    problems.add(map[Node("channels")], "channel \(c.channel.name): its webhook names an IP address over TLS, which \(message)")
                }
            }
        }
        if let c = map[Node("correlation")] {
            if let m = c.mapping {
                for (k, _) in m where !["rules", "rules_file"].contains(k.string ?? "") {
                    problems.add(k, "unknown setting correlation.\(k.string ?? "?") (known: rules, rules_file)")
                }
                if let f = string(m[Node("rules_file")], "correlation.rules_file") {
                    if let data = FileManager.default.contents(atPath: f) {
                        // Mistakes in the rules file are reported with its own name and lines.
                        var fileProblems = ConfigurationProblems(origin: f)
                        do {
                            if let root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) {
                                let list = root.mapping?[Node("rules")] ?? root
                                parseRules(list, into: &configuration.correlationRules, problems: &fileProblems)
                            }
                        } catch {
                            fileProblems.add(nil, ConfigurationProblems.yamlProblem(error))
                        }
                        for message in fileProblems.messages { problems.add(nil, message) }
                    } else {
                        problems.add(m[Node("rules_file")], "cannot read the rules file \(f)")
                    }
                }
                if let r = m[Node("rules")] { parseRules(r, into: &configuration.correlationRules, problems: &problems) }
            } else {
                problems.add(c, "correlation must be a mapping with rules and/or rules_file")
            }
        }
        if let a = map[Node("allow")] { configuration.allowlist = parseAllowlist(a, &problems) }
        if let st = map[Node("store")] {
            if let m = st.mapping {
                for (k, _) in m where !["event_retention_days", "incident_retention_days", "max_bytes"].contains(k.string ?? "") {
                    problems.add(k, "unknown setting store.\(k.string ?? "?") (known: event_retention_days, incident_retention_days, max_bytes)")
                }
                if let n = int(m[Node("event_retention_days")], "store.event_retention_days", 1...3650) { configuration.pipeline.eventRetentionDays = n }
                if let n = int(m[Node("incident_retention_days")], "store.incident_retention_days", 1...3650) { configuration.pipeline.incidentRetentionDays = n }
                if let n = int(m[Node("max_bytes")], "store.max_bytes", (64 << 20)...(1 << 50)) { configuration.pipeline.maxStoreBytes = Int64(n) }
            } else {
                problems.add(st, "store must be a mapping")
            }
        }
        if let c = string(map[Node("console")], "console") {
            switch c {
            case "incidents": configuration.consoleEvents = false
            case "events": configuration.consoleEvents = true
            default: problems.add(map[Node("console")], "console must be incidents or events")
            }
        }
        if let h = map[Node("http")] {
            if h.scalar?.string == "off" {
                configuration.http = nil
            } else if let text = string(h, "http"), let a = ConfigurationProblems.parseAddress(text) {
                configuration.http = .init(host: a.host, port: a.port)
            } else {
                problems.add(h, "http must be ADDRESS:PORT (metrics, health and status page) or off")
            }
        }
        if !problems.messages.isEmpty { throw problems }
        return configuration
    }

    package static func load(file path: String) throws -> RelayConfiguration {
        try parse(try ConfigurationProblems.text(ofFile: path), origin: path)
    }
}

extension RelayConfiguration {
    /// An `https://` or `wss://` URL whose host is an IPv4 or IPv6 address.
    static func isSecureAtAnAddress(_ url: String) -> Bool {
        guard let c = URLComponents(string: url), c.scheme == "https" || c.scheme == "wss", var host = c.host else { return false }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
