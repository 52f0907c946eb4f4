import Foundation
import GRDB
import Wire

/// The relay's SQLite store (`<data>/relay.sqlite`, WAL mode): events, incidents, and named
/// state blobs (the edge registry with its replay windows). One process writes (`relay
/// run`); `relay status` and `relay alerts` read it at the same time.
public final class Store: Sendable {
    /// One stored event with where it came from.
    public struct StoredEvent: Sendable {
        public var event: Event
        /// Microseconds since 1970 at which the relay received it.
        public var arrival: Int64
        public var edge: String?
        /// The address it came from.
        public var sender: String?

        public init(event: Event, arrival: Int64, edge: String? = nil, sender: String? = nil) {
            self.event = event
            self.arrival = arrival
            self.edge = edge
            self.sender = sender
        }
    }

    public static let fileName = "relay.sqlite"
    let pool: DatabasePool
    public let path: String

    /// Opens (creating and migrating when `readOnly` is false) the store in `directory`.
    public init(directory: URL, readOnly: Bool = false) throws {
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
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
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
        return m
    }

    /// Writes events and incident changes in one transaction.
    public func write(events: [StoredEvent], incidents: [Incident]) throws {
        guard !events.isEmpty || !incidents.isEmpty else { return }
        try pool.write { db in
            if !events.isEmpty {
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO event (arrival, time, kind, outcome, host, program, pid, user, target_user, grp, source_ip,
                        source_port, method, logon_type, rule, severity, raw, edge, sender)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for s in events {
                    let e = s.event
                    try insert.execute(arguments: [
                        s.arrival, e.timeMicroseconds, e.kind.rawValue, e.outcome?.rawValue, e.host, e.program, e.pid, e.user,
                        e.targetUser, e.group, e.sourceIP, e.sourcePort, e.method, e.logonType, e.rule, e.severity?.rawValue,
                        e.raw, s.edge, s.sender,
                    ])
                }
            }
            if !incidents.isEmpty {
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
        }
    }

    /// The latest incidents, newest first.
    public func recentIncidents(limit: Int = 50) throws -> [Incident] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident ORDER BY last_arrival DESC, id DESC LIMIT ?", arguments: [limit]).map(Self.incident)
        }
    }

    public func openIncidents() throws -> [Incident] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incident WHERE status = 'open' ORDER BY id").map(Self.incident)
        }
    }

    public func incident(id: Int64) throws -> Incident? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM incident WHERE id = ?", arguments: [id]).map(Self.incident) }
    }

    public func maxIncidentID() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM incident") ?? 0 }
    }

    public struct Counts: Sendable, Hashable {
        public var events: Int
        public var incidents: Int
        public var openIncidents: Int
    }

    public func counts() throws -> Counts {
        try pool.read { db in
            Counts(
                events: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event") ?? 0,
                incidents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident") ?? 0,
                openIncidents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incident WHERE status = 'open'") ?? 0)
        }
    }

    /// Events, newest first (for tests and `relay status`).
    public func recentEvents(limit: Int = 100) throws -> [StoredEvent] {
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
    public func prune(eventsBefore: Int64, incidentsBefore: Int64) throws -> (events: Int, incidents: Int) {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM event WHERE arrival < ?", arguments: [eventsBefore])
            let events = db.changesCount
            try db.execute(sql: "DELETE FROM incident WHERE status = 'closed' AND last_arrival < ?", arguments: [incidentsBefore])
            return (events, db.changesCount)
        }
    }

    public func state(_ name: String) throws -> Data? {
        try pool.read { db in try Data.fetchOne(db, sql: "SELECT value FROM state WHERE name = ?", arguments: [name]) }
    }

    public func setState(_ name: String, _ value: Data) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        }
    }

    static func json(_ strings: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(strings), as: UTF8.self)) ?? "[]"
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
