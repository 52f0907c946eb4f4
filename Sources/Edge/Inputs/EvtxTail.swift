import Detection
import Wire
import WindowsEvents

/// A Windows event log (EVTX file) as an edge source: new records through the Windows
/// rules, the place kept as the last record's id and time (`EvtxFollower`). The rules
/// remember account names by SID per source.
final class EvtxTail {
    let path: String
    private var follower: EvtxFollower
    private var detector: WindowsDetector

    /// `cursor` from the state file; none means where `startAt` says: `beginning` reads
    /// the records already there, `end` only those written from now on.
    init(path: String, cursor: String?, startAt: FileTail.StartAt, rules: RuleSet) {
        self.path = path
        detector = WindowsDetector(rules: rules)
        if let cursor {
            follower = EvtxFollower(path: path, cursor: cursor)
        } else {
            follower = EvtxFollower(path: path, after: 0)
            if startAt == .end { skipToEnd() }
        }
    }

    /// Starts after the newest record in the file now (their events are not sent), without
    /// expanding the file's records.
    private func skipToEnd() {
        follower.skipToEnd()
    }

    /// New records and the place after each.
    func read(limit: Int) -> [(WindowsEvent, String)] {
        var out: [(WindowsEvent, String)] = []
        let records = follower.read(limit: limit)
        out.reserveCapacity(records.count)
        for (record, written, header) in records {
            out.append((record, "\(header):\(written)"))
        }
        return out
    }

    func detect(_ record: WindowsEvent) -> Event? {
        detector.detect(record)
    }

    var cursor: String { follower.cursor }

    var state: String { follower.isReadable ? "following" : "waiting" }

    var detail: String {
        var text = "record \(follower.lastRecordID)"
        let s = follower.statistics
        if follower.restarts > 0 { text += ", restarts \(follower.restarts)" }
        if s.damagedRecords + s.damagedChunks > 0 { text += ", damaged records \(s.damagedRecords), chunks \(s.damagedChunks)" }
        return text
    }
}
