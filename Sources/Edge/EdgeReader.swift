import Synchronization
import Detection
import Foundation
import Logging
import WindowsEvents
import Wire

/// Reads the sources, detects, batches events into frames and spools them; makes
/// heartbeats. Runs on a thread of its own (file reads block), woken by FileWatcher.
///
/// Exactly once, across kill -9: each spooled frame carries the source positions just
/// after the lines whose events it holds, and is written durably before the state file.
/// A restart resumes from the newer of the two, so no line is read into a second frame;
/// a frame spooled but perhaps not sent is sent again, and the relay drops a duplicate by
/// its sequence number.
package final class EdgeReader: @unchecked Sendable {
    let configuration: EdgeConfiguration
    let detector: Detector
    let spool: Spool
    let sender: EdgeSender
    let logger: Logger
    let watcher: FileWatcher
    let epoch: UInt32
    private let startedAt = Date()
    private let stopped = Mutex(false)
    private var sources: [Source] = []
    private var sequence: UInt64 = 1
    private var state: EdgeState
    private let builder: FrameBuilder
    private let journal: EventJournal?
    /// 1 when the state file was there but unreadable at start (reported in heartbeats).
    private var stateUnreadable: UInt64 = 0

    /// Where lines come from.
    enum Source {
        case file(FileTail)
        case journal(JournalSource)
        case evtx(EvtxTail)
        case eventLog(EventLogSource)

        var name: String {
            switch self {
            case .file(let t): t.path
            case .journal(let j): j.name
            case .evtx(let e): e.path
            case .eventLog(let l): l.name
            }
        }
    }

    /// A source's place, after some line.
    enum Position {
        case file(FileCheckpoint)
        case cursor(String)
    }

    /// `eventLog` subscribes to the configured Windows event log channels (the platform's
    /// own by default; none outside Windows).
    package init(
        configuration: EdgeConfiguration, detector: Detector, spool: Spool, sender: EdgeSender, key: EdgeKey, logger: Logger,
        eventLog: (any EventLogSubscription)? = EventLogSubscriptions.native
    ) throws {
        self.configuration = configuration
        self.detector = detector
        self.spool = spool
        self.sender = sender
        self.logger = logger
        // Positions, spooled frames and the epoch: the edge's alone.
        try SecretFile.privateDirectory(configuration.stateDirectory)
        for warning in SecretFile.warnings { logger.warning("\(warning)") }
        var (state, unreadable) = EdgeState.load(directory: configuration.stateDirectory)
        if unreadable {
            // Loud: positions are lost (sources start where start_at says), and an attacker
            // who can corrupt this file must not go unnoticed.
            stateUnreadable = 1
            logger.error("state file unreadable: moved aside; positions lost, a new epoch past every spooled frame",
                         metadata: ["directory": "\(configuration.stateDirectory)"])
        }
        // A frame spooled after the state file was last written knows better.
        if let newer = spool.newestPositions(), newer.savedAtMicroseconds > state.savedAtMicroseconds {
            state.checkpoints.merge(newer.checkpoints) { _, spooled in spooled }
            state.cursors.merge(newer.cursors) { _, spooled in spooled }
            state.savedAtMicroseconds = newer.savedAtMicroseconds
        }
        let previous = max(state.epoch, spool.newestEpoch ?? 0)
        guard previous < UInt32.max - 4096 else {
            // Every later epoch would reuse (epoch, sequence) pairs, the sealing nonces.
            throw EdgeError("the edge has used up its epochs (\(previous)): give it a new edge id and key")
        }
        epoch = EdgeState.nextEpoch(after: previous)
        state.epoch = epoch
        try state.save(directory: configuration.stateDirectory)
        self.state = state
        builder = try FrameBuilder(edgeID: configuration.edgeID, key: key, options: .init(seal: configuration.relay.seal))
        journal = configuration.journal.path.map { EventJournal(path: $0, maxBytes: configuration.journal.maxBytes, keep: configuration.journal.keep) }
        let watcher = FileWatcher(directories: (configuration.files + configuration.evtxFiles).map { URL(fileURLWithPath: $0).deletingLastPathComponent().path })
        self.watcher = watcher
        sources = configuration.files.map { .file(FileTail(path: $0, checkpoint: state.checkpoints[$0], startAt: configuration.startAt)) }
        for path in configuration.evtxFiles {
            sources.append(.evtx(EvtxTail(path: path, cursor: state.cursors[path], startAt: configuration.startAt, rules: detector.rules)))
        }
        if !configuration.eventLogChannels.isEmpty {
            guard let eventLog else { throw EdgeError("eventlog sources need the Windows build of the edge") }
            for channel in configuration.eventLogChannels {
                let name = EventLogSource.name(channel: channel)
                sources.append(.eventLog(EventLogSource(
                    channel: channel, cursor: state.cursors[name], startAt: configuration.startAt, rules: detector.rules,
                    subscription: eventLog) { watcher.wake() }))
            }
        }
        if configuration.followJournal {
            let name = JournalSource.name(file: configuration.journalFile)
            sources.append(.journal(JournalSource(file: configuration.journalFile, cursor: state.cursors[name], startAt: configuration.startAt) { watcher.wake() }))
        }
    }

    package func stop() {
        stopped.withLock { $0 = true }
        watcher.wake()
    }

    private var isStopped: Bool { stopped.withLock { $0 } }

    private struct Pending {
        var event: Event
        var source: Int
        var position: Position
    }

    /// The loop; returns after `stop()`, having spooled what it had read.
    package func run() {
        logger.info("edge started", metadata: ["edge": "\(configuration.edgeID)", "epoch": "\(epoch)", "inotify": "\(watcher.usesInotify)"])
        for case .journal(let j) in sources { j.start() }
        for case .eventLog(let l) in sources { l.start() }
        defer {
            for case .journal(let j) in sources { j.stop() }
            for case .eventLog(let l) in sources { l.stop() }
        }
        var pending: [Pending] = []
        var pendingSince: ContinuousClock.Instant?
        var lastHeartbeat = ContinuousClock.now - .seconds(configuration.heartbeatSeconds)
        var lastStateSave = ContinuousClock.now
        let maxDelay = Duration.milliseconds(configuration.batch.maxDelayMilliseconds)
        let heartbeatEvery = Duration.seconds(configuration.heartbeatSeconds)
        // Read no further while this many events wait for the spool (a full disk): their
        // lines wait in the files and the journal, not in memory, and the positions saved
        // never pass what was spooled.
        let maxPending = max(configuration.batch.maxEvents * 16, 1024)
        var lastSpoolFailure: ContinuousClock.Instant?
        while true {
            let stopping = isStopped
            let readAny = pending.count < maxPending ? read(into: &pending) : false
            journal?.flush()
            if pendingSince == nil, !pending.isEmpty { pendingSince = .now }
            var spooled = false
            // After a failure, the spool is tried again once a second (not on every wake-up).
            var spoolFailing = lastSpoolFailure.map { ContinuousClock.now - $0 < .seconds(1) && !stopping } ?? false
            func flushOrNote(_ count: Int) {
                if flush(&pending, count: count) {
                    spooled = true
                    lastSpoolFailure = nil
                } else {
                    spoolFailing = true
                    lastSpoolFailure = .now
                }
            }
            while pending.count >= configuration.batch.maxEvents, !spoolFailing {
                flushOrNote(configuration.batch.maxEvents)
            }
            if !spoolFailing, let since = pendingSince, !pending.isEmpty, stopping || ContinuousClock.now - since >= maxDelay {
                flushOrNote(pending.count)
            }
            if pending.isEmpty { pendingSince = nil }
            if spooled {
                // The state file first, then the sender: over UDP the sender deletes a frame
                // once sent, and from then on only the state file says where we stand.
                saveState(pending: pending)
                lastStateSave = .now
                sender.spooled()
            }
            // Lines without events move the positions too; saving them now and then
            // spares a restart from reading them again.
            if pending.isEmpty, readAny || stopping, stopping || ContinuousClock.now - lastStateSave >= .seconds(2) {
                saveState(pending: pending)
                lastStateSave = .now
            }
            if stopping { break }
            if ContinuousClock.now - lastHeartbeat >= heartbeatEvery {
                heartbeat()
                lastHeartbeat = .now
            }
            if !readAny {
                var timeout = lastHeartbeat + heartbeatEvery - ContinuousClock.now
                if let since = pendingSince { timeout = min(timeout, since + maxDelay - ContinuousClock.now) }
                // The spool failed: try again in a second, not in a busy loop.
                if spoolFailing { timeout = max(timeout, .seconds(1)) }
                if pending.isEmpty && ContinuousClock.now - lastStateSave < .seconds(2) {
                    timeout = min(timeout, .seconds(2))
                }
                watcher.wait(timeout: max(.milliseconds(1), timeout))
            }
        }
        logger.info("edge reader stopped")
    }

    /// Reads every source once; detected events go to `pending`. True when anything was read.
    private func read(into pending: inout [Pending]) -> Bool {
        var readAny = false
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        let parser = SyslogParser(
            yearInference: BSDYearInference(referenceMicroseconds: now, timeZone: configuration.timeZone), maxMessageBytes: 1 << 20)
        for (index, source) in sources.enumerated() {
            switch source {
            case .file(let tail):
                let lines = tail.read(maxBytes: 256 << 10)
                guard !lines.isEmpty else { continue }
                readAny = true
                sender.counters.add(.linesRead, lines.count)
                for line in lines {
                    guard let (event, _) = line.bytes.withUnsafeBufferPointer({ detector.detectOne(buffer: $0, parser: parser) }) else {
                        continue
                    }
                    add(event, index, .file(line.checkpoint), &pending)
                }
            case .evtx(let tail):
                if take(tail.read(limit: 1024), source: index, detect: tail.detect, into: &pending) { readAny = true }
            case .eventLog(let l):
                if take(l.read(limit: 1024), source: index, detect: l.detect, into: &pending) { readAny = true }
            case .journal(let j):
                let entries = j.read()
                guard !entries.isEmpty else { continue }
                readAny = true
                sender.counters.add(.linesRead, entries.count)
                for e in entries {
                    let stamp = e.timeMicroseconds.map { SyslogTimestamp.iso8601UTC(microseconds: $0) } ?? "-"
                    let raw = "\(stamp) \(e.host ?? "-") \(e.program)\(e.pid.map { "[\($0)]" } ?? ""): \(e.message)"
                    let events = detector.detect(program: e.program, pid: e.pid, host: e.host, timeMicroseconds: e.timeMicroseconds, message: e.message, raw: raw)
                    for event in events { add(event, index, .cursor(e.cursor), &pending) }
                }
            }
        }
        return readAny
    }

    /// Windows records (from an EVTX file or an event log channel), each with the place after
    /// it, through the Windows rules. True when there were any.
    private func take(
        _ records: [(WindowsEvent, String)], source index: Int, detect: (WindowsEvent) -> Event?, into pending: inout [Pending]
    ) -> Bool {
        guard !records.isEmpty else { return false }
        sender.counters.add(.linesRead, records.count)
        for (record, cursor) in records {
            guard let event = detect(record) else { continue }
            add(event, index, .cursor(cursor), &pending)
        }
        return true
    }

    /// One event per line, whatever its count ("message repeated 1000 times" was 1000
    /// events, 650 KB of pending memory for one crafted line).
    private func add(_ event: Event, _ source: Int, _ position: Position, _ pending: inout [Pending]) {
        pending.append(Pending(event: event, source: source, position: position))
        journal?.append(event)
    }

    /// Spools the first `count` pending events as one frame; false when it could not.
    private func flush(_ pending: inout [Pending], count: Int) -> Bool {
        let batch = Array(pending.prefix(count))
        pending.removeFirst(count)
        // Where each source stands once this frame is safe: after its last line in the
        // frame, or after everything read when none of its events are still pending.
        var positions = state
        for p in batch { Self.apply(p.position, of: sources[p.source], to: &positions) }
        for (index, source) in sources.enumerated() where !pending.contains(where: { $0.source == index }) {
            if let position = Self.position(of: source) { Self.apply(position, of: source, to: &positions) }
        }
        let now = Date()
        do {
            let frame = try builder.makeFrame(
                .events(batch.map(\.event)), epoch: epoch, sequence: sequence, sendTimeMilliseconds: Int64(now.timeIntervalSince1970 * 1000))
            sequence += 1
            let savedAt = Int64(now.timeIntervalSince1970 * 1e6)
            try spool.add(frame, checkpoints: positions.checkpoints, cursors: positions.cursors, savedAtMicroseconds: savedAt)
            state.checkpoints = positions.checkpoints
            state.cursors = positions.cursors
            state.savedAtMicroseconds = savedAt
            sender.counters.add(.framesBuilt)
            sender.counters.add(.events, batch.count)
            return true
        } catch {
            sender.counters.add(.spoolFailures)
            logger.error("cannot spool a frame; its events stay pending", metadata: ["error": "\(error)"])
            pending.insert(contentsOf: batch, at: 0)
            return false
        }
    }

    static func position(of source: Source) -> Position? {
        switch source {
        case .file(let t): t.checkpoint.map(Position.file)
        case .journal(let j): j.position.map(Position.cursor)
        case .evtx(let e): .cursor(e.cursor)
        case .eventLog(let l): l.position.map(Position.cursor)
        }
    }

    static func apply(_ position: Position, of source: Source, to state: inout EdgeState) {
        switch position {
        case .file(let c): state.checkpoints[source.name] = c
        case .cursor(let c): state.cursors[source.name] = c
        }
    }

    /// Saves where each source stands: after everything read, for sources with no events
    /// still pending; where the last spooled frame left them, for the others.
    private func saveState(pending: [Pending]) {
        for (index, source) in sources.enumerated() where !pending.contains(where: { $0.source == index }) {
            if let position = Self.position(of: source) { Self.apply(position, of: source, to: &state) }
        }
        state.savedAtMicroseconds = Int64(Date().timeIntervalSince1970 * 1e6)
        do {
            try state.save(directory: configuration.stateDirectory)
        } catch {
            logger.error("cannot save the state file", metadata: ["error": "\(error)"])
        }
    }

    private func heartbeat() {
        var counters = sender.counters.snapshot()
        counters["spool_depth"] = UInt64(spool.count)
        counters["spool_bytes"] = UInt64(spool.bytes)
        counters["spool_dropped"] = UInt64(spool.dropped)
        counters["spool_unreadable"] = UInt64(spool.unreadable)
        var summaries: [Heartbeat.Source] = []
        var overlong = 0
        var rotations = 0
        for source in sources {
            switch source {
            case .file(let tail):
                overlong += tail.overlongLines
                rotations += tail.rotations
                summaries.append(Heartbeat.Source(name: tail.path, state: tail.state, detail: tail.checkpoint.map { "offset \($0.offset)" }))
            case .journal(let j):
                summaries.append(Heartbeat.Source(name: j.name, state: j.state, detail: "restarts \(j.restarts)"))
            case .evtx(let e):
                summaries.append(Heartbeat.Source(name: e.path, state: e.state, detail: e.detail))
            case .eventLog(let l):
                summaries.append(Heartbeat.Source(name: l.name, state: l.state, detail: l.detail))
            }
        }
        counters["overlong_lines"] = UInt64(overlong)
        counters["rotations"] = UInt64(rotations)
        counters["state_unreadable"] = stateUnreadable
        let body = Heartbeat(uptimeSeconds: UInt64(max(0, Date().timeIntervalSince(startedAt))), counters: counters, sources: summaries)
        do {
            let frame = try builder.makeFrame(.heartbeat(body), epoch: epoch, sequence: sequence, sendTimeMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            sequence += 1
            sender.send(heartbeat: frame)
        } catch {
            logger.error("cannot build a heartbeat", metadata: ["error": "\(error)"])
        }
    }
}
