import Testing

import Plumbing

@Suite("Doorbell")
struct DoorbellTests {
    /// A wait that timed out leaves nothing behind: the next wait sleeps its full time
    /// again. (A leftover ring made the sender spin at 100% CPU.)
    @Test func timeoutsDoNotAccumulateRings() async {
        let bell = Doorbell()
        let clock = ContinuousClock()
        let first = await clock.measure { await bell.wait(timeout: .milliseconds(100)) }
        let second = await clock.measure { await bell.wait(timeout: .milliseconds(100)) }
        let third = await clock.measure { await bell.wait(timeout: .milliseconds(100)) }
        #expect(first >= .milliseconds(90))
        #expect(second >= .milliseconds(90))
        #expect(third >= .milliseconds(90))
    }

    @Test func ringWakesAWaiterAndIsRememberedOnce() async {
        let bell = Doorbell()
        bell.ring()
        let clock = ContinuousClock()
        // Timeouts far longer than the bounds: tests that keep the cooperative threads busy
        // can delay any task by seconds (this flaked at 5.4 s against a 5 s bound).
        let early = await clock.measure { await bell.wait(timeout: .seconds(120)) }
        #expect(early < .seconds(60), "the ring was remembered: far less than the 120 s timeout")
        let late = await clock.measure { await bell.wait(timeout: .milliseconds(100)) }
        #expect(late >= .milliseconds(90), "a ring counts once")
        let woken = await clock.measure {
            async let waiting: Void = bell.wait(timeout: .seconds(120))
            try? await Task.sleep(for: .milliseconds(50))
            bell.ring()
            await waiting
        }
        #expect(woken < .seconds(60))
    }
}
