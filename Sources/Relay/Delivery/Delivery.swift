import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Wire

/// A chat robot to deliver alerts to.
public struct AlertChannel: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case dingtalk, feishu, wecom, webhook }

    /// A name for logs, the outbox and `relay status` (default: the kind).
    public var name: String
    public var kind: Kind
    /// The robot's webhook URL, with its access token (a secret: never logged).
    public var webhook: String
    /// The signing secret (`SEC…`), when the robot has 加签 on.
    public var secret: String?
    /// A keyword the robot requires; put in every message's title and text.
    public var keyword: String?
    public var atMobiles: [String] = []
    public var atUserIDs: [String] = []
    /// Incidents below this severity are not sent here.
    public var minimumSeverity: Event.Severity = .medium
    public var language: AlertMessage.Language = .zh
    /// The channel's own layout for single-incident alerts (nil: the built-in one in `language`).
    public var template: AlertTemplate?
    /// Messages a minute the robot takes (DingTalk and WeCom: 20; Feishu: 100, and 5 a
    /// second, which the pacing's burst of 4 respects); the relay keeps one below.
    public var perMinute = 20
    /// How long the robot stays blocked after answering with its rate error.
    public var blockSeconds = 600
    public var maxAttempts = 12
    public var timeoutSeconds = 10

    public init(name: String, kind: Kind, webhook: String) {
        self.name = name
        self.kind = kind
        self.webhook = webhook
    }

    /// The most bytes of markdown one message may carry on this robot.
    var maxTextBytes: Int { kind == .wecom ? WeCom.maxContentBytes - 300 : 18_000 }
}

/// Delivers incidents to chat robots, losing none: each is written to the outbox in the
/// store before any attempt, retried with backoff and jitter, and marked delivered only on
/// the robot's success answer; after `maxAttempts` it is a dead letter. Each robot gets at
/// most `perMinute - 1` messages in any 60 s; when more incidents are due than that allows,
/// they are folded into digest messages. A robot that answers with its rate error is paused
/// for `blockSeconds` with its queue kept.
public final class Delivery: Service, Sendable {
    let channels: [AlertChannel]
    let store: Store
    let client: HTTPClient
    let logger: Logger
    let counters: Counters
    let timeZone: TimeZone
    /// Set when an analysis model is configured.
    let analyst = Mutex<Analyst?>(nil)
    let proxy: HTTPClient.Configuration.Proxy?
    private let state = Mutex<[String: ChannelState]>([:])
    /// Raised when an alert is queued, so each channel's loop looks at once rather than at
    /// its next round (each loop remembers the last value it saw).
    private let woken = Atomic<Int>(0)

    /// Per robot: the attempts of the last minute, and a token bucket that paces them.
    ///
    /// The bucket holds `perMinute / 5` tokens (4 for DingTalk) and refills so that a full
    /// bucket plus a minute's refill stay under the limit (15 a minute): a burst gets a few
    /// messages at once, then a digest of everything that accumulated every 4 s, never an
    /// hour's backlog behind a spent minute. The sliding window is checked as well.
    struct ChannelState {
        var sent: [Int64] = []  // attempt times (µs) within the last minute
        var pausedUntil: Int64 = 0
        var tokens: Double
        var refilled: Int64

        init(capacity: Double, now: Int64) {
            tokens = capacity
            refilled = now
        }
    }

    static func capacity(_ c: AlertChannel) -> Double { Double(min(4, max(1, c.perMinute / 5))) }
    /// Tokens per microsecond.
    static func refillRate(_ c: AlertChannel) -> Double { Double(max(1, c.perMinute - 1 - Int(capacity(c)))) / 60_000_000 }

