import AsyncHTTPClient
import Detection
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Plumbing
import Testing
import TestSupport
import Wire

@testable import Relay

/// iFlytek Spark over its WebSocket API, against a fake that checks what the gateway checks
/// (../shared/specs/chat-and-llm-apis.md §B.9).
@Suite("Spark", .serialized)
struct SparkTests {
    static let vectorDate = Date(timeIntervalSince1970: 1_683_283_419)  // Fri, 05 May 2023 10:43:39 GMT
    static let vectorKey = "addd2272b6d8b7c8abdd79531420ca3b"
    static let vectorSecret = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
    static let vectorAuthorization =
        "YXBpX2tleT0iYWRkZDIyNzJiNmQ4YjdjOGFiZGQ3OTUzMTQyMGNhM2IiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2IiwgaGVhZGVycz0iaG9zdCBkYXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iejVnSGR1M3B4VlY0QURNeWs0Njd3T1dEUTlxNkJRelIzbmZNVGpjL0RhUT0i"

    /// §0: the official example, byte for byte.
    @Test func theSignedURLMatchesTheOfficialVector() {
        #expect(Spark.httpDate(Self.vectorDate) == "Fri, 05 May 2023 10:43:39 GMT")
        #expect(Spark.httpDate(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(Spark.httpDate(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 GMT")
        let date = "Fri, 05 May 2023 10:43:39 GMT"
        #expect(Spark.signature(host: "spark-api.xf-yun.com", date: date, requestLine: "GET /v1.1/chat HTTP/1.1", secret: Self.vectorSecret)
            == "z5gHdu3pxVV4ADMyk467wOWDQ9q6BQzR3nfMTjc/DaQ=")
        #expect(Spark.signature(host: "spark-api.xf-yun.com", date: date, requestLine: "POST /v1.1/chat HTTP/1.1", secret: Self.vectorSecret)
            == "SFd0y1XlQwsvdK2a0Xyo3wKmfsUovlavQOFPYiWanfw=")
        let url = Spark.signedURL("wss://spark-api.xf-yun.com/v1.1/chat", apiKey: Self.vectorKey, apiSecret: Self.vectorSecret, date: Self.vectorDate)
        #expect(url == "wss://spark-api.xf-yun.com/v1.1/chat?authorization=\(Self.vectorAuthorization)&date=Fri%2C+05+May+2023+10%3A43%3A39+GMT&host=spark-api.xf-yun.com")
    }

    static func upgradeRequest(_ target: String, host: String) -> [UInt8] {
        Array(("GET \(target) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
    }

    /// A masked client text frame (RFC 6455 §5.2).
    static func clientFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    /// The fake accepts the official example's URL with its clock frozen at the example's
    /// date, and closes a connection that sends no request within its idle time.
    @Test func theFakeAcceptsTheOfficialVectorAndClosesAnIdleConnection() async throws {
        let spark = try await FakeSpark(apiKey: Self.vectorKey, apiSecret: Self.vectorSecret)
        spark.configure {
            $0.now = Self.vectorDate
            $0.idleSeconds = 0.3
        }
        let target = "/v1.1/chat?authorization=\(Self.vectorAuthorization)&date=Fri%2C+05+May+2023+10%3A43%3A39+GMT&host=spark-api.xf-yun.com"
        let started = ContinuousClock.now
        let answer = String(decoding: try await Send.exchange(Self.upgradeRequest(target, host: "spark-api.xf-yun.com"), port: spark.port), as: UTF8.self)
        let took = ContinuousClock.now - started
        #expect(answer.hasPrefix("HTTP/1.1 101"), "\(answer)")
        #expect(took < .seconds(3), "closed after the idle time, not the 5 s the test waits: \(took)")
        // The same URL presented with another Host is a different signature.
        let other = String(decoding: try await Send.exchange(Self.upgradeRequest(target, host: "spark-api.example.org"), port: spark.port), as: UTF8.self)
        #expect(other.hasPrefix("HTTP/1.1 401") && other.contains("HMAC signature does not match"), "\(other)")
        // A minute after the example's date still passes; six minutes does not.
        spark.configure { $0.now = Self.vectorDate.addingTimeInterval(360) }
        let stale = String(decoding: try await Send.exchange(Self.upgradeRequest(target, host: "spark-api.xf-yun.com"), port: spark.port), as: UTF8.self)
        #expect(stale.hasPrefix("HTTP/1.1 403") && stale.contains("a valid date or x-date header is required"), "\(stale)")
        await spark.stop()
    }

    /// A URL signed by hand, to make each mistake a client can make.
    static func signed(
        _ spark: FakeSpark, path: String = "/v3.5/chat", host: String = "127.0.0.1", date: Date = Date(), key: String? = nil, secret: String? = nil,
        method: String = "GET", form: String = "api_key", suffix: String = "GMT", separator: String = ", "
    ) -> String {
        let dateText = Spark.httpDate(date).replacingOccurrences(of: "GMT", with: suffix)
        let signature = Spark.signature(host: host, date: dateText, requestLine: "\(method) \(path) HTTP/1.1", secret: secret ?? spark.apiSecret)
        let prefix = form == "api_key" ? "api_key=\"\(key ?? spark.apiKey)\"" : "hmac username=\"\(key ?? spark.apiKey)\""
        let origin = [prefix, "algorithm=\"hmac-sha256\"", "headers=\"host date request-line\"", "signature=\"\(signature)\""].joined(separator: separator)
        let authorization = Data(origin.utf8).base64EncodedString()
        return "ws://127.0.0.1:\(spark.port)\(path)?authorization=\(Spark.formEncode(authorization))&date=\(Spark.formEncode(dateText))&host=\(host)"
    }

    static func frame(_ spark: FakeSpark, domain: String = "generalv3.5", appID: String? = nil, user: String = "What happened?", maxTokens: Int = 400)
        -> [UInt8]
    {
        Spark.requestFrame(appID: appID ?? spark.appID, domain: domain, system: "You are a security analyst.", user: user, maxTokens: maxTokens)
    }

    static func outcome(_ url: String, _ frame: [UInt8]) async -> Result<Spark.Answer, Spark.Failure> {
        do {
            return .success(try await Spark.ask(signedURL: url, frame: frame, tls: nil, limit: .seconds(10)))
        } catch let failure as Spark.Failure {
            return .failure(failure)
        } catch {
            return .failure(.handshake(status: -1, message: "\(error)"))
        }
    }

    @Test func theFakeRefusesEverySignatureTheGatewayRefuses() async throws {
        let spark = try await FakeSpark()
        let frame = Self.frame(spark)
        func refusal(_ url: String) async -> (Int, String)? {
            if case .failure(.handshake(let status, let message)) = await Self.outcome(url, frame) { return (status, message) }
            return nil
        }
        let noAuthorization = "ws://127.0.0.1:\(spark.port)/v3.5/chat?date=x&host=127.0.0.1"
        #expect(await refusal(noAuthorization)?.0 == 401)
        #expect(await refusal(noAuthorization)?.1 == "Unauthorized")
        let unknownKey = await refusal(Self.signed(spark, key: "0123456789abcdef0123456789abcdef"))
        #expect(unknownKey?.0 == 401 && unknownKey?.1.contains("fail to retrieve credential") == true, "\(String(describing: unknownKey))")
        for (why, url) in [
            ("wrong secret", Self.signed(spark, secret: "not-the-secret")),
            ("POST request line", Self.signed(spark, method: "POST")),
            ("another path signed", Self.signed(spark, path: "/v3.5/chat").replacingOccurrences(of: "/v3.5/chat", with: "/v3.1/chat")),
            ("another host signed", Self.signed(spark, host: "spark-api.xf-yun.com")),
        ] {
            let r = await refusal(url)
            #expect(r?.0 == 401 && r?.1 == "HMAC signature does not match", "\(why): \(String(describing: r))")
        }
        // Outside by 20 s, not 1: the date has whole seconds and a busy runner may take a
        // second before the fake reads it (301 s was then 300 s, and accepted).
        for skew in [-320.0, 320.0] {
            let r = await refusal(Self.signed(spark, date: Date().addingTimeInterval(skew)))
            #expect(r?.0 == 403 && r?.1.contains("a valid date or x-date header is required") == true, "\(skew) s: \(String(describing: r))")
        }
        // What working clients send is accepted: one-api's `hmac username=`, Go's UTC, langchain's spaces.
        for url in [Self.signed(spark, form: "hmac"), Self.signed(spark, suffix: "UTC"), Self.signed(spark, separator: ",    "),
                    Self.signed(spark, date: Date().addingTimeInterval(-290))] {
            let r = await Self.outcome(url, frame)
            #expect((try? r.get().text) == spark.answer, "\(url): \(r)")
        }
        #expect(spark.record.refusals[401] == 7 && spark.record.refusals[403] == 2, "\(spark.record.refusals)")
        await spark.stop()
    }

    @Test func theAnswerStreamsInFramesAndUsageComesLast() async throws {
        let spark = try await FakeSpark()
        let url = try #require(Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date()))
        let answer = try await Spark.ask(signedURL: url, frame: Self.frame(spark), tls: nil, limit: .seconds(10))
        #expect(answer.text == spark.answer, "the chunks of three frames joined in order")
        let expectedTokens = "You are a security analyst.What happened?".count + spark.answer.count
        #expect(answer.totalTokens == expectedTokens)
        #expect(spark.record.completed == 1)
        await spark.stop()
    }

    @Test func requestMistakesAndServiceLimitsComeBackAsTheirCodes() async throws {
        let spark = try await FakeSpark()
        func code(_ frame: [UInt8], url: String? = nil) async -> Int? {
            let url = url ?? Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date())!
            if case .failure(.code(let c, _)) = await Self.outcome(url, frame) { return c }
            return nil
        }
        #expect(await code(Self.frame(spark, appID: "ffffffff")) == 11200)
        #expect(await code(Self.frame(spark, domain: "lite")) == 10163, "lite is not served on /v3.5/chat")
        #expect(await code(Self.frame(spark, maxTokens: 9000)) == 10005)
        let lite = Spark.signedURL(spark.url("/v1.1/chat"), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date())!
        #expect(await code(Self.frame(spark, domain: "lite", maxTokens: 8000), url: lite) == 10005, "Lite takes at most 4096")
        #expect(await code(Self.frame(spark, user: String(repeating: "字", count: 9000))) == 10907)
        spark.configure { $0.blockedInput = "forbidden-topic" }
        #expect(await code(Self.frame(spark, user: "tell me about forbidden-topic")) == 10013)
        spark.configure { $0.blockedOutput = "口令" }
        #expect(await code(Self.frame(spark)) == 10014, "partial frames, then the output moderation error")
        spark.configure {
            $0.blockedOutput = nil
            $0.maxPerSecond = 1
        }
        // Two requests at once: at least one is over the limit of one a second (both, when the
        // request before them fell in the same second). One after the other, the second could
        // start more than a second later on a busy runner, and pass.
        async let first = code(Self.frame(spark))
        async let second = code(Self.frame(spark))
        let codes = await [first, second]
        #expect(codes.contains(11202), "\(codes)")
        // The quota is checked with the rate limit lifted: no wait for the next second.
        spark.configure {
            $0.maxPerSecond = .max
            $0.dailyQuota = 0
        }
        #expect(await code(Self.frame(spark)) == 11201)
        spark.configure {
            $0.dailyQuota = .max
            $0.maxConcurrent = 0
        }
        let concurrent = await Self.outcome(Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date())!, Self.frame(spark))
        #expect({ if case .failure(.code(11203, _)) = concurrent { return true }; return false }(), "\(concurrent)")
        spark.configure { $0.maxConcurrent = .max }
        spark.set(.fail(10008))
        #expect(await code(Self.frame(spark)) == 10008)
        #expect(Spark.retryable(10008) && Spark.retryable(11202) && !Spark.retryable(10013) && !Spark.retryable(11200))
        await spark.stop()
    }

    /// §B.7: one question per connection; a second one before the answer ends is 10007.
    @Test func aSecondQuestionOnTheConnectionIsRefusedWithUserBusy() async throws {
        let spark = try await FakeSpark()
        spark.set(.slow(.milliseconds(300)))
        let url = try #require(Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date()))
        let target = String(url.dropFirst("ws://127.0.0.1:\(spark.port)".count))
        let question = String(decoding: Self.frame(spark), as: UTF8.self)
        let bytes = Self.upgradeRequest(target, host: "127.0.0.1:\(spark.port)") + Self.clientFrame(question) + Self.clientFrame(question)
        let received = String(decoding: try await Send.exchange(bytes, port: spark.port), as: UTF8.self)
        #expect(received.hasPrefix("HTTP/1.1 101"))
        #expect(received.contains("\"code\":10007"), "\(received)")
        #expect(spark.record.errors == [10007])
        await spark.stop()
    }

    static func relay(
        _ robot: FakeRobot, _ spark: FakeSpark, timeout: Int = 5, followUp: Bool = true,
        clock: WallClock = .system, waitClock: any Clock<Duration> = ContinuousClock(), trust: String? = nil
    ) async throws -> RunningRelay {
        try await RunningRelay.start(clock: clock, waitClock: waitClock) { c in
            c.outboundCAFile = trust
            var d = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(robot.webhook))
            d.secret = .inline(robot.secret!)
            d.keyword = "告警"
            d.minimumSeverity = .high
            c.channels = [d]
            var a = AnalysisSettings(url: spark.url(), model: "generalv3.5")
            a.kind = .spark
            a.appID = spark.appID
            a.apiKey = .inline(spark.apiKey)
            a.apiSecret = .inline(spark.apiSecret)
            a.timeoutSeconds = timeout
            a.followUp = followUp
            c.analysis = a
        }
    }

    @Test func anIncidentIsAnalysedBySparkOnceAndTheAlertCarriesIt() async throws {
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        let relay = try await Self.relay(robot, spark)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.95", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(robot.accepted.first?.text.contains(spark.answer) == true, "\(robot.accepted.first?.text ?? "")")
        #expect(spark.record.requests.count == 1)
        let request = try #require(spark.record.requests.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let texts = try #require((request["payload"] as? [String: Any]).flatMap { ($0["message"] as? [String: Any])?["text"] as? [[String: String]] })
        #expect(texts.first?["role"] == "system" && texts.last?["content"]?.contains(Analyst.fenceOpen) == true)
        #expect(texts.last?["content"]?.contains("203.0.113.95") == true)
        #expect(try relay.app.store.analysis(incident: 1) == spark.answer)
    }

    /// The alert goes at the timeout; the analysis that comes later follows in a second message.
    @Test func aSlowAnswerFollowsTheAlertInASecondMessage() async throws {
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        spark.set(.slow(.milliseconds(1200)))  // three frames: the answer ends after ~3.6 s
        let relay = try await Self.relay(robot, spark, timeout: 1)
        let sent = ContinuousClock.now
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.96", sequence: 1)
        await relay.wait(timeout: .seconds(15)) { robot.accepted.count == 2 }
        let accepted = robot.accepted
        await relay.stop()
        await robot.stop()
        await spark.stop()
        try #require(accepted.count == 2, "alert and follow-up: \(accepted.map(\.text))")
        #expect(accepted[0].time - sent < .seconds(2), "the alert did not wait for the model beyond its timeout (1 s) plus one second")
        #expect(!accepted[0].text.contains(spark.answer) && accepted[0].text.contains("203.0.113.96"))
        #expect(accepted[1].text.contains(spark.answer) && accepted[1].text.contains("#1"), "\(accepted[1].text)")
        #expect(accepted[0].messageID != accepted[1].messageID)
        #expect(spark.record.requests.count == 1, "one analysis per incident")
    }

    /// A busy answer (10008, capacity) is asked once more, a second later.
    @Test func aBusySparkIsAskedOnceMore() async throws {
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        spark.set(.failOnce(10008))
        let relay = try await Self.relay(robot, spark, timeout: 5)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.103", sequence: 1)
        await relay.wait(timeout: .seconds(10)) { robot.accepted.count == 1 }
        let retries = relay.counter("relay_analysis_retries_total")
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(spark.record.errors == [10008] && spark.record.requests.count == 2 && retries == 1)
        #expect(robot.accepted.first?.text.contains(spark.answer) == true)
    }

    /// On the relay's wait clock, moved by the test: the alert waits for the hanging model
    /// until its timeout (2 s) and not a moment more, then goes without an analysis.
    @Test func aHangingSparkDelaysTheAlertByNoMoreThanItsTimeoutAndSendsNoFollowUp() async throws {
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        spark.set(.hang)
        // The time of day stands still: the alert's wait is the whole timeout, not the
        // timeout less the moments since it was queued.
        let clock = ManualClock()
        let relay = try await Self.relay(robot, spark, timeout: 2, clock: ManualWallClock(microseconds: WallClock.system.now).clock, waitClock: clock)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.97", sequence: 1)
        // The question is with the model and the alert waits on the clock.
        #expect(await relay.wait(timeout: .seconds(10)) { spark.record.requests.count == 1 && clock.sleepers == 1 })
        // Short of the timeout the wait goes on (its dispatcher is held in it, so nothing else
        // could send the alert).
        clock.advance(by: .milliseconds(1999))
        #expect(robot.accepted.isEmpty && clock.sleepers == 1, "the alert went before its timeout")
        clock.advance(by: .milliseconds(1))
        await relay.wait(timeout: .seconds(10)) { robot.accepted.count == 1 }
        await relay.wait(timeout: .seconds(10)) { (try? relay.app.store.outbox().allSatisfy { $0.status == .delivered }) == true }
        let outbox = try relay.app.store.outbox()
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(robot.accepted.count == 1 && robot.accepted.first?.text.contains(spark.answer) == false)
        // The model never answered: no follow-up was queued.
        #expect(outbox.count == 1 && outbox.allSatisfy { $0.kind == .alert && $0.status == .delivered }, "\(outbox)")
    }

    @Test func sparksHTTPAPIAnswersWithItsPasswordAndItsCodes() async throws {
        let robot = try await FakeRobot()
        let llm = try await FakeLLM(key: "abcdefghijklmnopqrst:ABCDEFGHIJKLMNOPQRST", answer: "口令爆破。", flavor: .spark)
        let relay = try await RunningRelay.start { c in
            var d = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(robot.webhook))
            d.secret = .inline(robot.secret!)
            d.keyword = "告警"
            c.channels = [d]
            var a = AnalysisSettings(url: llm.url, model: "generalv3.5")
            a.kind = .sparkHTTP
            a.apiKey = .inline(llm.key)
            c.analysis = a
        }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.98", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        await relay.stop()
        #expect(robot.accepted.first?.text.contains("口令爆破") == true)
        // The fake refuses what the gateway refuses.
        func post(token: String, _ body: String) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: llm.url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 16)))
        }
        #expect(try await post(token: "wrong", "{\"model\":\"generalv3.5\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}").0 == 401)
        let unknown = try await post(token: llm.key, "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")
        #expect(unknown.1.contains("\"code\":10005"))
        let stream = try await post(token: llm.key, "{\"model\":\"lite\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")
        #expect(stream.1.hasPrefix("data:{") && stream.1.hasSuffix("data:[DONE]\n\n"))
        // A business error in the body is a failure even with HTTP 200.
        #expect(Analyst.answer(Array("{\"code\":10013,\"message\":\"input failed\",\"sid\":\"x\"}".utf8), kind: .sparkHTTP) == nil)
        await robot.stop()
        await llm.stop()
    }

    @Test func theTokenBudgetStopsAnalysesForTheHour() async throws {
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        let relay = try await RunningRelay.start { c in
            var d = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(robot.webhook))
            d.secret = .inline(robot.secret!)
            d.keyword = "告警"
            c.channels = [d]
            var a = AnalysisSettings(url: spark.url(), model: "generalv3.5")
            a.kind = .spark
            a.appID = spark.appID
            a.apiKey = .inline(spark.apiKey)
            a.apiSecret = .inline(spark.apiSecret)
            a.maxTokensPerHour = 100  // less than one analysis takes
            c.analysis = a
        }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.99", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.100", sequence: 100)
        await relay.wait { robot.accepted.count == 2 }
        let skipped = relay.counter("relay_analysis_skipped_total{reason=\"budget\"}")
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(spark.record.requests.count == 1)
        #expect(robot.accepted[0].text.contains(spark.answer) && !robot.accepted[1].text.contains(spark.answer))
        #expect(skipped == 1)
    }

    /// A gateway that reaches the internet only through a proxy: the robot and Spark's
    /// WebSocket both go through a real one (tinyproxy), the WebSocket by a CONNECT tunnel.
    @Test(.enabled(if: Tinyproxy.available, "needs tinyproxy (apt-get install tinyproxy; .ci/run installs it)"))
    func theRobotAndSparkAreReachedThroughTheProxy() async throws {
        let proxy = try await Tinyproxy()
        defer { proxy.stop() }
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        let relay = try await RunningRelay.start { c in
            var d = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(robot.webhook))
            d.secret = .inline(robot.secret!)
            d.keyword = "告警"
            c.channels = [d]
            var a = AnalysisSettings(url: spark.url(), model: "generalv3.5")
            a.kind = .spark
            a.appID = spark.appID
            a.apiKey = .inline(spark.apiKey)
            a.apiSecret = .inline(spark.apiSecret)
            c.analysis = a
            c.proxy = .init(host: "127.0.0.1", port: proxy.port)
        }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.101", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(robot.accepted.first?.text.contains(spark.answer) == true)
        let log = proxy.log
        #expect(log.contains("CONNECT 127.0.0.1:\(spark.port)"), "\(log)")
        #expect(log.contains("127.0.0.1:\(robot.port)"), "\(log)")
        // A proxy that refuses the tunnel: a clear failure, not a hang.
        let strict = try await Tinyproxy(connectPorts: [443])
        defer { strict.stop() }
        let url = try #require(Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date()))
        await #expect(throws: Spark.ProxyTunnel.Refused.self) {
            _ = try await Spark.ask(signedURL: url, frame: Self.frame(spark), tls: nil, limit: .seconds(5), proxy: ("127.0.0.1", strict.port, nil))
        }
    }

    /// A proxy that asks for a user and password (configured in the proxy URL): both the
    /// robot and Spark's tunnel send them; without them the proxy answers 407.
    @Test(.enabled(if: Tinyproxy.available, "needs tinyproxy (apt-get install tinyproxy; .ci/run installs it)"))
    func aProxyThatAsksForCredentialsGetsThem() async throws {
        let proxy = try await Tinyproxy(basicAuth: ("relay", "pr0xy-pass"))
        defer { proxy.stop() }
        let robot = try await FakeRobot()
        let spark = try await FakeSpark()
        let yaml = """
            proxy: "http://relay:pr0xy-pass@127.0.0.1:\(proxy.port)"
            channels:
              - type: dingtalk
                webhook: "\(robot.webhook)"
                secret: "\(robot.secret!)"
                keyword: 告警
            analysis:
              kind: spark
              url: "\(spark.url())"
              model: generalv3.5
              app_id: \(spark.appID)
              api_key: \(spark.apiKey)
              api_secret: \(spark.apiSecret)
            """
        let parsed = try RelayConfiguration.parse(yaml, origin: "relay.yaml")
        let relay = try await RunningRelay.start { c in
            c.channels = parsed.channels
            c.analysis = parsed.analysis
            c.proxy = parsed.proxy
        }
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.104", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        await relay.stop()
        #expect(robot.accepted.first?.text.contains(spark.answer) == true, "the robot and Spark both reached through the proxy")
        let url = try #require(Spark.signedURL(spark.url(), apiKey: spark.apiKey, apiSecret: spark.apiSecret, date: Date()))
        do {
            _ = try await Spark.ask(signedURL: url, frame: Self.frame(spark), tls: nil, limit: .seconds(5), proxy: ("127.0.0.1", proxy.port, nil))
            Issue.record("the proxy let a tunnel through without credentials")
        } catch let refused as Spark.ProxyTunnel.Refused {
            #expect(refused.status.contains("407"), "\(refused)")
        }
        await robot.stop()
        await spark.stop()
    }

    @Test func sparkSettingsAreCheckedInTheConfiguration() throws {
        let missing = """
            analysis:
              kind: spark
              url: https://spark-api.xf-yun.com/v3.5/chat
              model: generalv3.5
              api_key: k
            """
        do {
            _ = try RelayConfiguration.parse(missing, origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            #expect(p.description.contains("relay.yaml:3:") && p.description.contains("WebSocket address"), "\(p)")
            #expect(p.description.contains("needs app_id, api_key and api_secret"), "\(p)")
        }
        let good = """
            analysis:
              kind: spark
              url: wss://spark-api.xf-yun.com/v3.5/chat
              model: generalv3.5
              app_id: a1b2c3d4
              api_key_env: SPARK_API_KEY
              api_secret_file: /etc/relay/spark-secret
              max_tokens_per_hour: 200000
              follow_up: false
            """
        let a = try #require(try RelayConfiguration.parse(good, origin: "relay.yaml").analysis)
        #expect(a.kind == .spark && a.appID == "a1b2c3d4" && a.apiKey == .environment("SPARK_API_KEY") && a.apiSecret == .file("/etc/relay/spark-secret"))
        #expect(a.maxTokensPerHour == 200_000 && !a.followUp)
    }

    /// Through a proxy, TLS to an IP address would check the certificate against the
    /// proxy's address: the configuration says so for the model and for every webhook, and
    /// takes the same URLs without a proxy, or by name. (Before, Spark at an address through
    /// a proxy was refused at each alert with "malformed", and an https model or webhook at
    /// an address went ahead, checked against the proxy.)
    @Test func tlsToAnAddressThroughAProxyIsAConfigurationMistake() throws {
        func problems(_ yaml: String) -> String? {
            do {
                _ = try RelayConfiguration.parse(yaml, origin: "relay.yaml")
                return nil
            } catch {
                return "\(error)"
            }
        }
        let channels = """
            channels:
              - name: hooks
                type: webhook
                webhook: https://192.0.2.10/hook?token=SECRET-TOKEN
              - name: named
                type: webhook
                webhook: https://hooks.internal/hook
            """
        for (url, kind) in [("wss://[2001:db8::5]/v3.5/chat", "spark"), ("wss://192.0.2.7/v3.5/chat", "spark"), ("https://198.51.100.3/v1/chat/completions", "openai")] {
            let spark = kind == "spark" ? "\n  app_id: a\n  api_secret: s" : ""
            let yaml = "proxy: http://10.0.0.1:3128\nanalysis:\n  kind: \(kind)\n  url: \(url)\n  model: m\n  api_key: k\(spark)\n" + channels
            let found = try #require(problems(yaml), "accepted \(url) through a proxy")
            #expect(found.contains("relay.yaml:4:") && found.contains("analysis.url names an IP address over TLS"), "\(found)")
            #expect(found.contains("channel hooks: its webhook names an IP address over TLS") && !found.contains("channel named"), "\(found)")
            #expect(!found.contains("SECRET-TOKEN"), "the webhook's token reached a message")
            // Without the proxy, the same URLs are fine.
            let direct = yaml.replacingOccurrences(of: "proxy: http://10.0.0.1:3128\n", with: "")
            #expect(problems(direct) == nil, "\(problems(direct) ?? "")")
        }
        // By name, or in plain text, through the proxy: fine.
        #expect(problems("proxy: http://10.0.0.1:3128\nanalysis:\n  url: https://llm.internal/v1/chat/completions\n  model: m\n") == nil)
        #expect(problems("proxy: http://10.0.0.1:3128\nanalysis:\n  url: http://192.0.2.8/v1/chat/completions\n  model: m\n") == nil)
    }
}

