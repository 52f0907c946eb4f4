import Crypto
import Foundation
import Wire

/// The Feishu (Lark) custom bot, ../shared/specs/chat-and-llm-apis.md §C: signed in the
/// JSON body with Unix seconds and HMAC-SHA256 keyed by `"\(timestamp)\n\(secret)"` over an
/// empty message (not DingTalk's way round); rich text as a `post` message.
package enum Feishu {
    package static let maxBodyBytes = 20_000

    package static func sign(secret: String, timestampSeconds: Int64) -> String {
        let key = SymmetricKey(data: Data("\(timestampSeconds)\n\(secret)".utf8))
        return Data(HMAC<SHA256>.authenticationCode(for: Data(), using: key)).base64EncodedString()
    }

    /// A `post` message: the title, one paragraph per line, mentions as `at` elements.
    package static func postBody(_ message: AlertMessage, atUserIDs: [String], secret: String?, timestampSeconds: Int64) -> [UInt8] {
        var paragraphs = message.plainLines.map { "[{\"tag\": \"text\", \"text\": \(Event.quoted($0))}]" }
        if !atUserIDs.isEmpty {
            paragraphs.append("[" + atUserIDs.map { "{\"tag\": \"at\", \"user_id\": \(Event.quoted($0))}" }.joined(separator: ", ") + "]")
        }
        var json = "{"
        if let secret {
            json += "\"timestamp\": \"\(timestampSeconds)\", \"sign\": \(Event.quoted(sign(secret: secret, timestampSeconds: timestampSeconds))), "
        }
        json += "\"msg_type\": \"post\", \"content\": {\"post\": {\"zh_cn\": {\"title\": \(Event.quoted(message.title)), "
            + "\"content\": [\(paragraphs.joined(separator: ", "))]}}}}"
        return Array(json.utf8)
    }

    /// Success is `code == 0` (new style) or `StatusCode == 0` (legacy style).
    package static func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict {
        guard status == 200 else { return .http(status) }
        guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return .retry("answer is not JSON") }
        let code = (o["code"] as? Int) ?? (o["StatusCode"] as? Int)
        let message = (o["msg"] as? String) ?? (o["StatusMessage"] as? String) ?? ""
        switch code {
        case 0?: return .delivered
        case 11232?: return .throttled("11232 \(message)")
        case 2200?: return .retry("2200 \(message)")
        case let c?: return .refused("\(c) \(message)")
        case nil: return .retry("answer without code")
        }
    }
}

/// The WeCom (企业微信) group robot, §C': the key in the URL is the only credential;
/// markdown content at most 4,096 bytes, mentions as `<@userid>` inside it.
package enum WeCom {
    package static let maxContentBytes = 4096

    package static func markdownBody(_ message: AlertMessage, atUserIDs: [String]) -> [UInt8] {
        var content = message.text
        if !atUserIDs.isEmpty { content += "\n" + atUserIDs.map { "<@\($0)>" }.joined(separator: " ") }
        return Array("{\"msgtype\": \"markdown\", \"markdown\": {\"content\": \(Event.quoted(content))}}".utf8)
    }

    package static func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict {
        guard status == 200 else { return .http(status) }
        guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return .retry("answer is not JSON") }
        let code = (o["errcode"] as? Int) ?? (o["errcode"] as? String).flatMap { Int($0) }
        let message = (o["errmsg"] as? String).map { String($0.prefix(200)) } ?? ""
        guard let code else { return .retry("answer without errcode") }
        switch code {
        case 0: return .delivered
        case 45009: return .throttled("45009 \(message)")
        case -1: return .retry("busy: \(message)")
        default: return .refused("\(code) \(message)")
        }
    }
}

/// A generic JSON webhook: `{"title", "text" (markdown), "incidents": [...]}` with each
/// incident as `relay alerts --json` prints it; any 2xx answer is success.
package enum Webhook {
    package static func body(_ message: AlertMessage, incidents: [Incident], messageID: String) -> [UInt8] {
        let json = "{\"id\": \(Event.quoted(messageID)), \"title\": \(Event.quoted(message.title)), \"text\": \(Event.quoted(message.text)), "
            + "\"incidents\": [\(incidents.map { $0.jsonObject() }.joined(separator: ", "))]}"
        return Array(json.utf8)
    }

    package static func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict {
        (200..<300).contains(status) ? .delivered : (status == 429 ? .throttled("HTTP 429") : .http(status))
    }
}
