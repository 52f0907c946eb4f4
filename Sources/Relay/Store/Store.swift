import Foundation
import GRDB
import GRDBSQLite
import Wire

/// The relay's SQLite store (`<data>/relay.sqlite`, WAL mode): events, incidents, and named
/// state blobs (the edge registry with its replay windows). One process writes (`relay
/// run`); `relay status` and `relay alerts` read it at the same time.
package final class Store: Sendable {
    /// One stored event with where it came from.
    package struct StoredEvent: Sendable {
        package var event: Event
        /// Microseconds since 1970 at which the relay received it.
        package var arrival: Int64
        package var edge: String?
        /// The address it came from.
        package var sender: String?

        package init(event: Event, arrival: Int64, edge: String? = nil, sender: String? = nil) {
            self.event = event
            self.arrival = arrival
            self.edge = edge
            self.sender = sender
        }
    }

    package static let fileName = "relay.sqlite"
    static let rowsPerInsert = 64
    let pool: DatabasePool
    package let path: String

    /// Opens (creating and migrating when `readOnly` is false) the store in `directory`.
    package init(directory: URL, readOnly: Bool = false) throws {
        path = directory.appendingPathComponent(Self.fileName).path
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(5)
        configuration.label = "relay-store"
        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw RelayError("no store at \(path): has the relay run with this data directory?")
            }
        } else {
            // The store holds every event and the robots' answers: its owner's alone.
            try SecretFile.privateDirectory(directory.path)
            configuration.prepareDatabase { db in
                // WAL with NORMAL sync: a committed transaction survives a crash of the
                // relay; a power cut may lose the last moments, never corrupt the file.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        if !readOnly { try Self.migrator.migrate(pool) }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY,
                    arrival INTEGER NOT NULL,
                    time INTEGER,
                    kind TEXT NOT NULL,
                    outcome TEXT, host TEXT, program TEXT, pid INTEGER, user TEXT, target_user TEXT, grp TEXT,
                    source_ip TEXT, source_port INTEGER, method TEXT, logon_type INTEGER, rule TEXT, severity TEXT,
                    raw TEXT, edge TEXT, sender TEXT, incident INTEGER
                );
                CREATE INDEX event_arrival ON event(arrival);
                CREATE TABLE incident (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, title TEXT NOT NULL,
                    count INTEGER NOT NULL, host TEXT, edge TEXT, user TEXT, target_user TEXT, grp TEXT, source_ip TEXT,
                    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_arrival INTEGER NOT NULL,
                    status TEXT NOT NULL, evidence TEXT NOT NULL, hosts TEXT NOT NULL,
                    delivered INTEGER NOT NULL DEFAULT 0, analysis TEXT
                );
                CREATE INDEX incident_status ON incident(status);
                CREATE INDEX incident_last_arrival ON incident(last_arrival);
                CREATE TABLE state (name TEXT PRIMARY KEY, value BLOB NOT NULL);
                """)
        }
        m.registerMigration("v2-outbox") { db in
            try db.execute(sql: """
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY,
                    channel TEXT NOT NULL,
                    incident INTEGER NOT NULL,
                    created INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    message_id TEXT,
                    last_error TEXT,
                    delivered_at INTEGER
                );
                CREATE INDEX outbox_due ON outbox(status, channel, next_attempt);
                """)
        }
        m.registerMigration("v3-outbox-kind") { db in
            // 'alert', or 'analysis': the model's answer that came after the alert went.
            try db.execute(sql: "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert'")
        }
        m.registerMigration("v4-event-count") { db in
            // A "message repeated N times" line is one row with count N (NULL: once).
            try db.execute(sql: "ALTER TABLE event ADD COLUMN count INTEGER")
        }
        return m
    }

    // MARK: outbox

    /// One alert waiting for (or done with) one channel.
    package struct OutboxEntry: Sendable, Hashable {
        package enum Status: String, Sendable { case pending, delivered, dead }
        package enum Kind: String, Sendable {
            case alert
            /// A second message with the analysis that came after the alert.
            case analysis
        }
        package var id: Int64
        package var channel: String
        package var incident: Int64
        package var created: Int64
        package var attempts: Int
        package var nextAttempt: Int64
        package var status: Status
        /// The idempotency key of the message that carried it, fixed at its first attempt.
        package var messageID: String?
        package var lastError: String?
        package var kind: Kind = .alert

        package init(
            id: Int64, channel: String, incident: Int64, created: Int64, attempts: Int, nextAttempt: Int64, status: Status,
            messageID: String?, lastError: String?, kind: Kind
        ) {
            self.id = id
            self.channel = channel
            self.incident = incident
            self.created = created
            self.attempts = attempts
            self.nextAttempt = nextAttempt
            self.status = status
            self.messageID = messageID
            self.lastError = lastError
            self.kind = kind
        }
    }

    /// Queues `incident` for `channels`, with the incident itself, in one transaction that
    /// is committed before any attempt to deliver it.
    package func enqueue(_ incident: Incident, channels: [String], now: Int64) throws {
        guard !channels.isEmpty else { return }
        try pool.write { db in
            // One transaction: a crash cannot leave the incident stored without its alerts.
            try Self.upsert([incident], in: db)
            try Self.queue(incident.id, for: channels, kind: .alert, now: now, in: db)
        }
    }

    static func queue(_ incident: Int64, for channels: [String], kind: OutboxEntry.Kind, now: Int64, in db: Database) throws {
        for channel in channels {
            try db.execute(sql: "INSERT INTO outbox (channel, incident, created, next_attempt, status, kind) VALUES (?, ?, ?, ?, 'pending', ?)",
                           arguments: [channel, incident, now, now, kind.rawValue])
        }
    }

    /// Queues the follow-up with `incident`'s analysis for `channels`.
    package func enqueueAnalysis(incident: Int64, channels: [String], now: Int64) throws {
        try pool.write { db in try Self.queue(incident, for: channels, kind: .analysis, now: now, in: db) }
    }

    /// Follow-ups of `incident` still queued for `channel` are settled unsent: its alert
    /// carried the analysis.
    package func dropAnalysisFollowUps(incident: Int64, channel: String) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE outbox SET status = 'delivered', last_error = 'the alert carried the analysis'
                WHERE kind = 'analysis' AND status = 'pending' AND message_id IS NULL AND incident = ? AND channel = ?
                """, arguments: [incident, channel])
        }
    }

    /// The next message's entries for `channel`: those of an earlier attempt (same message
    /// id) first, else up to `limit` due entries, which get `newMessageID` before this returns.
    /// A batch of several (a digest) holds alerts only; a follow-up goes alone, and only
    /// after its alert was delivered there.
    package func nextBatch(channel: String, now: Int64, limit: Int, newMessageID: () -> String) throws -> [OutboxEntry] {
        try pool.write { db in
            let retry = try Row.fetchOne(db, sql: """
                SELECT message_id FROM outbox WHERE channel = ? AND status = 'pending' AND message_id IS NOT NULL AND next_attempt <= ?
                ORDER BY id LIMIT 1
                """, arguments: [channel, now])
            if let id: String = retry?["message_id"] {
                return try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE message_id = ? AND status = 'pending' ORDER BY id", arguments: [id])
                    .map(Self.outbox)
            }
            // A follow-up waits until its alert was delivered to the same channel.
            let kinds = limit > 1 ? "AND o.kind = 'alert'" : """
                AND (o.kind = 'alert' OR NOT EXISTS (SELECT 1 FROM outbox a WHERE a.incident = o.incident AND a.channel = o.channel
                                                     AND a.kind = 'alert' AND a.status != 'delivered'))
                """
            var rows = try Row.fetchAll(db, sql: """
                SELECT o.* FROM outbox o WHERE o.channel = ? AND o.status = 'pending' AND o.message_id IS NULL AND o.next_attempt <= ?
                \(kinds) ORDER BY o.id LIMIT ?
                """, arguments: [channel, now, limit]).map(Self.outbox)
            guard !rows.isEmpty else { return [] }
            let id = newMessageID()
            for i in rows.indices { rows[i].messageID = id }
            try db.execute(sql: "UPDATE outbox SET message_id = ? WHERE id IN (\(rows.map { String($0.id) }.joined(separator: ",")))", arguments: [id])
            return rows
        }
    }

    /// Records an attempt's outcome for `entries`.
    package func settle(_ entries: [OutboxEntry], delivered: Bool, error: String?, nextAttempt: Int64, now: Int64, maxAttempts: Int) throws {
        guard !entries.isEmpty else { return }
        let ids = entries.map { String($0.id) }.joined(separator: ",")
        try pool.write { db in
            if delivered {
                try db.execute(sql: "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id IN (\(ids))",
                               arguments: [now])
                try db.execute(sql: "UPDATE incident SET delivered = 1 WHERE id IN (\(entries.map { String($0.incident) }.joined(separator: ",")))")
            } else {
                try db.execute(sql: """
                    UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?,
                        status = CASE WHEN attempts + 1 >= ? THEN 'dead' ELSE 'pending' END
                    WHERE id IN (\(ids))
                    """, arguments: [error, nextAttempt, maxAttempts])
            }
        }
    }

    /// Entries a message had no room for go back to the queue, free for the next message.
    package func release(_ entries: [OutboxEntry]) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            try db.execute(sql: "UPDATE outbox SET message_id = NULL WHERE id IN (\(entries.map { String($0.id) }.joined(separator: ",")))")
        }
    }

    /// Puts entries back without counting an attempt (the robot is paused).
    package func postpone(_ entries: [OutboxEntry], until: Int64, error: String) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            try db.execute(sql: "UPDATE outbox SET next_attempt = ?, last_error = ? WHERE id IN (\(entries.map { String($0.id) }.joined(separator: ",")))",
                           arguments: [until, error])
        }
    }

    package func analysis(incident: Int64) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT analysis FROM incident WHERE id = ?", arguments: [incident]) }
    }

    package func setAnalysis(incident: Int64, _ text: String) throws {
        try pool.write { db in try db.execute(sql: "UPDATE incident SET analysis = ? WHERE id = ?", arguments: [text, incident]) }
    }

    /// Dead letters go back to the queue (`relay alerts --retry-dead`).
    @discardableResult
    package func retryDead(now: Int64) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "UPDATE outbox SET status = 'pending', attempts = 0, message_id = NULL, next_attempt = ? WHERE status = 'dead'", arguments: [now])
            return db.changesCount
        }
    }

    package func outbox(status: OutboxEntry.Status? = nil) throws -> [OutboxEntry] {
        try pool.read { db in
            if let status {
                return try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE status = ? ORDER BY id", arguments: [status.rawValue]).map(Self.outbox)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY id").map(Self.outbox)
        }
    }

    package func incidents(ids: [Int64]) throws -> [Incident] {
        guard !ids.isEmpty else { return [] }
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident WHERE id IN (\(ids.map(String.init).joined(separator: ","))) ORDER BY id").map(Self.incident)
        }
    }

    static func outbox(_ row: Row) -> OutboxEntry {
        OutboxEntry(id: row["id"], channel: row["channel"], incident: row["incident"], created: row["created"], attempts: row["attempts"],
                    nextAttempt: row["next_attempt"], status: OutboxEntry.Status(rawValue: row["status"]) ?? .pending,
                    messageID: row["message_id"], lastError: row["last_error"], kind: OutboxEntry.Kind(rawValue: row["kind"]) ?? .alert)
    }

    /// Writes events and incident changes in one transaction.
    /// Writes events, incidents, the outbox rows of incidents to alert, and state entries in
    /// one transaction: after a crash the store holds all of a flush or none of it (so the
    /// replay windows committed with the events say exactly which frames are stored, and an
    /// incident is never stored without its alerts).
    package func write(
        events: [StoredEvent], incidents: [Incident], outbox: [(incident: Int64, channels: [String])] = [], state: [(String, Data)] = [],
        now: Int64 = 0
    ) throws {
        guard !events.isEmpty || !incidents.isEmpty || !outbox.isEmpty || !state.isEmpty else { return }
        try pool.write { db in
            for (name, value) in state {
                try db.execute(sql: "INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                               arguments: [name, value])
            }
            if !events.isEmpty {
                // Many rows per INSERT: SQLite spends most of a one-row insert outside the row.
                let columns = "(arrival, time, kind, outcome, host, program, pid, user, target_user, grp, source_ip, source_port, method, logon_type, rule, severity, raw, edge, sender, count)"
                let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                var start = 0
                while start < events.count {
                    let chunk = events[start..<min(events.count, start + Self.rowsPerInsert)]
                    let insert = try db.cachedStatement(
                        sql: "INSERT INTO event \(columns) VALUES " + Array(repeating: row, count: chunk.count).joined(separator: ", "))
                    // Bound straight through SQLite's API: GRDB's arguments box every value,
                    // which cost more than the insert itself at 100,000 events a second.
                    var binder = Binder(insert.sqliteStatement)
                    for s in chunk {
                        let e = s.event
                        binder.bind(s.arrival)
                        binder.bind(e.timeMicroseconds)
                        binder.bind(e.kind.rawValue)
                        binder.bind(e.outcome?.rawValue)
                        binder.bind(e.host)
                        binder.bind(e.program)
                        binder.bind(e.pid)
                        binder.bind(e.user)
                        binder.bind(e.targetUser)
                        binder.bind(e.group)
                        binder.bind(e.sourceIP)
                        binder.bind(e.sourcePort)
                        binder.bind(e.method)
                        binder.bind(e.logonType)
                        binder.bind(e.rule)
                        binder.bind(e.severity?.rawValue)
                        binder.bind(e.raw)
                        binder.bind(s.edge)
                        binder.bind(s.sender)
                        binder.bind(e.count)
                    }
                    try binder.run(db)
                    start += chunk.count
                }
            }
            try Self.upsert(incidents, in: db)
            for row in outbox { try Self.queue(row.incident, for: row.channels, kind: .alert, now: now, in: db) }
        }
    }

    /// Binds values to a prepared statement in order, then runs it once.
    struct Binder {
        let statement: SQLiteStatement
        var index: Int32 = 1
        var failed: Int32 = SQLITE_OK

        init(_ statement: SQLiteStatement) {
            self.statement = statement
            sqlite3_reset(statement)
        }

        /// SQLITE_TRANSIENT: SQLite copies the text before `bind` returns.
        static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        static let empty: [CChar] = [0]

        mutating func bind(_ value: Int64?) {
            let rc = value.map { sqlite3_bind_int64(statement, index, $0) } ?? sqlite3_bind_null(statement, index)
            if rc != SQLITE_OK { failed = rc }
            index += 1
        }

        mutating func bind(_ value: String?) {
            var rc: Int32
            if var text = value {
                rc = text.withUTF8 { bytes in
                    Self.empty.withUnsafeBufferPointer { empty in
                        bytes.withMemoryRebound(to: CChar.self) { chars in
                            sqlite3_bind_text(statement, index, chars.baseAddress ?? empty.baseAddress, Int32(chars.count), Self.transient)
                        }
                    }
                }
            } else {
                rc = sqlite3_bind_null(statement, index)
            }
            if rc != SQLITE_OK { failed = rc }
            index += 1
        }

        func run(_ db: Database) throws {
            defer { sqlite3_reset(statement) }
            guard failed == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: failed), message: "cannot bind an event's values") }
            let rc = sqlite3_step(statement)
            guard rc == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
        }
    }

    /// Inserts or updates incidents (never their `delivered` flag or analysis).
    static func upsert(_ incidents: [Incident], in db: Database) throws {
        guard !incidents.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO incident (id, key, rule, kind, severity, title, count, host, edge, user, target_user, grp,
                source_ip, first_seen, last_seen, last_arrival, status, evidence, hosts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, title = excluded.title,
                count = excluded.count, user = excluded.user, target_user = excluded.target_user, grp = excluded.grp,
                source_ip = excluded.source_ip, edge = excluded.edge, first_seen = excluded.first_seen,
                last_seen = excluded.last_seen, last_arrival = excluded.last_arrival, status = excluded.status,
                evidence = excluded.evidence, hosts = excluded.hosts
            """)
        for i in incidents {
            try upsert.execute(arguments: [
                i.id, i.key, i.rule, i.kind, i.severity.rawValue, i.title, i.count, i.host, i.edge, i.user, i.targetUser,
                i.group, i.sourceIP, i.firstSeen, i.lastSeen, i.lastArrival, i.status.rawValue, Self.json(i.evidence),
                Self.json(i.hosts),
            ])
        }
    }

    /// The latest incidents, newest first.
    package func recentIncidents(limit: Int = 50) throws -> [Incident] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident ORDER BY last_arrival DESC, id DESC LIMIT ?", arguments: [limit]).map(Self.incident)
        }
    }

    package func openIncidents() throws -> [Incident] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident WHERE status = 'open' ORDER BY id").map(Self.incident)
        }
    }

    package func incident(id: Int64) throws -> Incident? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM incident WHERE id = ?", arguments: [id]).map(Self.incident) }
    }

    package func maxIncidentID() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM incident") ?? 0 }
    }

    package struct Counts: Sendable, Hashable {
        package var events: Int
        package var incidents: Int
        package var openIncidents: Int
    }

    package func counts() throws -> Counts {
        try pool.read { db in
            Counts(
                events: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event") ?? 0,
                incidents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident") ?? 0,
                openIncidents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident WHERE status = 'open'") ?? 0)
        }
    }

    /// Events, newest first (for tests and `relay status`).
    package func recentEvents(limit: Int = 100) throws -> [StoredEvent] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                var e = Event(kind: Event.Kind(rawValue: row["kind"]))
                e.outcome = (row["outcome"] as String?).flatMap(Event.Outcome.init)
                e.timeMicroseconds = row["time"]
                e.host = row["host"]
                e.program = row["program"]
                e.pid = row["pid"]
                e.user = row["user"]
                e.targetUser = row["target_user"]
                e.group = row["grp"]
                e.sourceIP = row["source_ip"]
                e.count = row["count"]
                e.sourcePort = row["source_port"]
                e.method = row["method"]
                e.logonType = row["logon_type"]
                e.rule = row["rule"]
                e.severity = (row["severity"] as String?).flatMap(Event.Severity.init)
                e.raw = row["raw"]
                return StoredEvent(event: e, arrival: row["arrival"], edge: row["edge"], sender: row["sender"])
            }
        }
    }

    /// Deletes events that arrived before `eventsBefore` and closed incidents last seen
    /// before `incidentsBefore` (microseconds). Returns how many of each went.
    @discardableResult
    package func prune(eventsBefore: Int64, incidentsBefore: Int64) throws -> (events: Int, incidents: Int) {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM event WHERE arrival < ?", arguments: [eventsBefore])
            let events = db.changesCount
            try db.execute(sql: "DELETE FROM incident WHERE status = 'closed' AND last_arrival < ?", arguments: [incidentsBefore])
            return (events, db.changesCount)
        }
    }

    /// Bytes the store's pages hold (free pages left by deletions are not counted: SQLite
    /// reuses them).
    package func usedBytes() throws -> Int64 {
        try pool.read { db in
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            return (pages - free) * size
        }
    }

    /// Deletes the oldest events, 10,000 at a time, until the store holds at most `target`
    /// bytes (at most `maxRounds` rounds a call). Incidents and the outbox are kept: alerts
    /// and their evidence outlive the events. Returns how many events went.
    package func shrink(toBytes target: Int64, maxRounds: Int = 50) throws -> Int {
        var deleted = 0
        for _ in 0..<maxRounds {
            guard try usedBytes() > target else { break }
            let n = try pool.write { db -> Int in
                try db.execute(sql: "DELETE FROM event WHERE id IN (SELECT id FROM event ORDER BY id LIMIT 10000)")
                return db.changesCount
            }
            deleted += n
            if n == 0 { break }
        }
        return deleted
    }

    /// Outbox rows that are done with (delivered, or dead and given up on) and older than
    /// `before` (microseconds): the table does not grow for ever.
    @discardableResult
    package func pruneOutbox(before: Int64) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE status != 'pending' AND created < ?", arguments: [before])
            return db.changesCount
        }
    }

    package func state(_ name: String) throws -> Data? {
        try pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM state WHERE name = ?", arguments: [name]) }
    }

    /// State entries whose name starts with `prefix`.
    package func states(prefix: String) throws -> [(String, Data)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, value FROM state WHERE substr(name, 1, ?) = ?", arguments: [prefix.count, prefix])
                .map { ($0["name"], $0["value"]) }
        }
    }

    package func setState(_ name: String, _ value: Data) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        }
    }

    /// A JSON array of strings, quoted as Wire quotes event fields (Foundation's JSONEncoder
    /// took a fifth of the relay's CPU under a brute-force flood: every open incident's
    /// evidence is written on each flush).
    static func json(_ strings: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(strings.reduce(2) { $0 + $1.utf8.count + 4 })
        for (i, s) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Event.appendQuoted(s, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    static func strings(_ json: String?) -> [String] {
        guard let json else { return [] }
        return (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    static func incident(_ row: Row) -> Incident {
        var i = Incident(
            id: row["id"], key: row["key"], rule: row["rule"], kind: row["kind"],
            severity: Event.Severity(rawValue: row["severity"]) ?? .medium, title: row["title"], count: row["count"],
            host: row["host"], edge: row["edge"], user: row["user"], targetUser: row["target_user"], group: row["grp"],
            sourceIP: row["source_ip"], firstSeen: row["first_seen"], lastSeen: row["last_seen"], lastArrival: row["last_arrival"],
            status: Incident.Status(rawValue: row["status"]) ?? .closed, evidence: strings(row["evidence"]), hosts: strings(row["hosts"]))
        i.delivered = row["delivered"]
        return i
    }
}
