import Foundation
import Wire

/// A chat robot, as delivery sees it: how a message becomes a request, and what the robot's
/// answer means. DingTalk, Feishu, WeCom and the generic webhook each implement it over their
/// codec (`DingTalk`, `Feishu`, `WeCom`, `Webhook`); `AlertChannel.robot` picks one.
package protocol Robot: Sendable {
    /// The request that carries `message`. `nowMilliseconds` signs it where the robot asks.
    func request(for message: AlertMessage, incidents: [Incident], messageID: String, nowMilliseconds: Int64) -> RobotRequest
    /// What the robot's answer means.
    func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict
    /// The most bytes of markdown one message may carry.
    var maxTextBytes: Int { get }
}

/// One POST to a robot: its URL (with its token: a secret, never logged), the JSON body, and
/// the most bytes the robot accepts in it.
package struct RobotRequest: Sendable {
    package var url: String
    package var body: [UInt8]
    package var limit: Int
}

/// What a robot's answer means for the message.
package enum DeliveryVerdict: Sendable, Equatable {
    case delivered
    /// Try again later (network, HTTP error, busy).
    case retry(String)
    /// The robot is throttled: pause it, keep the queue.
    case throttled(String)
    /// The message itself or the configuration is refused; retrying is unlikely to help.
    case refused(String)

    /// For HTTP statuses other than 200.
    static func http(_ status: Int) -> DeliveryVerdict {
        status >= 500 || status == 429 || status == 408 ? .retry("HTTP \(status)") : .refused("HTTP \(status)")
    }
}


struct DingTalkRobot: Robot {
    let webhook: String
    let secret: String?
    let atMobiles: [String]
    let atUserIDs: [String]

    func request(for message: AlertMessage, incidents: [Incident], messageID: String, nowMilliseconds: Int64) -> RobotRequest {
        RobotRequest(
            url: DingTalk.signedURL(webhook: webhook, secret: secret, timestampMilliseconds: nowMilliseconds),
            body: DingTalk.markdownBody(title: message.title, text: message.text, atMobiles: atMobiles, atUserIDs: atUserIDs, messageID: messageID),
            limit: DingTalk.maxBodyBytes)
    }

    func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict { DingTalk.verdict(status: status, body: body) }
    var maxTextBytes: Int { 18_000 }
}

struct FeishuRobot: Robot {
    let webhook: String
    let secret: String?
    let atUserIDs: [String]

    func request(for message: AlertMessage, incidents: [Incident], messageID: String, nowMilliseconds: Int64) -> RobotRequest {
        RobotRequest(
            url: webhook, body: Feishu.postBody(message, atUserIDs: atUserIDs, secret: secret, timestampSeconds: nowMilliseconds / 1000),
            limit: Feishu.maxBodyBytes)
    }

    func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict { Feishu.verdict(status: status, body: body) }
    var maxTextBytes: Int { 18_000 }
}

struct WeComRobot: Robot {
    let webhook: String
    let atUserIDs: [String]

    func request(for message: AlertMessage, incidents: [Incident], messageID: String, nowMilliseconds: Int64) -> RobotRequest {
        RobotRequest(url: webhook, body: WeCom.markdownBody(message, atUserIDs: atUserIDs), limit: WeCom.maxContentBytes + 200)
    }

    func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict { WeCom.verdict(status: status, body: body) }
    /// Room for the mentions inside the robot's 4,096 bytes of content.
    var maxTextBytes: Int { WeCom.maxContentBytes - 300 }
}

struct WebhookRobot: Robot {
    let webhook: String

    func request(for message: AlertMessage, incidents: [Incident], messageID: String, nowMilliseconds: Int64) -> RobotRequest {
        RobotRequest(url: webhook, body: Webhook.body(message, incidents: incidents, messageID: messageID), limit: 1 << 20)
    }

    func verdict(status: Int, body: [UInt8]) -> DeliveryVerdict { Webhook.verdict(status: status, body: body) }
    var maxTextBytes: Int { 18_000 }
}

extension AlertChannel {
    /// The robot this channel posts to.
    package var robot: any Robot {
        switch kind {
        case .dingtalk: DingTalkRobot(webhook: webhook, secret: secret, atMobiles: atMobiles, atUserIDs: atUserIDs)
        case .feishu: FeishuRobot(webhook: webhook, secret: secret, atUserIDs: atUserIDs)
        case .wecom: WeComRobot(webhook: webhook, atUserIDs: atUserIDs)
        case .webhook: WebhookRobot(webhook: webhook)
        }
    }
}
