/// Why Wire refused an input. A struct over a private code, so new reasons never break callers.
///
/// Every rejection of untrusted input carries one of these; `reason` is a short stable
/// identifier used as a metric label (`wire_rejected_total{reason="bad_mac"}`).
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: String, Hashable, Sendable {
        case truncated
        case unsupportedVersion = "unsupported_version"
        case unknownKind = "unknown_kind"
        case badFlags = "bad_flags"
        case badEdgeID = "bad_edge_id"
        case badFragment = "bad_fragment"
        case badMAC = "bad_mac"
        case oversized
        case badEncoding = "bad_encoding"
        case compression
        case decompressionLimit = "decompression_limit"
        case sealing
        case malformedPayload = "malformed_payload"
        case syntax
        case envelopeMismatch = "envelope_mismatch"
        case badKey = "bad_key"
        case replayed
        case stale
        case sourceNotAllowed = "source_not_allowed"
    }

    private let code: Code
    /// Human-readable detail. Never contains key material; may quote bounded input.
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// Stable short identifier, suitable as a metric label.
    public var reason: String { code.rawValue }

    /// A refusal that means someone tried to speak as an edge: a packet whose tag does not
    /// verify, a replay below the window, a frame far out of time, one that disagrees with
    /// its envelope, or one from an address the edge may not use. (Duplicates are not:
    /// UDP redundancy sends each datagram several times.)
    public var isForgery: Bool {
        switch code {
        case .badMAC, .replayed, .stale, .envelopeMismatch, .sealing, .sourceNotAllowed: true
        default: false
        }
    }
    public var description: String { "\(code.rawValue): \(detail)" }

    public static func == (lhs: WireError, rhs: WireError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public static func truncated(_ d: String) -> WireError { .init(.truncated, d) }
    public static func unsupportedVersion(_ v: UInt8) -> WireError { .init(.unsupportedVersion, "version \(v)") }
    public static func unknownKind(_ k: UInt8) -> WireError { .init(.unknownKind, "kind \(k)") }
    public static func badFlags(_ d: String) -> WireError { .init(.badFlags, d) }
    public static func badEdgeID(_ d: String) -> WireError { .init(.badEdgeID, d) }
    public static func badFragment(_ d: String) -> WireError { .init(.badFragment, d) }
    public static func badMAC(_ d: String) -> WireError { .init(.badMAC, d) }
    public static func oversized(_ d: String) -> WireError { .init(.oversized, d) }
    public static func badEncoding(_ d: String) -> WireError { .init(.badEncoding, d) }
    public static func compression(_ d: String) -> WireError { .init(.compression, d) }
    public static func decompressionLimit(_ d: String) -> WireError { .init(.decompressionLimit, d) }
    public static func sealing(_ d: String) -> WireError { .init(.sealing, d) }
    public static func malformedPayload(_ d: String) -> WireError { .init(.malformedPayload, d) }
    public static func syntax(_ d: String) -> WireError { .init(.syntax, d) }
    public static func envelopeMismatch(_ d: String) -> WireError { .init(.envelopeMismatch, d) }
    public static func badKey(_ d: String) -> WireError { .init(.badKey, d) }
    public static func replayed(_ d: String) -> WireError { .init(.replayed, d) }
    public static func stale(_ d: String) -> WireError { .init(.stale, d) }
    public static func sourceNotAllowed(_ d: String) -> WireError { .init(.sourceNotAllowed, d) }

    // Bare values for matching in tests and switch-like comparisons.
    public static let truncated = WireError(.truncated, "")
    public static let badMAC = WireError(.badMAC, "")
    public static let badFragment = WireError(.badFragment, "")
    public static let oversized = WireError(.oversized, "")
    public static let decompressionLimit = WireError(.decompressionLimit, "")
    public static let syntax = WireError(.syntax, "")
    public static let malformedPayload = WireError(.malformedPayload, "")
    public static let envelopeMismatch = WireError(.envelopeMismatch, "")
    public static let replayed = WireError(.replayed, "")
    public static let stale = WireError(.stale, "")
    public static let sourceNotAllowed = WireError(.sourceNotAllowed, "")
    public static let badEncoding = WireError(.badEncoding, "")
    public static let compression = WireError(.compression, "")
    public static let sealing = WireError(.sealing, "")
    public static let badEdgeID = WireError(.badEdgeID, "")
    public static let unsupportedVersion = WireError(.unsupportedVersion, "")
}