@Suite("Spark follow-ups", .serialized)
struct SparkFollowUpTests {
    /// The robot is down when the alert is first tried and the analysis comes while it is:
    /// the follow-up never overtakes its alert, and the retried alert, now carrying the
    /// analysis, makes the follow-up unnecessary: one message.
    @Test func anAlertRetriedAfterTheAnalysisCameCarriesItAndNothingFollows() async throws {
        let robot = try await FakeRobot()
        robot.set(.down)
        let spark = try await FakeSpark()
        spark.set(.slow(.milliseconds(500)))  // the answer ends after ~1.5 s
        let relay = try await SparkTests.relay(robot, spark, timeout: 1)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.102", sequence: 1)
        await relay.wait(timeout: .seconds(5)) { (try? relay.app.store.analysis(incident: 1)) != nil && robot.requests >= 1 }
        let refusedWhileDown = robot.requests
        robot.set(.normal)
        await relay.wait(timeout: .seconds(15)) { robot.accepted.count == 1 }
        // Every outbox row settled: the follow-up row was closed as carried by the alert, so
        // nothing is left that could be sent.
        await relay.wait(timeout: .seconds(15)) {
            guard let rows = try? relay.app.store.outbox() else { return false }
            return rows.allSatisfy { $0.status == .delivered } && rows.contains { $0.kind == .analysis }
        }
        let outbox = try relay.app.store.outbox()
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(refusedWhileDown >= 1)
        #expect(robot.accepted.count == 1, "\(robot.accepted.map(\.text))")
        #expect(robot.accepted.first?.text.contains(spark.answer) == true, "the retried alert carries the analysis")
        #expect(outbox.allSatisfy { $0.status == .delivered }, "\(outbox)")
        #expect(outbox.contains { $0.kind == .analysis && $0.lastError == "the alert carried the analysis" }, "\(outbox)")
    }
}
