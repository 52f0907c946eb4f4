import Foundation
import Synchronization
import Wire

/// The relay's passkey and the edge keys derived from it, cached.
///
/// During a rotation an edge has more than one key the relay accepts (docs: deploy/README.md,
/// "Rotate"): each of its key generations (`edges.key_generations`, 1 unless listed), derived
/// from the passkey and, while `passkey_previous` is set, from the previous passkey. At most
/// four, the current key first.
///
/// The cache is bounded: an attacker naming a million edge ids costs a million HKDF
/// derivations (a few microseconds each) but never a million cache entries.
package final class KeyRing: Sendable {
    private let passkeys: [Passkey]
    private let generations: [String: [UInt16]]
    private let cache = Mutex<[EdgeID: [EdgeKey]]>([:])
    private let maxCached: Int

    package init(passkey: Passkey, previous: Passkey? = nil, generations: [String: [UInt16]] = [:], maxCached: Int = 10_000) {
        passkeys = [passkey] + (previous.map { [$0] } ?? [])
        self.generations = generations
        self.maxCached = maxCached
    }

    /// The edge's key generations, the current first.
    package func generations(of edge: EdgeID) -> [UInt16] {
        generations[edge.rawValue] ?? [1]
    }

    /// The edge's current key, or the key of `generation` from the current passkey: what
    /// `relay edge-key` prints.
    package func key(for edge: EdgeID, generation: UInt16? = nil) -> EdgeKey {
        if generation == nil, let key = candidates(for: edge).first { return key }
        return passkeys[0].edgeKey(for: edge, generation: generation ?? generations(of: edge)[0])
    }

    /// Every key a frame from `edge` may be signed with, the current one first.
    package func candidates(for edge: EdgeID) -> [EdgeKey] {
        if let keys = cache.withLock({ $0[edge] }) { return keys }
        let keys = passkeys.flatMap { passkey in generations(of: edge).map { passkey.edgeKey(for: edge, generation: $0) } }
        cache.withLock { cache in
            if cache.count >= maxCached { cache.removeAll(keepingCapacity: true) }
            cache[edge] = keys
        }
        return keys
    }

    /// Which of `candidates(for: edge)` `index` is, for the operator: nil for the current key,
    /// else "generation 1", "previous passkey" or "previous passkey, generation 1".
    package func describe(_ index: Int, edge: EdgeID) -> String? {
        guard index > 0 else { return nil }
        let list = generations(of: edge)
        let passkey = index / list.count, generation = list[index % list.count]
        return [passkey > 0 ? "previous passkey" : nil, generation != list[0] ? "generation \(generation)" : nil]
            .compactMap { $0 }.joined(separator: ", ")
    }

    /// The key ring `configuration` describes: its passkey (or `<data>/passkey`, created with
    /// mode 0600 and 32 random bytes as hex when it does not exist yet), the previous passkey
    /// during a rotation, and the edges' key generations.
    package static func load(_ configuration: RelayConfiguration) throws -> (KeyRing, createdAt: String?) {
        let (current, origin, created) = try secret(configuration.passkey, dataDirectory: configuration.dataDirectory)
        // The same passkey twice (a rotation's first step: the copy is made, the new one not
        // yet) is one passkey.
        let previous = try configuration.passkeyPrevious.map { try ($0.read(), $0.description) }.flatMap { $0.0 == current ? nil : $0 }
        return (
            KeyRing(
                passkey: try passkey(current, from: origin), previous: try previous.map { try passkey($0.0, from: $0.1) },
                generations: configuration.edgeKeyGenerations),
            created
        )
    }

    private static func secret(_ source: SecretSource?, dataDirectory: URL) throws -> (String, origin: String, createdAt: String?) {
        if let source {
            return (try source.read(), source.description, nil)
        }
        let path = dataDirectory.appendingPathComponent("passkey").path
        if FileManager.default.fileExists(atPath: path) {
            return (try SecretSource.file(path).read(), path, nil)
        }
        try SecretFile.privateDirectory(dataDirectory.path)
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        // 0600 from the first byte, whole or not at all, and never through a file or link
        // someone put there. Another process that made it first wins: its passkey is read.
        guard try SecretFile.createUnlessPresent(path, contents: Array((secret + "\n").utf8)) else {
            return (try SecretSource.file(path).read(), path, nil)
        }
        return (secret, path, path)
    }

    private static func passkey(_ text: String, from origin: String) throws -> Passkey {
        do {
            return try Passkey(text)
        } catch {
            throw RelayError("the passkey from \(origin) is shorter than \(Passkey.minimumBytes) bytes")
        }
    }
}
