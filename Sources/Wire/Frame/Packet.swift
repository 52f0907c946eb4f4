import Foundation
import Crypto

/// One fragment of a frame as it travels: a self-contained, individually authenticated
/// byte string (layout in docs/wire-protocol.md, section "Packet").
///
/// Every packet carries the whole frame header, its position, a slice of the payload and a
/// 16-byte tag, HMAC-SHA256 truncated to 128 bits, over all bytes before the tag. So each
/// fragment is verified on its own before it is buffered, and nothing unauthenticated is
/// ever held for reassembly or inflated.
@dynamicMemberLookup
public struct Packet: Hashable, Sendable {
    public static let version: UInt8 = 1
    public static let tagBytes = 16
    /// Header bytes besides the edge id.
    static let fixedHeaderBytes = 33
    /// Largest total payload a frame may declare (16 MiB); receivers set lower limits.
    public static let maxPayloadBytes = 16 << 20
    /// Most fragments one frame may have.
    public static let maxFragments = 255

    /// The frame's header, repeated in every packet; its fields read as the packet's own.
    public var header: FrameHeader
    /// Total payload length of the frame, across all fragments.
    public var payloadLength: Int
    /// 0-based position of this fragment.
    public var index: Int
    public var count: Int
    public var chunk: ArraySlice<UInt8>

    @inlinable
    public subscript<T>(dynamicMember field: WritableKeyPath<FrameHeader, T>) -> T {
        get { header[keyPath: field] }
        set { header[keyPath: field] = newValue }
    }

    /// Bytes a packet adds around its chunk, for an edge id of `edgeIDBytes`.
    public static func overhead(edgeIDBytes: Int) -> Int { fixedHeaderBytes + edgeIDBytes + tagBytes }

