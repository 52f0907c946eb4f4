import Detection
import Edge
import Testing
import Wire

@Suite struct MemoryFootprintTests {
    @Test func releasingStartupCodeKeepsTheProcessWorking() {
        let released = MemoryFootprint.releaseStartupMemory()
        #if os(Linux)
        // The test binary and the Swift runtime libraries are clean file-backed code.
        #expect(released > 1 << 20)
        #endif
        // Code dropped from memory comes back from the file when it runs again.
        let line = "2026-11-29T16:10:15.000000+00:00 web1 sshd[42]: Failed password for root from 203.0.113.9 port 5022 ssh2"
        let events = Detector().detect(line: Array(line.utf8), parser: SyslogParser())
        #expect(events.map(\.kind) == [.login])
        #expect(events.first?.sourceIP == "203.0.113.9")
        #expect(MemoryFootprint.releaseStartupMemory() > 0)
    }
}
