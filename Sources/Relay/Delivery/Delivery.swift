import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Plumbing
import ServiceLifecycle
import Synchronization
import Wire

/// A chat robot to deliver alerts to.
package struct AlertChannel: Sendable, Hashable {
    package enum Kind: String, Sendable, Hashable { case dingtalk, feishu, wecom, webhook }

    /// A name for logs, the outbox and `relay status` (default: the kind).
    package var name: String
    package var kind: Kind
    /// The robot's webhook URL, with its access token (a secret: never logged).
    package var webhook: String
    /// The signing secret (`SEC…`), when the robot has 加签 on.
    package var secret: String?
    /// A keyword the robot requires; put in every message's title and text.
    package var keyword: String?
    package var atMobiles: [String] = []
    package var atUserIDs: [String] = []
    /// Incidents below this severity are not sent here.
    package var minimumSeverity: Event.Severity = .medium
    package var language: AlertMessage.Language = .zh
    /// The channel's own layout for single-incident alerts (nil: the built-in one in `language`).
    package var template: AlertTemplate?
    /// Messages a minute the robot takes (DingTalk and WeCom: 20; Feishu: 100, and 5 a
    /// second, which the pacing's burst of 4 respects); the relay keeps one below.
    package var perMinute = 20
    /// How long the robot stays blocked after answering with its rate error.
    package var blockSeconds = 600
    package var maxAttempts = 12
    package var timeoutSeconds = 10

    package init(name: String, kind: Kind, webhook: String) {
        self.name = name
        self.kind = kind
        self.webhook = webhook
    }

    /// The most bytes of markdown one message may carry on this robot.
    var maxTextBytes: Int { robot.maxTextBytes }
}