    /// The packet's bytes, signed with `key`.
    func encoded(key: EdgeKey) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Packet.overhead(edgeIDBytes: header.edgeID.rawValue.utf8.count) + chunk.count)
        out.append(Packet.version)
        out.append(header.kind.rawValue)
        out.append(header.flags.rawValue)
        out.append(header.dictionaryID)
        out.append(UInt8(header.edgeID.rawValue.utf8.count))
        out.append(contentsOf: header.edgeID.rawValue.utf8)
        out.appendInteger(header.epoch)
        out.appendInteger(header.sequence)
        out.appendInteger(header.sendTimeMilliseconds)
        out.appendInteger(UInt32(payloadLength))
        out.append(UInt8(index))
        out.append(UInt8(count))
        out.appendInteger(UInt16(chunk.count))
        out.append(contentsOf: chunk)
        let tag = HMAC<SHA256>.authenticationCode(for: out, using: key.mac)
        out.append(contentsOf: tag.prefix(Packet.tagBytes))
        return out
    }

    /// Reads the header without verifying anything; the tag and the signed bytes are
    /// returned for `verify`. Structural checks only: versions, lengths, ranges.
    static func parse(_ bytes: ArraySlice<UInt8>) throws -> (packet: Packet, signed: ArraySlice<UInt8>, tag: ArraySlice<UInt8>) {
        var r = ByteReader(bytes)
        let version = try r.readByte("version")
        guard version == Packet.version else { throw WireError.unsupportedVersion(version) }
        let kind = try r.readByte("kind")
        guard FrameKind.known.contains(kind) else { throw WireError.unknownKind(kind) }
        let flags = FrameFlags(rawValue: try r.readByte("flags"))
        guard FrameFlags.all.isSuperset(of: flags) else { throw WireError.badFlags("undefined flag bits \(flags.rawValue)") }
        let dictionaryID = try r.readByte("dictionary")
        guard dictionaryID == 0 || flags.contains(.deflated) else {
            throw WireError.badFlags("dictionary \(dictionaryID) without deflate")
        }
        let idLength = Int(try r.readByte("edge id length"))
        let edgeID = try EdgeID(bytes: try r.readBytes(idLength, "edge id"))
        let epoch = try r.readInteger(UInt32.self, "epoch")
        let sequence = try r.readInteger(UInt64.self, "sequence")
        let sendTime = try r.readInteger(Int64.self, "send time")
        let payloadLength = Int(try r.readInteger(UInt32.self, "payload length"))
        guard payloadLength <= Packet.maxPayloadBytes else { throw WireError.oversized("payload of \(payloadLength) bytes") }
        let index = Int(try r.readByte("fragment index"))
        let count = Int(try r.readByte("fragment count"))
        guard count >= 1, index < count else { throw WireError.badFragment("fragment \(index) of \(count)") }
        let chunkLength = Int(try r.readInteger(UInt16.self, "chunk length"))
        guard chunkLength <= payloadLength, chunkLength > 0 || payloadLength == 0 else {
            throw WireError.badFragment("chunk of \(chunkLength) bytes in a payload of \(payloadLength)")
        }
        let chunk = try r.readBytes(chunkLength, "chunk")
        let signedEnd = r.index
        let tag = try r.readBytes(Packet.tagBytes, "tag")
        guard r.isAtEnd else { throw WireError.oversized("\(r.remaining) bytes after the tag") }
        let header = FrameHeader(
            kind: FrameKind(rawValue: kind), flags: flags, dictionaryID: dictionaryID, edgeID: edgeID, epoch: epoch, sequence: sequence,
            sendTimeMilliseconds: sendTime)
        let packet = Packet(header: header, payloadLength: payloadLength, index: index, count: count, chunk: chunk)
        return (packet, bytes[bytes.startIndex..<signedEnd], tag)
    }

    /// Parses and authenticates `bytes`. The key is looked up by the edge id the packet
    /// claims; an unknown edge and a wrong tag are both refused.
    ///
    /// - Returns: the verified packet; its `chunk` is copied out of `bytes`.
    public static func verify(_ bytes: ArraySlice<UInt8>, key lookup: (EdgeID) -> EdgeKey?) throws -> Packet {
        try verify(bytes, candidates: { lookup($0).map { [$0] } ?? [] }).packet
    }

    /// Parses and authenticates `bytes` against each key the claimed edge may sign with
    /// (during a key rotation, the new and the old; a handful at most, each one HMAC).
    ///
    /// - Returns: the verified packet (its `chunk` copied out of `bytes`) and the index of
    ///   the candidate that verified it.
    public static func verify(
        _ bytes: ArraySlice<UInt8>, candidates lookup: (EdgeID) -> [EdgeKey]
    ) throws -> (packet: Packet, keyIndex: Int) {
        var (packet, signed, tag) = try parse(bytes)
        let keys = lookup(packet.edgeID)
        guard !keys.isEmpty else { throw WireError.badMAC("no key for edge \(packet.edgeID)") }
        guard let index = keys.firstIndex(where: { HMACTruncated.isValid(tag: tag, for: signed, key: $0.mac) }) else {
            throw WireError.badMAC("tag does not match for edge \(packet.edgeID)")
        }
        packet.chunk = ArraySlice(Array(packet.chunk))
        return (packet, index)
    }

    public static func verify(_ bytes: ArraySlice<UInt8>, candidates: [EdgeKey]) throws -> (packet: Packet, keyIndex: Int) {
        try verify(bytes, candidates: { _ in candidates })
    }
}

enum HMACTruncated {
    /// Constant-time comparison of a truncated HMAC-SHA256 tag.
    static func isValid(tag: ArraySlice<UInt8>, for data: ArraySlice<UInt8>, key: SymmetricKey) -> Bool {
        let full = HMAC<SHA256>.authenticationCode(for: data, using: key)
        guard tag.count == Packet.tagBytes else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(full.prefix(Packet.tagBytes), tag) { difference |= a ^ b }
        return difference == 0
    }
}