    public init(channels: [AlertChannel], store: Store, counters: Counters, proxy: HTTPClient.Configuration.Proxy? = nil,
                timeZone: TimeZone = .current, logger: Logger) {
        self.channels = channels
        self.store = store
        self.counters = counters
        self.logger = logger
        self.timeZone = timeZone
        self.proxy = proxy
        var configuration = HTTPClient.Configuration()
        configuration.proxy = proxy
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(Int64(channels.map(\.timeoutSeconds).max() ?? 10)))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Adds the model's analysis to single-incident alerts.
    public func use(_ settings: AnalysisSettings) throws {
        let a = try Analyst(settings: settings, store: store, client: client, counters: counters, logger: logger,
                            proxy: proxy.map { ($0.host, $0.port, $0.authorization?.headerValue) })
        a.whenLate { [weak self] incident, channels in
            guard let self else { return }
            do {
                try self.store.enqueueAnalysis(incident: incident, channels: channels.sorted(), now: Pipeline.now())
                self.woken.add(1, ordering: .relaxed)
            } catch {
                self.logger.error("cannot queue a late analysis", metadata: ["incident": "\(incident)", "error": "\(error)"])
            }
        }
        analyst.withLock { $0 = a }
    }

    /// The channels an incident that just opened is alerted to: every one that takes its
    /// severity; for one raised from `escalatedFrom`, those that did not take it before.
    public func channels(for incident: Incident, escalatedFrom: Event.Severity? = nil) -> [String] {
        channels.filter { channel in
            incident.severity >= channel.minimumSeverity && !(escalatedFrom.map { $0 >= channel.minimumSeverity } ?? false)
        }.map(\.name)
    }

    /// Alerts were queued in the store: look at the outbox now.
    public func wake() { woken.add(1, ordering: .relaxed) }

    /// Queues an incident for its channels on its own (tests; the relay queues alerts in the
    /// pipeline's transaction).
    public func enqueue(_ incident: Incident, escalatedFrom: Event.Severity? = nil) {
        let names = channels(for: incident, escalatedFrom: escalatedFrom)
        guard !names.isEmpty else { return }
        do {
            try store.enqueue(incident, channels: names, now: Pipeline.now())
            counters.add("relay_alerts_queued_total", names.count)
            woken.add(1, ordering: .relaxed)
        } catch {
            // Not lost: the incident is still in the store; the operator sees this error.
            counters.add("relay_outbox_errors_total")
            logger.error("cannot queue an alert", metadata: ["incident": "\(incident.id)", "error": "\(error)"])
        }
    }

