import Crypto
import Foundation

/// Builds frames on the edge: encodes a body, deflates it (when that pays) with a preset
/// dictionary, seals it when asked. Owns a zlib stream: one per thread that builds frames.
public final class FrameBuilder {
    public struct Options: Sendable, Hashable {
        /// Deflate the payload with this preset dictionary; `nil` sends it as is.
        public var compression: PresetDictionary?
        /// Seal the payload with ChaCha20-Poly1305 (confidentiality on top of the MAC).
        public var seal: Bool
        /// zlib level 1-9.
        public var level: Int32

        public init(compression: PresetDictionary? = .authV1, seal: Bool = false, level: Int32 = 6) {
            self.compression = compression
            self.seal = seal
            self.level = level
        }
    }

    public let edgeID: EdgeID
    private let key: EdgeKey
    public let options: Options
    private let deflater: Deflater

    public init(edgeID: EdgeID, key: EdgeKey, options: Options = Options()) throws {
        self.edgeID = edgeID
        self.key = key
        self.options = options
        deflater = try Deflater(level: options.level)
    }

    /// Encodes, compresses (when it pays) and seals `body` as frame `sequence` of `epoch`.
    public func makeFrame(_ body: FrameBody, epoch: UInt32, sequence: UInt64, sendTimeMilliseconds: Int64) throws -> Frame {
        let plain: [UInt8]
        switch body {
        case .events(let events): plain = EventBatchCodec.encode(events)
        case .heartbeat(let heartbeat): plain = HeartbeatCodec.encode(heartbeat)
        }
        var flags: FrameFlags = []
        var dictionaryID: UInt8 = 0
        var payload = plain
        if let dictionary = options.compression {
            let compressed = try deflater.compress(plain, dictionary: dictionary.bytes)
            if compressed.count < plain.count {
                payload = compressed
                flags.insert(.deflated)
                dictionaryID = dictionary.id
            }
        }
        var frame = Frame(
            kind: body.kind, flags: flags, dictionaryID: dictionaryID, edgeID: edgeID, epoch: epoch,
            sequence: sequence, sendTimeMilliseconds: sendTimeMilliseconds, payload: [])
        if options.seal {
            frame.flags.insert(.sealed)
            frame.payload = try Sealing.seal(payload, frame: frame, key: key)
        } else {
            frame.payload = payload
        }
        guard frame.payload.count <= Packet.maxPayloadBytes else {
            throw WireError.oversized("frame payload of \(frame.payload.count) bytes")
        }
        return frame
    }
}

/// Cuts a frame into packets and signs each (no zlib, no state): what the edge's sender
/// needs to send a spooled frame.
public struct Packetizer: Sendable {
    public let edgeID: EdgeID
    private let key: EdgeKey

    public init(edgeID: EdgeID, key: EdgeKey) {
        self.edgeID = edgeID
        self.key = key
    }

    /// The signed packets of `frame`, each chunk at most `maxChunkBytes`.
    ///
    /// - Throws: when the frame would need more than `Packet.maxFragments` packets.
    public func packets(for frame: Frame, maxChunkBytes: Int) throws -> [[UInt8]] {
        precondition(frame.edgeID == edgeID, "frame belongs to another edge")
        let chunkSize = min(max(1, maxChunkBytes), Int(UInt16.max))
        let count = max(1, (frame.payload.count + chunkSize - 1) / chunkSize)
        guard count <= Packet.maxFragments else {
            throw WireError.oversized("\(frame.payload.count) bytes need \(count) fragments of \(chunkSize)")
        }
        return (0..<count).map { index in
            let start = index * chunkSize
            let end = min(frame.payload.count, start + chunkSize)
            let packet = Packet(header: frame.header, payloadLength: frame.payload.count, index: index, count: count, chunk: frame.payload[start..<end])
            return packet.encoded(key: key)
        }
    }
}

/// A frame builder and a packetizer for one edge: tests and tools that make frames and send
/// them at once. Not thread-safe (it owns a zlib stream).
public final class FrameEncoder {
    public typealias Options = FrameBuilder.Options

    public let builder: FrameBuilder
    public let packetizer: Packetizer
    public var edgeID: EdgeID { builder.edgeID }
    public var options: Options { builder.options }

    public init(edgeID: EdgeID, key: EdgeKey, options: Options = Options()) throws {
        builder = try FrameBuilder(edgeID: edgeID, key: key, options: options)
        packetizer = Packetizer(edgeID: edgeID, key: key)
    }

