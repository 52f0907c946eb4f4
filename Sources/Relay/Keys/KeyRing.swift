import Foundation
import Synchronization
import Wire

/// The relay's passkey and the edge keys derived from it, cached.
///
/// The cache is bounded: an attacker naming a million edge ids costs a million HKDF
/// derivations (a few microseconds each) but never a million cache entries.
public final class KeyRing: Sendable {
    private let passkey: Passkey
    private let cache = Mutex<[EdgeID: EdgeKey]>([:])
    private let maxCached: Int

    public init(passkey: Passkey, maxCached: Int = 10_000) {
        self.passkey = passkey
        self.maxCached = maxCached
    }

    public func key(for edge: EdgeID) -> EdgeKey {
        if let key = cache.withLock({ $0[edge] }) { return key }
        let key = passkey.edgeKey(for: edge)
        cache.withLock { cache in
            if cache.count >= maxCached { cache.removeAll(keepingCapacity: true) }
            cache[edge] = key
        }
        return key
    }

    /// Loads the passkey from `source`, or from `<data>/passkey`, creating that file (mode
    /// 0600, 32 random bytes as hex) when it does not exist yet.
    public static func load(_ source: SecretSource?, dataDirectory: URL) throws -> (KeyRing, createdAt: String?) {
        if let source {
            return (KeyRing(passkey: try passkey(source.read(), from: source.description)), nil)
        }
        let path = dataDirectory.appendingPathComponent("passkey").path
        if FileManager.default.fileExists(atPath: path) {
            return (KeyRing(passkey: try passkey(SecretSource.file(path).read(), from: path)), nil)
        }
        try SecretFile.privateDirectory(dataDirectory.path)
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        // 0600 from the first byte, and never through a file or link someone put there.
        try SecretFile.create(path, contents: Array((secret + "\n").utf8))
        return (KeyRing(passkey: try passkey(secret, from: path)), path)
    }

    private static func passkey(_ text: String, from origin: String) throws -> Passkey {
        do {
            return try Passkey(text)
        } catch {
            throw RelayError("the passkey from \(origin) is shorter than \(Passkey.minimumBytes) bytes")
        }
    }
}