    /// One loop per channel: a robot that hangs, or an alert waiting for its analysis, holds
    /// up only its own channel.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for channel in self.channels {
                    group.addTask { await self.serve(channel) }
                }
            }
        }
        try? await client.shutdown()
    }

    func serve(_ channel: AlertChannel) async {
        var last = ContinuousClock.now
        var seen = -1
        while !Task.isCancelled {
            // At once for a new alert; every 500 ms for retries and a paused robot.
            let now = woken.load(ordering: .relaxed)
            if now != seen || ContinuousClock.now - last >= .milliseconds(500) {
                seen = now
                last = ContinuousClock.now
                while await deliverOne(channel) {}
            }
            guard (try? await Task.sleep(for: .milliseconds(25))) != nil else { break }
        }
    }

    /// Sends one message to `channel` if anything is due and the budget allows; returns
    /// whether it sent one.
    func deliverOne(_ channel: AlertChannel) async -> Bool {
        let now = Pipeline.now()
        let capacity = Self.capacity(channel)
        let tokens = state.withLock { states -> Double in
            var s = states[channel.name] ?? ChannelState(capacity: capacity, now: now)
            s.sent.removeAll { now - $0 >= 60_000_000 }
            s.tokens = min(capacity, s.tokens + Double(now - s.refilled) * Self.refillRate(channel))
            s.refilled = now
            states[channel.name] = s
            guard now >= s.pausedUntil, s.sent.count < channel.perMinute - 1 else { return 0 }
            return s.tokens
        }
        guard tokens >= 1 else { return false }
        var batch: [Store.OutboxEntry]
        let incidents: [Incident]
        do {
            // With the bucket down to its last token, everything due goes into one digest.
            batch = try store.nextBatch(channel: channel.name, now: now, limit: tokens >= 2 ? 1 : 200) { UUID().uuidString.lowercased() }
            guard !batch.isEmpty else { return false }
            incidents = try store.incidents(ids: batch.map(\.incident))
            // Rows whose incident retention (or an operator) removed: nothing left to say.
            let stored = Set(incidents.map(\.id))
            let orphans = batch.filter { !stored.contains($0.incident) }
            if !orphans.isEmpty {
                try store.settle(orphans, delivered: true, error: "incident no longer stored", nextAttempt: now, now: now, maxAttempts: channel.maxAttempts)
                counters.add("relay_outbox_orphans_total{channel=\"\(channel.name)\"}", orphans.count)
                logger.warning("outbox rows settled: their incident is no longer stored", metadata: ["channel": "\(channel.name)", "rows": "\(orphans.count)"])
                batch = batch.filter { stored.contains($0.incident) }
                guard !batch.isEmpty else { return true }
            }
        } catch {
            logger.error("cannot read the outbox", metadata: ["error": "\(error)"])
            return false
        }
        let message: AlertMessage
        var carriesAnalysis = false
        if batch[0].kind == .analysis, let incident = incidents.first {
            guard let text = (try? store.analysis(incident: incident.id)) ?? nil else {
                // Nothing to follow up with (cannot happen unless the store was edited): done.
                try? store.settle(batch, delivered: true, error: "no analysis stored", nextAttempt: now, now: now, maxAttempts: channel.maxAttempts)
                return true
            }
            message = AlertMessage.followUp(incident, analysis: text, language: channel.language, keyword: channel.keyword, maxBytes: channel.maxTextBytes)
        } else if incidents.count == 1 {
            var analysis: String?
            if let analyst = analyst.withLock({ $0 }) {
                // Never later than the timeout after the alert was queued.
                let waited = Double(now - (batch.map(\.created).min() ?? now)) / 1e6
                let left = max(0, Double(analyst.settings.timeoutSeconds) - waited)
                analysis = await analyst.analysis(for: incidents[0], deadline: .now + .milliseconds(Int(left * 1000)), channel: channel.name)
                carriesAnalysis = analysis != nil
            }
            message = AlertMessage.incident(incidents[0], language: channel.language, keyword: channel.keyword, timeZone: timeZone,
                                            maxBytes: channel.maxTextBytes, analysis: analysis, template: channel.template)
        } else {
            message = AlertMessage.digest(incidents, language: channel.language, keyword: channel.keyword, timeZone: timeZone, maxBytes: channel.maxTextBytes)
        }
        state.withLock { states in
            states[channel.name]?.sent.append(now)
            states[channel.name]?.tokens -= 1
        }
        // A digest names what fits; the others wait for the next message (never marked delivered unseen).
        let named = Set(message.incidents)
        let left = batch.filter { !named.contains($0.incident) }
        if !left.isEmpty {
            try? store.release(left)
            batch = batch.filter { named.contains($0.incident) }
        }
        guard let first = batch.first else { return false }
        let verdict = await send(message, incidents: incidents.filter { named.contains($0.id) }, messageID: first.messageID ?? "", to: channel)
        let attempts = (batch.map(\.attempts).max() ?? 0) + 1
        do {
            switch verdict {
            case .delivered:
                try store.settle(batch, delivered: true, error: nil, nextAttempt: now, now: Pipeline.now(), maxAttempts: channel.maxAttempts)
                // A retried alert that now carries the analysis makes a queued follow-up redundant.
                if carriesAnalysis { try store.dropAnalysisFollowUps(incident: first.incident, channel: channel.name) }
                counters.add("relay_alerts_delivered_total{channel=\"\(channel.name)\"}", batch.count)
                counters.add("relay_messages_sent_total{channel=\"\(channel.name)\"}")
            case .throttled(let why):
                let until = Pipeline.now() + Int64(channel.blockSeconds) * 1_000_000
                state.withLock { $0[channel.name]?.pausedUntil = until }
                try store.postpone(batch, until: until, error: why)
                counters.add("relay_robot_blocked_total{channel=\"\(channel.name)\"}")
                logger.warning("robot throttled: paused, queue kept", metadata: ["channel": "\(channel.name)", "answer": "\(why)", "seconds": "\(channel.blockSeconds)"])
            case .retry(let why), .refused(let why):
                // Backoff 2^n s (at most 10 min) with ±25% jitter.
                let base = min(600.0, pow(2.0, Double(attempts)))
                let delay = Int64(base * Double.random(in: 0.75...1.25) * 1_000_000)
                try store.settle(batch, delivered: false, error: why, nextAttempt: Pipeline.now() + delay, now: Pipeline.now(), maxAttempts: channel.maxAttempts)
                counters.add("relay_alert_failures_total{channel=\"\(channel.name)\"}")
                if attempts >= channel.maxAttempts {
                    counters.add("relay_alerts_dead_total{channel=\"\(channel.name)\"}", batch.count)
                }
                logger.warning("alert not delivered; will retry", metadata: ["channel": "\(channel.name)", "answer": "\(why)", "attempt": "\(attempts)"])
            }
        } catch {
            logger.error("cannot record a delivery outcome", metadata: ["error": "\(error)"])
        }
        if case .delivered = verdict { return true }
        return false
    }

    func send(_ message: AlertMessage, incidents: [Incident], messageID: String, to channel: AlertChannel) async -> DeliveryVerdict {
        var (url, body, limit) = request(message, incidents: incidents, messageID: messageID, to: channel)
        if body.count > limit, let incident = incidents.first(where: { message.incidents.contains($0.id) }) ?? incidents.first {
            // A formatting fault, not the alert's: say the least, never hold it back.
            counters.add("relay_alert_format_faults_total{channel=\"\(channel.name)\"}")
            logger.error("alert over the robot's limit: sent in its least form", metadata: ["channel": "\(channel.name)", "bytes": "\(body.count)"])
            let least = AlertMessage.minimal(incident, language: channel.language, keyword: channel.keyword, maxBytes: min(channel.maxTextBytes, 1024))
            (url, body, limit) = request(least, incidents: [incident], messageID: messageID, to: channel)
        }
        guard body.count <= limit else { return .refused("message of \(body.count) bytes is over the robot's limit") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(channel.timeoutSeconds)))
            let answer = Array(try await response.body.collect(upTo: 64 * 1024).readableBytesView)
            let status = Int(response.status.code)
            switch channel.kind {
            case .dingtalk: return DingTalk.verdict(status: status, body: answer)
            case .feishu: return Feishu.verdict(status: status, body: answer)
            case .wecom: return WeCom.verdict(status: status, body: answer)
            case .webhook: return Webhook.verdict(status: status, body: answer)
            }
        } catch {
            // The error text may quote the URL with its token: keep it out of logs.
            return .retry("network: \(type(of: error))")
        }
    }

    /// The robot's URL, the body and the robot's limit on it.
    func request(_ message: AlertMessage, incidents: [Incident], messageID: String, to channel: AlertChannel) -> (String, [UInt8], Int) {
        let now = Pipeline.now() / 1000
        let url: String
        let body: [UInt8]
        let limit: Int
        switch channel.kind {
        case .dingtalk:
            url = DingTalk.signedURL(webhook: channel.webhook, secret: channel.secret, timestampMilliseconds: now)
            body = DingTalk.markdownBody(title: message.title, text: message.text, atMobiles: channel.atMobiles, atUserIDs: channel.atUserIDs,
                                         messageID: messageID)
            limit = DingTalk.maxBodyBytes
        case .feishu:
            url = channel.webhook
            body = Feishu.postBody(message, atUserIDs: channel.atUserIDs, secret: channel.secret, timestampSeconds: now / 1000)
            limit = Feishu.maxBodyBytes
        case .wecom:
            url = channel.webhook
            body = WeCom.markdownBody(message, atUserIDs: channel.atUserIDs)
            limit = WeCom.maxContentBytes + 200
        case .webhook:
            url = channel.webhook
            body = Webhook.body(message, incidents: incidents, messageID: messageID)
            limit = 1 << 20
        }
        return (url, body, limit)
    }
}
