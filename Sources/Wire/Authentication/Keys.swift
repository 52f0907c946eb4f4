import Crypto
import Foundation

/// The relay's one secret. Every edge key is derived from it.
public struct Passkey: Sendable {
    /// Shortest passkey accepted, in bytes.
    public static let minimumBytes = 16

    let key: SymmetricKey

    /// - Throws: `WireError` when `secret` is shorter than `minimumBytes` UTF-8 bytes.
    public init(_ secret: String) throws {
        let bytes = Array(secret.utf8)
        guard bytes.count >= Passkey.minimumBytes else {
            throw WireError.badKey("passkey must be at least \(Passkey.minimumBytes) bytes")
        }
        key = SymmetricKey(data: bytes)
    }

    /// The key of one edge: HKDF-SHA256(ikm: passkey, salt: "wire/v1",
    /// info: "edge" 0x00 edge-id, 32 bytes). Holding it lets a host speak as that edge and
    /// no other.
    ///
    /// `generation` 1 is the key every edge starts with; rotating one edge's key moves it to
    /// generation 2, 3, ..., whose info ends with 0x00 and the generation in decimal ASCII.
    public func edgeKey(for edgeID: EdgeID, generation: UInt16 = 1) -> EdgeKey {
        var info = Array("edge".utf8) + [0] + Array(edgeID.rawValue.utf8)
        if generation != 1 { info += [0] + Array(String(generation).utf8) }
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: Array("wire/v1".utf8), info: info, outputByteCount: 32)
        return EdgeKey(derived)
    }
}

/// The name an edge signs with: 1 to 64 bytes of `A-Z a-z 0-9 . _ -`.
public struct EdgeID: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let maxBytes = 64
    public let rawValue: String

    public init?(rawValue: String) {
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty, utf8.count <= EdgeID.maxBytes, utf8.allSatisfy(EdgeID.isAllowed) else { return nil }
        self.rawValue = rawValue
    }

    init(bytes: ArraySlice<UInt8>) throws {
        guard !bytes.isEmpty, bytes.count <= EdgeID.maxBytes, bytes.allSatisfy(EdgeID.isAllowed) else {
            throw WireError.badEdgeID("edge id must be 1-64 bytes of A-Z a-z 0-9 . _ -")
        }
        rawValue = String(decoding: bytes, as: UTF8.self)
    }

    static func isAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    public var description: String { rawValue }
    public static func < (a: EdgeID, b: EdgeID) -> Bool { a.rawValue < b.rawValue }
}

/// One edge's root key (32 bytes), from which its MAC and sealing keys are derived:
/// HKDF-SHA256(ikm: edge key, salt: empty, info: "mac" or "seal", 32 bytes).
///
/// Its `description` never shows the key; use `hexEncoded` deliberately.
public struct EdgeKey: Sendable, CustomStringConvertible {
    let root: SymmetricKey
    let mac: SymmetricKey
    let seal: SymmetricKey

    init(_ root: SymmetricKey) {
        self.root = root
        mac = HKDF<SHA256>.deriveKey(inputKeyMaterial: root, info: Array("mac".utf8), outputByteCount: 32)
        seal = HKDF<SHA256>.deriveKey(inputKeyMaterial: root, info: Array("seal".utf8), outputByteCount: 32)
    }

    /// Parses the 64 hex digits that `relay edge-key` prints.
    public init(hex: String) throws {
        let text = hex.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count == 64, let bytes = [UInt8](hexString: text) else {
            throw WireError.badKey("an edge key is 64 hexadecimal digits")
        }
        self.init(SymmetricKey(data: bytes))
    }

    /// The key as 64 lowercase hex digits, for `relay edge-key` and the edge's config.
    public var hexEncoded: String {
        root.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    public var description: String { "EdgeKey(redacted)" }
}

extension Array where Element == UInt8 {
    init?(hexString: String) {
        var out: [UInt8] = []
        out.reserveCapacity(hexString.utf8.count / 2)
        var high: UInt8?
        for c in hexString.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        guard high == nil else { return nil }
        self = out
    }

    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
