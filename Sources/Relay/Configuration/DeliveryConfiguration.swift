import Detection
import Foundation
import Plumbing
import Wire
import Yams

/// A robot as configured: the channel's settings, with its secrets as sources that are
/// read when the relay starts (never kept in the configuration).
@dynamicMemberLookup
package struct ChannelSettings: Sendable, Hashable {
    /// Everything but the webhook and the secret.
    package var channel: AlertChannel
    package var webhook: SecretSource
    package var secret: SecretSource?

    package init(name: String, kind: AlertChannel.Kind, webhook: SecretSource) {
        channel = AlertChannel(name: name, kind: kind, webhook: "")
        self.webhook = webhook
    }

    package subscript<T>(dynamicMember path: WritableKeyPath<AlertChannel, T>) -> T {
        get { channel[keyPath: path] }
        set { channel[keyPath: path] = newValue }
    }

    /// The channel with its secrets read.
    package func resolve() throws -> AlertChannel {
        var c = channel
        c.webhook = try webhook.read().trimmingCharacters(in: .whitespacesAndNewlines)
        c.secret = try secret?.read().trimmingCharacters(in: .whitespacesAndNewlines)
        return c
    }
}

extension RelayConfiguration {
    /// Reads every secret the channels and the model need (webhooks, signing secrets, keys)
    /// and says which cannot be read or make no sense; never what they contain.
    package func checkSecrets() -> [String] {
        var problems: [String] = []
        for c in channels {
            do {
                let resolved = try c.resolve()
                if !resolved.webhook.hasPrefix("https://") && !resolved.webhook.hasPrefix("http://") {
                    problems.append("channel \(c.name): the webhook from \(c.webhook) is not an http(s) URL")
                }
                if resolved.secret?.isEmpty == true { problems.append("channel \(c.name): the secret from \(c.secret!) is empty") }
            } catch {
                problems.append("channel \(c.name): \(error)")
            }
        }
        if let credentials = proxy?.credentials {
            do {
                if !(try credentials.read()).contains(":") { problems.append("proxy: the credentials from \(credentials) must be user:password") }
            } catch {
                problems.append("proxy credentials: \(error)")
            }
        }
        if let a = analysis {
            for (what, source) in [("api_key", a.apiKey), ("api_secret", a.apiSecret)] {
                guard let source else { continue }
                do {
                    if try source.read().trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        problems.append("analysis: the \(what) from \(source) is empty")
                    }
                } catch {
                    problems.append("analysis: \(what): \(error)")
                }
            }
        }
        return problems
    }

    static func parseAnalysis(_ node: Node, _ problems: inout ConfigurationProblems) -> AnalysisSettings? {
        guard let m = node.mapping else {
            problems.add(node, "analysis must be a mapping with url and model")
            return nil
        }
        let known: Set<String> = [
            "kind", "url", "model", "api_key", "api_key_file", "api_key_env", "timeout_seconds", "max_calls_per_hour", "min_severity",
            "language", "prompt", "max_tokens", "max_tokens_per_hour", "app_id", "api_secret", "api_secret_file", "api_secret_env", "follow_up",
        ]
        for (k, _) in m where !known.contains(k.string ?? "") {
            problems.add(k, "unknown analysis setting \(k.string ?? "?") (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let url = problems.string(m[Node("url")], "analysis.url"), let model = problems.string(m[Node("model")], "analysis.model") else {
            problems.add(node, "analysis needs url (the chat completions endpoint) and model")
            return nil
        }
        var a = AnalysisSettings(url: url, model: model)
        if let k = problems.string(m[Node("kind")], "analysis.kind") {
            if let kind = AnalysisSettings.Kind(rawValue: k) { a.kind = kind } else { problems.add(m[Node("kind")], "analysis.kind must be openai, spark-http or spark") }
        }
        a.apiKey = problems.secret("api_key", in: m, label: "analysis.api_key")
        a.apiSecret = problems.secret("api_secret", in: m, label: "analysis.api_secret")
        a.appID = problems.string(m[Node("app_id")], "analysis.app_id")
        if let n = problems.int(m[Node("max_tokens_per_hour")], "analysis.max_tokens_per_hour", 100...100_000_000) { a.maxTokensPerHour = n }
        if let n = m[Node("follow_up")] {
            if let b = n.bool { a.followUp = b } else { problems.add(n, "analysis.follow_up must be true or false") }
        }
        switch a.kind {
        case .spark:
            if !url.hasPrefix("wss://") && !url.hasPrefix("ws://") {
                problems.add(m[Node("url")], "analysis.url for kind spark is the WebSocket address, e.g. wss://spark-api.xf-yun.com/v3.5/chat")
            }
            if a.appID == nil || a.apiKey == nil || a.apiSecret == nil {
                problems.add(node, "analysis kind spark needs app_id, api_key and api_secret (from the iFlytek console)")
            }
        case .openai, .sparkHTTP:
            if !url.hasPrefix("https://") && !url.hasPrefix("http://") {
                problems.add(m[Node("url")], "analysis.url must be the http(s) chat completions endpoint")
            }
            if a.apiSecret != nil || a.appID != nil { problems.add(node, "app_id and api_secret are for kind spark (the WebSocket API)") }
        }
        if let n = problems.int(m[Node("timeout_seconds")], "analysis.timeout_seconds", 1...600) { a.timeoutSeconds = n }
        if let n = problems.int(m[Node("max_calls_per_hour")], "analysis.max_calls_per_hour", 1...100_000) { a.maxCallsPerHour = n }
        if let n = problems.int(m[Node("max_tokens")], "analysis.max_tokens", 16...8192) { a.maxTokens = n }
        if let n = m[Node("min_severity")] { a.minimumSeverity = severity(n, &problems) ?? a.minimumSeverity }
        if let l = problems.string(m[Node("language")], "analysis.language") { a.language = AlertMessage.Language(rawValue: l) ?? a.language }
        a.prompt = problems.string(m[Node("prompt")], "analysis.prompt")
        return a
    }

    static func parseTemplate(_ node: Node, _ problems: inout ConfigurationProblems) -> AlertTemplate? {
        guard let m = node.mapping, let title = problems.string(m[Node("title")], "template.title"),
            let text = problems.string(m[Node("text")], "template.text")
        else {
            problems.add(node, "template must be a mapping with title and text ({field} placeholders: \(AlertTemplate.fields.joined(separator: ", ")))")
            return nil
        }
        for (k, _) in m where !["title", "text"].contains(k.string ?? "") { problems.add(k, "unknown template setting \(k.string ?? "?") (known: text, title)") }
        var ok = true
        for (key, value) in [("title", title), ("text", text)] {
            let unknown = AlertTemplate.unknownFields(value)
            if !unknown.isEmpty {
                problems.add(m[Node(key)], "template.\(key): unknown placeholder \(unknown.map { "{\($0)}" }.joined(separator: ", ")) (known: \(AlertTemplate.fields.joined(separator: ", ")))")
                ok = false
            }
        }
        return ok ? AlertTemplate(title: title, text: text) : nil
    }

    static func parseChannels(_ node: Node, _ problems: inout ConfigurationProblems) -> [ChannelSettings] {
        guard let list = node.sequence else {
            problems.add(node, "channels must be a list of robots, each with type and webhook")
            return []
        }
        let known: Set<String> = [
            "name", "type", "webhook", "webhook_file", "webhook_env", "secret", "secret_file", "secret_env", "keyword", "at_mobiles",
            "at_user_ids", "min_severity", "language", "per_minute", "block_seconds", "max_attempts", "template", "timeout_seconds",
        ]
        var result: [ChannelSettings] = []
        for item in list {
            guard let m = item.mapping else {
                problems.add(item, "a channel is a mapping with type and webhook")
                continue
            }
            for (k, _) in m where !known.contains(k.string ?? "") {
                problems.add(k, "unknown channel setting \(k.string ?? "?") (known: \(known.sorted().joined(separator: ", ")))")
            }
            guard let type = problems.string(m[Node("type")], "type"), let kind = AlertChannel.Kind(rawValue: type) else {
                problems.add(m[Node("type")] ?? item, "type must be dingtalk, feishu, wecom or webhook")
                continue
            }
            func source(_ base: String) -> SecretSource? { problems.secret(base, in: m) }
            guard let webhook = source("webhook") else {
                problems.add(item, "a channel needs webhook, webhook_file or webhook_env")
                continue
            }
            if case .inline(let url) = webhook, !url.hasPrefix("https://"), !url.hasPrefix("http://") {
                problems.add(m[Node("webhook")], "webhook must be an http(s) URL")
            }
            var c = ChannelSettings(name: problems.string(m[Node("name")], "name") ?? type, kind: kind, webhook: webhook)
            c.secret = source("secret") as SecretSource?
            c.keyword = problems.string(m[Node("keyword")], "keyword")
            if let n = m[Node("at_mobiles")] { c.atMobiles = texts(n, "at_mobiles", &problems) ?? [] }
            if let n = m[Node("at_user_ids")] { c.atUserIDs = texts(n, "at_user_ids", &problems) ?? [] }
            if let n = m[Node("min_severity")] { c.minimumSeverity = severity(n, &problems) ?? c.minimumSeverity }
            if let t = m[Node("template")] { c.template = parseTemplate(t, &problems) }
            if let l = problems.string(m[Node("language")], "language") {
                if let language = AlertMessage.Language(rawValue: l) { c.language = language } else { problems.add(m[Node("language")], "language must be zh or en") }
            }
            if kind == .feishu { c.perMinute = 100 }
            if kind == .webhook { c.perMinute = 600 }
            if let n = problems.int(m[Node("per_minute")], "per_minute", 2...1000) { c.perMinute = n }
            if kind == .wecom, m[Node("secret")] != nil || m[Node("secret_file")] != nil || m[Node("secret_env")] != nil {
                problems.add(item, "a WeCom robot has no signing secret: its key is in the webhook URL")
            }
            if let n = problems.int(m[Node("block_seconds")], "block_seconds", 1...86_400) { c.blockSeconds = n }
            if let n = problems.int(m[Node("max_attempts")], "max_attempts", 1...1000) { c.maxAttempts = n }
            if let n = problems.int(m[Node("timeout_seconds")], "timeout_seconds", 1...300) { c.timeoutSeconds = n }
            if result.contains(where: { $0.name == c.name }) { problems.add(item, "channel name \(c.name) is used twice: give each a name") }
            result.append(c)
        }
        return result
    }
}
