import Detection
import Foundation
import Wire
import WindowsEvents

/// Hands a Windows event log channel's events, rendered as XML, to an `EventLogSource`.
///
/// On Windows this is `WindowsEventLog` (EvtSubscribe and EvtRender; untested here, see
/// docs/windows.md). Everything after "an XML string arrived" is `EventLogSource`, shared
/// by every platform and tested with a scripted subscription.
package protocol EventLogSubscription: Sendable {
    /// Follows `channel` until `sink.isStopped`, handing each event's XML to `sink.deliver`
    /// in the order the channel holds them.
    ///
    /// Starts after the event `bookmark` names (Windows bookmark XML, as
    /// `EventLogSource.bookmark` writes it); when that record is gone (the log was cleared or
    /// wrapped), at the oldest record there is, never after a record not delivered. With no
    /// bookmark: at the oldest record (`fromOldest`) or with the events written from now on.
    /// Returns once stopped or when `deliver` says to stop; throws when the subscription
    /// fails, and is then called again a second later from the bookmark after the last
    /// event delivered.
    func follow(channel: String, after bookmark: String?, fromOldest: Bool, into sink: EventLogSource) throws

    /// The newest record's id in `channel` (nil when it is empty): where `start_at: end`
    /// begins, so that the place is known and saved before the first event arrives.
    func newestRecordID(channel: String) throws -> UInt64?
}

/// The subscription this platform has: the Windows Event Log on Windows, none elsewhere
/// (there, the edge follows EVTX files instead: `sources: [{evtx: PATH}]`).
package enum EventLogSubscriptions {
    package static var native: (any EventLogSubscription)? {
        #if os(Windows)
        WindowsEventLog()
        #else
        nil
        #endif
    }
}