    public func makeFrame(_ body: FrameBody, epoch: UInt32, sequence: UInt64, sendTimeMilliseconds: Int64) throws -> Frame {
        try builder.makeFrame(body, epoch: epoch, sequence: sequence, sendTimeMilliseconds: sendTimeMilliseconds)
    }

    public func packets(for frame: Frame, maxChunkBytes: Int) throws -> [[UInt8]] {
        try packetizer.packets(for: frame, maxChunkBytes: maxChunkBytes)
    }
}

/// Opens reassembled frames on the relay: unseals, inflates within limits, decodes.
///
/// Not thread-safe (it owns a zlib stream): one per event loop or task.
public final class FrameOpener {
    public var decompressionLimit: DecompressionLimit
    public var payloadLimits: PayloadLimits
    private let inflater: Inflater

    public init(decompressionLimit: DecompressionLimit = .default, payloadLimits: PayloadLimits = .default) throws {
        self.decompressionLimit = decompressionLimit
        self.payloadLimits = payloadLimits
        inflater = try Inflater()
    }

    /// - Parameter key: the key the frame's packets were verified with.
    public func open(_ frame: Frame, key: EdgeKey) throws -> FrameBody {
        try open(frame, keys: [key])
    }

    /// - Parameter keys: the keys a sealed frame may be sealed with, the one its packets were
    ///   verified with first: during a key rotation an edge restarted with its new key signs
    ///   again the frames it had spooled, sealed under the old one. One ChaCha20-Poly1305
    ///   open per key tried, at most `keys.count`.
    public func open(_ frame: Frame, keys: [EdgeKey]) throws -> FrameBody {
        var payload = frame.payload[...]
        if frame.flags.contains(.sealed) {
            var opened: [UInt8]?
            for key in keys {
                if let plain = try? Sealing.open(payload, frame: frame, key: key) {
                    opened = plain
                    break
                }
            }
            guard let opened else { throw WireError.sealing("sealed payload does not open with any of the edge's \(keys.count) key(s)") }
            payload = opened[...]
        }
        if frame.flags.contains(.deflated) {
            guard let dictionary = PresetDictionary.known(id: frame.dictionaryID) else {
                throw WireError.compression("unknown dictionary \(frame.dictionaryID)")
            }
            payload = try inflater.decompress(payload, dictionary: dictionary.bytes, limit: decompressionLimit)[...]
        } else if payload.count > decompressionLimit.maxBytes {
            throw WireError.oversized("uncompressed payload of \(payload.count) bytes")
        }
        switch frame.kind {
        case .events: return .events(try EventBatchCodec.decode(payload, limits: payloadLimits))
        case .heartbeat: return .heartbeat(try HeartbeatCodec.decode(payload, limits: payloadLimits))
        default: throw WireError.unknownKind(frame.kind.rawValue)
        }
    }
}

/// ChaCha20-Poly1305 over the (compressed) payload. Nonce: epoch (4 bytes) then sequence
/// (8 bytes), big-endian, unique per edge key because an edge never reuses the pair. Added
/// data: the frame header without the send time, so a resent frame is sealed identically.
enum Sealing {
    static func nonce(_ frame: Frame) throws -> ChaChaPoly.Nonce {
        var bytes: [UInt8] = []
        bytes.appendInteger(frame.epoch)
        bytes.appendInteger(frame.sequence)
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static func additionalData(_ frame: Frame) -> [UInt8] {
        var aad: [UInt8] = [Packet.version, frame.kind.rawValue, frame.flags.rawValue, frame.dictionaryID]
        aad.append(UInt8(frame.edgeID.rawValue.utf8.count))
        aad.append(contentsOf: frame.edgeID.rawValue.utf8)
        aad.appendInteger(frame.epoch)
        aad.appendInteger(frame.sequence)
        return aad
    }

    static func seal(_ plain: [UInt8], frame: Frame, key: EdgeKey) throws -> [UInt8] {
        do {
            let box = try ChaChaPoly.seal(plain, using: key.seal, nonce: try nonce(frame), authenticating: additionalData(frame))
            return Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw WireError.sealing("seal failed")
        }
    }

    static func open(_ sealed: ArraySlice<UInt8>, frame: Frame, key: EdgeKey) throws -> [UInt8] {
        guard sealed.count >= 16 else { throw WireError.sealing("sealed payload shorter than its tag") }
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: try nonce(frame), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
            return Array(try ChaChaPoly.open(box, using: key.seal, authenticating: additionalData(frame)))
        } catch {
            throw WireError.sealing("sealed payload does not open")
        }
    }
}
