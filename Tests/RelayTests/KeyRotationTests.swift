import Detection
import Foundation
import Plumbing
import Testing
import TestSupport
import Wire

@testable import Relay

/// Rotating the passkey and one edge's key (deploy/README.md, "Rotate"): during the overlap
/// the relay takes frames signed with the old key and the new, and says which one each edge
/// used last; after it, the old key is refused.
@Suite("Key rotation", .serialized)
struct KeyRotationTests {
    static let newPasskey = "the passkey after the rotation, 32+ bytes"

    static func frame(_ edge: String, _ sequence: UInt64, passkey: String, generation: UInt16 = 1) throws -> [[UInt8]] {
        var event = EdgeFixture.event(Int(sequence))
        event.host = edge
        return try EdgeFixture.messages(
            events: [event], sequence: sequence, edge: EdgeID(rawValue: edge)!, passkey: passkey, generation: generation)
    }

    @Test func theOverlapTakesOldAndNewKeysAndTellsWhichTheEdgeUses() async throws {
        let relay = try await RunningRelay.start { c in
            c.passkey = .inline(Self.newPasskey)
            c.passkeyPrevious = .inline(RunningRelay.passkey)
            c.edgeKeyGenerations = ["db-01": [2, 1]]
        }
        let old = RunningRelay.passkey, new = Self.newPasskey
        // web-01 not moved yet (old passkey), app-01 moved; db-01 on its old generation, on its new one,
        // and on a generation the relay does not take.
        let sends: [(String, UInt64, String, UInt16)] = [
            ("web-01", 1, old, 1), ("app-01", 1, new, 1), ("db-01", 1, new, 1), ("db-01", 2, old, 1),
            ("db-01", 3, old, 2), ("db-01", 4, new, 3),
        ]
        for (edge, sequence, passkey, generation) in sends {
            try await Send.udp(try Self.frame(edge, sequence, passkey: passkey, generation: generation), port: relay.udpPort)
        }
        await relay.wait { relay.frames.count == 5 && relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 1 }
        let keyOf = { (edge: String) in relay.app.intake.edges()[edge].map { $0.previousKey ?? "current" } }
        #expect(keyOf("web-01") == "previous passkey")
        #expect(keyOf("app-01") == "current")
        // db-01's last frame was signed with the previous passkey's generation 2.
        #expect(keyOf("db-01") == "previous passkey")
        #expect(relay.counter("relay_frames_previous_key_total") == 4, "web-01 and three of db-01")
        // Now db-01 moves to generation 2 of the new passkey: it shows current.
        try await Send.udp(try Self.frame("db-01", 5, passkey: new, generation: 2), port: relay.udpPort)
        await relay.wait { relay.frames.count == 6 }
        #expect(keyOf("db-01") == "current")
        try await Send.udp(try Self.frame("db-01", 6, passkey: new, generation: 1), port: relay.udpPort)
        await relay.wait { relay.frames.count == 7 }
        #expect(keyOf("db-01") == "generation 1")
        await relay.stop()
        #expect(relay.frames.map(\.frame.edgeID.rawValue).sorted() == ["app-01", "db-01", "db-01", "db-01", "db-01", "db-01", "web-01"])
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 1, "generation 3 is not one db-01 may use")
    }

    /// After the overlap, the old passkey and the old generation are refused: whoever copied
    /// an old key can no longer speak as the edge.
    @Test func afterTheOverlapOldKeysAreRefused() async throws {
        let relay = try await RunningRelay.start { c in
            c.passkey = .inline(Self.newPasskey)
            c.edgeKeyGenerations = ["db-01": [2]]
        }
        try await Send.udp(try Self.frame("web-01", 1, passkey: RunningRelay.passkey), port: relay.udpPort)
        try await Send.udp(try Self.frame("db-01", 1, passkey: Self.newPasskey, generation: 1), port: relay.udpPort)
        try await Send.udp(try Self.frame("db-01", 2, passkey: Self.newPasskey, generation: 2), port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 && relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 2 }
        await relay.stop()
        #expect(relay.frames.map(\.frame.sequence) == [2])
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 2)
    }

    @Test func keyRingOrderAndNames() throws {
        let ring = KeyRing(
            passkey: try Passkey(Self.newPasskey), previous: try Passkey(RunningRelay.passkey), generations: ["db-01": [3, 2]])
        let db = EdgeID(rawValue: "db-01")!, web = EdgeID(rawValue: "web-01")!
        let new = try Passkey(Self.newPasskey), old = try Passkey(RunningRelay.passkey)
        #expect(ring.candidates(for: db).map(\.hexEncoded) == [
            new.edgeKey(for: db, generation: 3), new.edgeKey(for: db, generation: 2),
            old.edgeKey(for: db, generation: 3), old.edgeKey(for: db, generation: 2),
        ].map(\.hexEncoded))
        #expect((0..<4).map { ring.describe($0, edge: db) } == [nil, "generation 2", "previous passkey", "previous passkey, generation 2"])
        #expect(ring.candidates(for: web).map(\.hexEncoded) == [new.edgeKey(for: web), old.edgeKey(for: web)].map(\.hexEncoded))
        #expect(ring.key(for: db).hexEncoded == new.edgeKey(for: db, generation: 3).hexEncoded)
        #expect(ring.key(for: db, generation: 2).hexEncoded == new.edgeKey(for: db, generation: 2).hexEncoded)
        // Outside a rotation: one key per edge, generation 1 unless configured.
        let plain = KeyRing(passkey: new)
        #expect(plain.candidates(for: web).map(\.hexEncoded) == [new.edgeKey(for: web).hexEncoded])
    }

    @Test func configuration() throws {
        let c = try RelayConfiguration.parse("""
            passkey_previous_file: /var/lib/relay/passkey.previous
            edges:
              key_generations:
                web-01: [2, 1]
                db-01: 3

            """, origin: "relay.yaml")
        #expect(c.passkeyPrevious == .file("/var/lib/relay/passkey.previous"))
        #expect(c.edgeKeyGenerations == ["web-01": [2, 1], "db-01": [3]])
        for bad in [
            "edges:\n  key_generations:\n    web-01: 0\n", "edges:\n  key_generations:\n    web-01: [1, 1]\n",
            "edges:\n  key_generations:\n    web-01: [3, 2, 1]\n", "edges:\n  key_generations:\n    web-01: two\n",
            "edges:\n  key_generations:\n    web-01: 65536\n", "edges:\n  key_generations:\n    \"not an id\": 2\n",
            "edges:\n  key_generations: [web-01]\n",
            "edges:\n  key_generations:\n    web-01: [1, 2]\n",
            "passkey_previous: a long enough old passkey\npasskey_previous_file: /x\n",
            "passkey_previous: short\n",
            "passkey: the same passkey twice, long\npasskey_previous: the same passkey twice, long\n",
        ] {
            #expect(throws: ConfigurationProblems.self, "\(bad)") { try RelayConfiguration.parse(bad, origin: "relay.yaml") }
        }
    }

    /// The rotation's first step (deploy/README.md): passkey.previous is a copy of the
    /// passkey, the new one not made yet. One passkey, not two: a restart then is harmless.
    @Test func aCopyOfThePasskeyAsPreviousIsOnePasskey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyring-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let current = dir.appendingPathComponent("passkey").path, previous = dir.appendingPathComponent("passkey.previous").path
        for path in [current, previous] {
            FileManager.default.createFile(atPath: path, contents: Data((RunningRelay.passkey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        var configuration = RelayConfiguration()
        configuration.dataDirectory = dir
        configuration.passkeyPrevious = .file(previous)
        let web = EdgeID(rawValue: "web-01")!
        #expect(try KeyRing.load(configuration).0.candidates(for: web).count == 1)
        try Data((Self.newPasskey + "\n").utf8).write(to: URL(fileURLWithPath: current))
        let ring = try KeyRing.load(configuration).0
        #expect(ring.candidates(for: web).map(\.hexEncoded) == [
            try Passkey(Self.newPasskey).edgeKey(for: web), try Passkey(RunningRelay.passkey).edgeKey(for: web),
        ].map(\.hexEncoded))
    }

    /// `relay run` and `relay edge-key` started together on a fresh data directory both create
    /// the passkey: one wins and both use its passkey (before, the loser stopped with "cannot
    /// create ...: File exists", and the demo's relay never started).
    @Test func processesCreatingThePasskeyAtOnceAgreeOnOne() async throws {
        for _ in 0..<20 {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyring-race-\(UUID().uuidString)")
            var fresh = RelayConfiguration()
            fresh.dataDirectory = dir
            let configuration = fresh
            let web = EdgeID(rawValue: "web-01")!
            let keys = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 { group.addTask { try KeyRing.load(configuration).0.key(for: web).hexEncoded } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(keys).count == 1, "\(Set(keys).count) different passkeys")
            let entries = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            #expect(entries == ["passkey"], "left behind: \(entries)")
            let mode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("passkey").path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }
}