/// A Windows event log channel (`Security`, `System`) as an edge source.
///
/// A thread of its own runs the subscription, which delivers each event as XML. It is parsed
/// there (the shared event XML reader), queued (bounded: the subscription waits while the
/// queue is full, so a burst waits in the event log, not in memory), and read by the edge's
/// reader through the Windows rules. The place is a bookmark naming the channel and the
/// last record id handed on; after a restart (or `kill -9`) the subscription resumes after the
/// bookmark saved with the last spooled frame.
///
/// An NSCondition, not a Mutex: the subscription's thread waits on it for room.
package final class EventLogSource: @unchecked Sendable {
    package let channel: String
    /// Events parsed and waiting for the reader.
    package static let maxQueued = 1024
    /// Larger renderings are dropped and counted (Windows caps a record at 64 KiB of binary
    /// XML; rendered, that is well under this).
    package static let maxEventBytes = 1 << 20

    private let subscription: any EventLogSubscription
    private let fromOldest: Bool
    private let wake: @Sendable () -> Void
    private let lock = NSCondition()
    private var queue: [(event: WindowsEvent, bookmark: String)] = []
    private var head = 0
    /// After the last event delivered (where a restarted subscription resumes).
    private var delivered: String?
    /// After the last event handed to the reader (the position saved with frames).
    private var handedOn: String?
    private var lastRecordID: UInt64?
    private var stopped = false
    private var running = false
    private var supervised = false
    private var counts = Counts()
    private var detector: WindowsDetector

    package struct Counts: Sendable, Equatable {
        /// Times the subscription was started again after it failed or ended.
        package var restarts = 0
        /// Renderings that held no event, or one cut off.
        package var malformed = 0
        /// Renderings over `maxEventBytes`.
        package var overlong = 0
        /// Records missed: ids skipped between one event and the next (the log wrapped or
        /// was cleared while the edge was stopped or behind).
        package var missed: UInt64 = 0
        /// The last failure, for heartbeats.
        package var lastError: String?
    }

    /// `cursor` from the state file (a bookmark); none, or one that is not a bookmark, means
    /// where `startAt` says.
    package init(channel: String, cursor: String?, startAt: FileTail.StartAt, rules: RuleSet, subscription: any EventLogSubscription, wake: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.subscription = subscription
        self.wake = wake
        fromOldest = startAt == .beginning
        detector = WindowsDetector(rules: rules)
        if let cursor, let id = Self.recordID(inBookmark: cursor) {
            delivered = cursor
            handedOn = cursor
            lastRecordID = id
        }
    }

    /// The source's name in the state file and heartbeats.
    package var name: String { Self.name(channel: channel) }
    package static func name(channel: String) -> String { "eventlog:\(channel)" }

    // MARK: The subscription's side

    package var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// One event's XML. Waits while the queue is full; false once the source is stopping.
    @discardableResult
    package func deliver(_ xml: UnsafeBufferPointer<UInt8>) -> Bool {
        guard xml.count <= Self.maxEventBytes else { return discardOverlong() }
        var damaged = 0
        var events: [WindowsEvent] = []
        EventXMLReader().forEachEvent(in: xml, damaged: &damaged) { events.append($0) }
        lock.lock()
        defer { lock.unlock() }
        if events.isEmpty || damaged > 0 { counts.malformed += 1 }
        for event in events {
            while queue.count - head >= Self.maxQueued, !stopped {
                wake()
                lock.wait()
            }
            guard !stopped else { return false }
            // The subscribed channel's name, not the event's: a forwarded event names the
            // channel and record of the machine it came from.
            let bookmark = Self.bookmark(channel: channel, recordID: event.recordID)
            if let last = lastRecordID, event.recordID > last &+ 1 { counts.missed &+= event.recordID - last - 1 }
            queue.append((event, bookmark))
            delivered = bookmark
            lastRecordID = event.recordID
        }
        if !events.isEmpty { wake() }
        return !stopped
    }

    /// An event too large to render or deliver: counted, and passed.
    @discardableResult
    package func discardOverlong() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        counts.overlong += 1
        return !stopped
    }

    package func deliver(_ xml: String) -> Bool {
        var copy = xml
        return copy.withUTF8 { deliver($0) }
    }

    // MARK: The reader's side

    /// Starts the subscription's thread; it runs the subscription again a second after it
    /// fails or ends, from the bookmark after the last event delivered, until `stop()`.
    package func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, !supervised else { return }
        supervised = true
        let thread = Thread { [self] in supervise() }
        thread.name = "eventlog-\(channel)"
        thread.start()
    }

    package func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
    }

    private func supervise() {
        runRestartingEverySecond(on: lock, isStopped: { stopped }, restarted: { counts.restarts += 1 }) {
            lock.lock()
            var bookmark = delivered
            running = true
            lock.unlock()
            if bookmark == nil, !fromOldest {
                // start_at end: the place is the newest record now (0 in an empty log), known
                // and saved before any event comes, so a restart misses nothing written since.
                do {
                    let newest = try subscription.newestRecordID(channel: channel) ?? 0
                    bookmark = Self.bookmark(channel: channel, recordID: newest)
                    lock.lock()
                    delivered = bookmark
                    if handedOn == nil { handedOn = bookmark }
                    if lastRecordID == nil, newest > 0 { lastRecordID = newest }
                    lock.unlock()
                } catch {
                    lock.lock()
                    counts.lastError = "\(error)"
                    lock.unlock()
                }
            }
            do {
                try subscription.follow(channel: channel, after: bookmark, fromOldest: fromOldest, into: self)
            } catch {
                lock.lock()
                counts.lastError = "\(error)"
                lock.unlock()
            }
            lock.lock()
            running = false
            lock.unlock()
        }
    }

    /// The events waiting, with the bookmark after each; at most `limit`.
    package func read(limit: Int) -> [(WindowsEvent, String)] {
        lock.lock()
        defer { lock.unlock() }
        let end = min(queue.count, head + max(0, limit))
        let taken = Array(queue[head..<end])
        head = end
        if head == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= Self.maxQueued)
            head = 0
        } else if head >= Self.maxQueued {
            queue.removeFirst(head)
            head = 0
        }
        if let last = taken.last { handedOn = last.bookmark }
        if !taken.isEmpty { lock.broadcast() }
        return taken.map { ($0.event, $0.bookmark) }
    }

    package func detect(_ record: WindowsEvent) -> Event? {
        detector.detect(record)
    }

    /// The bookmark after the last event handed to the reader.
    package var position: String? {
        lock.lock()
        defer { lock.unlock() }
        return handedOn
    }

    package var counters: Counts {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }

    package var state: String {
        lock.lock()
        defer { lock.unlock() }
        return running ? "following" : "waiting"
    }

    package var detail: String {
        lock.lock()
        defer { lock.unlock() }
        var text = lastRecordID.map { "record \($0)" } ?? "no record yet"
        if counts.restarts > 0 { text += ", restarts \(counts.restarts)" }
        if counts.malformed + counts.overlong > 0 { text += ", malformed \(counts.malformed), overlong \(counts.overlong)" }
        if counts.missed > 0 { text += ", missed \(counts.missed)" }
        if let e = counts.lastError { text += ", last error: \(e.prefix(200))" }
        return text
    }

    // MARK: Bookmarks

    /// A bookmark as Windows renders one (`EvtRender` of a bookmark), for `EvtCreateBookmark`.
    package static func bookmark(channel: String, recordID: UInt64) -> String {
        var escaped = ""
        for c in channel.unicodeScalars {
            switch c {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "'": escaped += "&apos;"
            case "\"": escaped += "&quot;"
            default:
                // Control characters have no place in a channel name or in XML 1.0.
                escaped.unicodeScalars.append(c.value < 0x20 ? "?" : c)
            }
        }
        return "<BookmarkList><Bookmark Channel='\(escaped)' RecordId='\(recordID)' IsCurrent='true'/></BookmarkList>"
    }

    /// The record id a bookmark names; nil for anything else (a damaged state file must not
    /// make the subscription fail at every start).
    package static func recordID(inBookmark text: String) -> UInt64? {
        guard text.utf8.count <= 4096, text.hasPrefix("<BookmarkList>"), text.hasSuffix("</BookmarkList>"),
            let start = text.range(of: " RecordId='")
        else { return nil }
        let digits = text[start.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, text[start.upperBound...].dropFirst(digits.count).hasPrefix("'") else { return nil }
        return UInt64(digits)
    }
}
