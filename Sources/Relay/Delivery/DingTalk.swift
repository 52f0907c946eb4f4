import Crypto
import Foundation
import Plumbing
import Wire

/// The DingTalk custom group robot (自定义机器人) webhook, as ../shared/specs/chat-and-llm-apis.md
/// §A describes it: `POST https://oapi.dingtalk.com/robot/send?access_token=…`, signed with
/// `timestamp` (milliseconds) and `sign` in the query, errors in the JSON body of an HTTP 200.
package enum DingTalk {
    /// `base64(HMAC-SHA256(key: secret, message: "\(timestamp)\n\(secret)"))`, not yet
    /// URL-encoded.
    package static func sign(secret: String, timestampMilliseconds: Int64) -> String {
        let message = "\(timestampMilliseconds)\n\(secret)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// The webhook URL with `timestamp` and `sign` appended, each encoded exactly once
    /// (`+`, `/` and `=` of the base64 become `%2B`, `%2F`, `%3D`).
    package static func signedURL(webhook: String, secret: String?, timestampMilliseconds: Int64) -> String {
        guard let secret else { return webhook }
        let sign = Self.sign(secret: secret, timestampMilliseconds: timestampMilliseconds)
        let separator = webhook.contains("?") ? "&" : "?"
        return "\(webhook)\(separator)timestamp=\(timestampMilliseconds)&sign=\(percentEncode(sign))"
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX.
    static func percentEncode(_ s: String) -> String { PercentEncoding.encode(s) }

    /// A markdown message, `@` mentions listed in `at` and written into the text as well
    /// (DingTalk renders a mention only when both are there).
    package static func markdownBody(title: String, text: String, atMobiles: [String], atUserIDs: [String], messageID: String) -> [UInt8] {
        var body = text
        let mentions = atMobiles.map { "@\($0)" } + atUserIDs.map { "@\($0)" }
        if !mentions.isEmpty { body += "\n\n" + mentions.joined(separator: " ") }
        let at = "{\"atMobiles\": [\(atMobiles.map(Event.quoted).joined(separator: ", "))], "
            + "\"atUserIds\": [\(atUserIDs.map(Event.quoted).joined(separator: ", "))], \"isAtAll\": false}"
        let json = "{\"msgtype\": \"markdown\", \"markdown\": {\"title\": \(Event.quoted(title)), \"text\": \(Event.quoted(body))}, "
            + "\"at\": \(at), \"msgUuid\": \(Event.quoted(messageID))}"
        return Array(json.utf8)
    }

    /// The largest request body DingTalk accepts, in bytes.
    package static let maxBodyBytes = 20_000

    /// Reads DingTalk's answer: HTTP status, then `errcode` (a number, or a string in one
    /// documented sample) from the JSON body. Success only on errcode 0.
    package static func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict {
        guard status == 200 else { return .http(status) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            return .retry("answer is not JSON")
        }
        let code: Int? = (object["errcode"] as? Int) ?? (object["errcode"] as? String).flatMap { Int($0) }
        let message = (object["errmsg"] as? String) ?? ""
        guard let code else { return .retry("answer without errcode") }
        switch code {
        case 0: return .delivered
        case -1: return .retry("busy: \(message)")
        case 130101, 410100, 660026: return .throttled("\(code) \(message)")
        default: return .refused("\(code) \(message)")
        }
    }
}