/// Delivers incidents to chat robots, losing none: each is written to the outbox before any
/// attempt, retried with backoff and jitter, and marked delivered only on the robot's success
/// answer; after `maxAttempts` it is a dead letter. Each robot gets at most `perMinute - 1`
/// messages in any 60 s (`RobotPacing`); when more incidents are due than that allows, they
/// are folded into digest messages. A robot that answers with its rate error is paused for
/// `blockSeconds` with its queue kept.
///
/// One dispatcher per channel, woken by its doorbell when alerts are queued, and twice a
/// second for retries and paused robots. Time comes from `clock`: tests set it and call
/// `deliverOne` without sleeping.
package final class Delivery: Service, Sendable {
    let channels: [AlertChannel]
    let outbox: any Outbox
    let client: HTTPClient
    let logger: Logger
    let counters: Counters
    let timeZone: TimeZone
    let clock: WallClock
    /// Set when an analysis model is configured.
    let analyst = Mutex<Analyst?>(nil)
    let proxy: HTTPClient.Configuration.Proxy?
    let trustedCAFile: String?
    private let pacing = Mutex<[String: RobotPacing]>([:])
    private let doorbells: [String: Doorbell]
    private let looks = Atomic<Int>(0)
    /// Where the outbox's reads and writes run: a slow disk holds up delivery alone.
    private let outboxQueue = DispatchQueue(label: "relay-delivery-outbox")

    /// How many times a dispatcher has looked at the outbox and found nothing more it could
    /// send (nothing due, or its robot paused). A test that must show an alert is *not* sent
    /// waits for this to move on by two after the change: one whole look came after it.
    package var idleLooks: Int { looks.load(ordering: .relaxed) }

    /// `trustedCAFile`: PEM certificates trusted for HTTPS and WSS besides the system's.
    package init(channels: [AlertChannel], outbox: any Outbox, counters: Counters, proxy: HTTPClient.Configuration.Proxy? = nil,
                trustedCAFile: String? = nil, timeZone: TimeZone = .current, clock: WallClock = .system, logger: Logger) {
        self.channels = channels
        self.outbox = outbox
        self.counters = counters
        self.logger = logger
        self.timeZone = timeZone
        self.clock = clock
        self.proxy = proxy
        self.trustedCAFile = trustedCAFile
        doorbells = Dictionary(channels.map { ($0.name, Doorbell()) }, uniquingKeysWith: { first, _ in first })
        var configuration = HTTPClient.Configuration()
        configuration.proxy = proxy
        configuration.tlsConfiguration = Self.clientTLS(trustedCAFile)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(Int64(channels.map(\.timeoutSeconds).max() ?? 10)))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The system's trust roots, and those of `trustedCAFile`.
    static func clientTLS(_ trustedCAFile: String?) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustedCAFile { tls.additionalTrustRoots = [.file(trustedCAFile)] }
        return tls
    }

    /// Adds the model's analysis to single-incident alerts; `store` keeps the answers, and
    /// an alert waits for its analysis on `waitClock`.
    package func use(_ settings: AnalysisSettings, store: Store, waitClock: any Clock<Duration> = ContinuousClock()) throws {
        let a = try Analyst(settings: settings, store: store, client: client, counters: counters, logger: logger,
                            proxy: proxy.map { ($0.host, $0.port, $0.authorization?.headerValue) }, tls: Self.clientTLS(trustedCAFile),
                            clock: waitClock, wallClock: clock)
        a.whenLate { [weak self] incident, channels in
            guard let self else { return }
            self.outboxQueue.async {
                do {
                    try self.outbox.enqueueAnalysis(incident: incident, channels: channels.sorted(), now: self.clock.now)
                    self.wake()
                } catch {
                    self.logger.error("cannot queue a late analysis", metadata: ["incident": "\(incident)", "error": "\(error)"])
                }
            }
        }
        analyst.withLock { $0 = a }
    }

    /// The channels an incident that just opened is alerted to: every one that takes its
    /// severity; for one raised from `escalatedFrom`, those that did not take it before.
    package func channels(for incident: Incident, escalatedFrom: Event.Severity? = nil) -> [String] {
        channels.filter { channel in
            incident.severity >= channel.minimumSeverity && !(escalatedFrom.map { $0 >= channel.minimumSeverity } ?? false)
        }.map(\.name)
    }

    /// Alerts were queued: every dispatcher looks at the outbox now.
    package func wake() {
        for bell in doorbells.values { bell.ring() }
    }

    /// Queues an incident for its channels on its own (tests; the relay queues alerts in the
    /// pipeline's transaction).
    package func enqueue(_ incident: Incident, escalatedFrom: Event.Severity? = nil) {
        let names = channels(for: incident, escalatedFrom: escalatedFrom)
        guard !names.isEmpty else { return }
        do {
            try outbox.enqueue(incident, channels: names, now: clock.now)
            counters.add("relay_alerts_queued_total", names.count)
            for name in names { doorbells[name]?.ring() }
        } catch {
            // Not lost: the incident is still in the store; the operator sees this error.
            counters.add("relay_outbox_errors_total")
            logger.error("cannot queue an alert", metadata: ["incident": "\(incident.id)", "error": "\(error)"])
        }
    }

    /// One dispatcher per channel: a robot that hangs, or an alert waiting for its analysis,
    /// holds up only its own channel.
    package func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for channel in self.channels {
                    group.addTask { await self.serve(channel) }
                }
            }
        }
        await shutdown()
    }

    /// Closes the HTTP client (`run` does it when it ends; tests that call `deliverOne`
    /// themselves do it at their end).
    func shutdown() async {
        try? await client.shutdown()
    }

    func serve(_ channel: AlertChannel) async {
        guard let bell = doorbells[channel.name] else { return }
        while !Task.isCancelled {
            while !Task.isCancelled, await deliverOne(channel) {}
            looks.add(1, ordering: .relaxed)
            // At once for a new alert; twice a second for retries and a paused robot.
            await bell.wait(timeout: .milliseconds(500))
        }
    }

    /// What the outbox holds for a channel's next message.
    private enum Next: Sendable {
        /// Nothing due (or the outbox could not be read).
        case nothing
        /// Rows were settled without a message (their incident is gone): look again.
        case settled
        /// A follow-up with its analysis.
        case followUp([Outbox.Entry], Incident, analysis: String)
        /// Alerts: one incident (which may wait for its analysis) or several (a digest).
        case alerts([Outbox.Entry], [Incident])
    }

    /// Sends one message to `channel` if anything is due and the pacing allows; returns
    /// whether it sent one.
    func deliverOne(_ channel: AlertChannel) async -> Bool {
        let now = clock.now
        let tokens = pacing.withLock { all -> Double in
            var p = all[channel.name] ?? RobotPacing(perMinute: channel.perMinute, now: now)
            defer { all[channel.name] = p }
            return p.available(now: now)
        }
        guard tokens >= 1 else { return false }
        // With the bucket down to its last token, everything due goes into one digest.
        let next = await outboxQueue.result { self.next(for: channel, now: now, limit: tokens >= 2 ? 1 : 200) }
        var batch: [Outbox.Entry]
        let incidents: [Incident]
        let message: AlertMessage
        var carriesAnalysis = false
        switch next {
        case .nothing: return false
        case .settled: return true
        case .followUp(let entries, let incident, let text):
            (batch, incidents) = (entries, [incident])
            message = AlertMessage.followUp(incident, analysis: text, language: channel.language, keyword: channel.keyword, maxBytes: channel.maxTextBytes)
        case .alerts(let entries, let found) where found.count == 1:
            (batch, incidents) = (entries, found)
            var analysis: String?
            if let analyst = analyst.withLock({ $0 }) {
                // Never later than the timeout after the alert was queued.
                let waited = Double(now - (batch.map(\.created).min() ?? now)) / 1e6
                let left = max(0, Double(analyst.settings.timeoutSeconds) - waited)
                analysis = await analyst.analysis(for: incidents[0], within: .milliseconds(Int(left * 1000)), channel: channel.name)
                carriesAnalysis = analysis != nil
            }
            message = AlertMessage.incident(incidents[0], language: channel.language, keyword: channel.keyword, timeZone: timeZone,
                                            maxBytes: channel.maxTextBytes, analysis: analysis, template: channel.template)
        case .alerts(let entries, let found):
            (batch, incidents) = (entries, found)
            message = AlertMessage.digest(incidents, language: channel.language, keyword: channel.keyword, timeZone: timeZone, maxBytes: channel.maxTextBytes)
        }
        pacing.withLock { $0[channel.name]?.attempted(at: now) }
        // A digest names what fits; the others wait for the next message (never marked delivered unseen).
        let named = Set(message.incidents)
        let left = batch.filter { !named.contains($0.incident) }
        if !left.isEmpty {
            let outbox = self.outbox
            await outboxQueue.result { try? outbox.release(left) }
            batch = batch.filter { named.contains($0.incident) }
        }
        guard let first = batch.first else { return false }
        let verdict = await send(message, incidents: incidents.filter { named.contains($0.id) }, messageID: first.messageID ?? "", to: channel)
        let sent = batch
        if Task.isCancelled, case .retry = verdict {
            // Shutdown cut the send short: the robot may have the message or not. That is no
            // failed attempt (none counted, no backoff, never a step towards a dead letter);
            // the rows keep their message id, so the next start sends the same msgUuid and
            // DingTalk shows it once.
            let outbox = self.outbox
            await outboxQueue.result { try? outbox.postpone(sent, until: now, error: "interrupted by shutdown") }
            return false
        }
        let settleAnalysis = carriesAnalysis
        await outboxQueue.result { self.record(verdict, for: sent, carriesAnalysis: settleAnalysis, on: channel) }
        if case .delivered = verdict { return true }
        return false
    }

    /// The entries of the channel's next message and what it says (on the outbox's queue).
    private func next(for channel: AlertChannel, now: Int64, limit: Int) -> Next {
        do {
            var batch = try outbox.nextBatch(channel: channel.name, now: now, limit: limit) { UUID().uuidString.lowercased() }
            guard !batch.isEmpty else { return .nothing }
            let incidents = try outbox.incidents(ids: batch.map(\.incident))
            // Rows whose incident retention (or an operator) removed: nothing left to say.
            let stored = Set(incidents.map(\.id))
            let orphans = batch.filter { !stored.contains($0.incident) }
            if !orphans.isEmpty {
                try outbox.settle(orphans, delivered: true, error: "incident no longer stored", nextAttempt: now, now: now, maxAttempts: channel.maxAttempts)
                counters.add("relay_outbox_orphans_total{channel=\"\(channel.name)\"}", orphans.count)
                logger.warning("outbox rows settled: their incident is no longer stored", metadata: ["channel": "\(channel.name)", "rows": "\(orphans.count)"])
                batch = batch.filter { stored.contains($0.incident) }
                guard !batch.isEmpty else { return .settled }
            }
            if batch[0].kind == .analysis, let incident = incidents.first {
                guard let text = (try? outbox.analysis(incident: incident.id)) ?? nil else {
                    // Nothing to follow up with (cannot happen unless the store was edited): done.
                    try? outbox.settle(batch, delivered: true, error: "no analysis stored", nextAttempt: now, now: now, maxAttempts: channel.maxAttempts)
                    return .settled
                }
                return .followUp(batch, incident, analysis: text)
            }
            return .alerts(batch, incidents)
        } catch {
            logger.error("cannot read the outbox", metadata: ["error": "\(error)"])
            return .nothing
        }
    }

    /// Records the robot's answer in the outbox (on the outbox's queue).
    private func record(_ verdict: DeliveryVerdict, for batch: [Outbox.Entry], carriesAnalysis: Bool, on channel: AlertChannel) {
        guard let first = batch.first else { return }
        let attempts = (batch.map(\.attempts).max() ?? 0) + 1
        let after = clock.now
        do {
            switch verdict {
            case .delivered:
                try outbox.settle(batch, delivered: true, error: nil, nextAttempt: after, now: after, maxAttempts: channel.maxAttempts)
                // A retried alert that now carries the analysis makes a queued follow-up redundant.
                if carriesAnalysis { try outbox.dropAnalysisFollowUps(incident: first.incident, channel: channel.name) }
                counters.add("relay_alerts_delivered_total{channel=\"\(channel.name)\"}", batch.count)
                counters.add("relay_messages_sent_total{channel=\"\(channel.name)\"}")
            case .throttled(let why):
                let until = after + Int64(channel.blockSeconds) * 1_000_000
                pacing.withLock { $0[channel.name]?.pause(until: until) }
                try outbox.postpone(batch, until: until, error: why)
                counters.add("relay_robot_blocked_total{channel=\"\(channel.name)\"}")
                logger.warning("robot throttled: paused, queue kept", metadata: ["channel": "\(channel.name)", "answer": "\(why)", "seconds": "\(channel.blockSeconds)"])
            case .retry(let why), .refused(let why):
                let delay = RetryBackoff.delayMicroseconds(afterAttempts: attempts, jitter: Double.random(in: 0.75...1.25))
                try outbox.settle(batch, delivered: false, error: why, nextAttempt: after + delay, now: after, maxAttempts: channel.maxAttempts)
                counters.add("relay_alert_failures_total{channel=\"\(channel.name)\"}")
                if attempts >= channel.maxAttempts {
                    counters.add("relay_alerts_dead_total{channel=\"\(channel.name)\"}", batch.count)
                }
                logger.warning("alert not delivered; will retry", metadata: ["channel": "\(channel.name)", "answer": "\(why)", "attempt": "\(attempts)"])
            }
        } catch {
            logger.error("cannot record a delivery outcome", metadata: ["error": "\(error)"])
        }
    }

    func send(_ message: AlertMessage, incidents: [Incident], messageID: String, to channel: AlertChannel) async -> DeliveryVerdict {
        let robot = channel.robot
        let nowMilliseconds = clock.now / 1000
        var request = robot.request(for: message, incidents: incidents, messageID: messageID, nowMilliseconds: nowMilliseconds)
        if request.body.count > request.limit, let incident = incidents.first(where: { message.incidents.contains($0.id) }) ?? incidents.first {
            // A formatting fault, not the alert's: say the least, never hold it back.
            counters.add("relay_alert_format_faults_total{channel=\"\(channel.name)\"}")
            logger.error("alert over the robot's limit: sent in its least form", metadata: ["channel": "\(channel.name)", "bytes": "\(request.body.count)"])
            let least = AlertMessage.minimal(incident, language: channel.language, keyword: channel.keyword, maxBytes: min(channel.maxTextBytes, 1024))
            request = robot.request(for: least, incidents: [incident], messageID: messageID, nowMilliseconds: nowMilliseconds)
        }
        guard request.body.count <= request.limit else { return .refused("message of \(request.body.count) bytes is over the robot's limit") }
        var post = HTTPClientRequest(url: request.url)
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        post.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(post, timeout: .seconds(Int64(channel.timeoutSeconds)))
            let answer = Array(try await response.body.collect(upTo: 64 * 1024).readableBytesView)
            return robot.verdict(status: Int(response.status.code), body: answer)
        } catch {
            // The error text may quote the URL with its token: keep it out of logs.
            return .retry("network: \(type(of: error))")
        }
    }
}
