import Foundation
import Wire

/// The bytes of one spool file: a frame and the source positions after it.
///
/// ```
/// "AGS1"                                  magic and version
/// epoch u32, sequence u64, kind u8, flags u8, dictionary u8, saved at i64 (µs since 1970)
/// payload: u32 length, bytes              the frame's payload as sealed, never re-encoded
/// checkpoints: u16 count, each: name, path (u16 length + UTF-8), device u64, inode u64,
///              offset i64, fingerprint u64, fingerprint bytes u32
/// cursors: u16 count, each: name (u16 length + UTF-8), value (u32 length + UTF-8)
/// CRC-32 u32                              of every byte before it
/// ```
///
/// Big-endian; nothing after the checksum. A file whose checksum does not match is refused
/// (a damaged sequence number sent on would have the relay refuse the edge's later frames). Files the edge wrote before this format (JSON
/// with the payload in base64) are still read, so an upgrade sends what it spooled.
enum SpoolFile {
    static let magic: [UInt8] = Array("AGS1".utf8)
    /// Larger than any file the spool writes (a frame is at most 64 KiB, its positions a few
    /// KiB): a larger file is damaged and is not read into memory.
    static let maxBytes = 4 << 20

    static func encode(_ entry: Spool.Entry) -> [UInt8] {
        var out = magic
        out.reserveCapacity(64 + entry.payload.count + entry.checkpoints.count * 96 + entry.cursors.count * 160)
        out.appendInteger(entry.epoch)
        out.appendInteger(entry.sequence)
        out.append(entry.kind)
        out.append(entry.flags)
        out.append(entry.dictionary)
        out.appendInteger(entry.savedAtMicroseconds)
        out.appendInteger(UInt32(clamping: entry.payload.count))
        out += entry.payload
        out.appendInteger(UInt16(clamping: entry.checkpoints.count))
        for (name, c) in entry.checkpoints.sorted(by: { $0.key < $1.key }).prefix(Int(UInt16.max)) {
            appendString(name, to: &out)
            appendString(c.path, to: &out)
            out.appendInteger(c.device)
            out.appendInteger(c.inode)
            out.appendInteger(c.offset)
            out.appendInteger(c.fingerprint)
            out.appendInteger(UInt32(clamping: c.fingerprintBytes))
        }
        out.appendInteger(UInt16(clamping: entry.cursors.count))
        for (name, value) in entry.cursors.sorted(by: { $0.key < $1.key }).prefix(Int(UInt16.max)) {
            appendString(name, to: &out)
            let bytes = Array(value.utf8)
            out.appendInteger(UInt32(clamping: bytes.count))
            out += bytes
        }
        out.appendInteger(CRC32.of(out))
        return out
    }

    /// The entry in `bytes`; nil for anything that is not a whole spool file.
    static func decode(_ bytes: [UInt8]) -> Spool.Entry? {
        if bytes.first == UInt8(ascii: "{") { return (try? JSONDecoder().decode(Legacy.self, from: Data(bytes)))?.entry }
        guard bytes.count >= magic.count + 4, bytes.starts(with: magic) else { return nil }
        let body = bytes[..<(bytes.count - 4)]
        var check = ByteReader(bytes[body.endIndex...])
        guard let stored = try? check.readInteger(UInt32.self, "checksum"), stored == CRC32.of(body) else { return nil }
        var r = ByteReader(body[magic.count...])
        do {
            let epoch = try r.readInteger(UInt32.self, "epoch")
            let sequence = try r.readInteger(UInt64.self, "sequence")
            let kind = try r.readByte("kind")
            let flags = try r.readByte("flags")
            let dictionary = try r.readByte("dictionary")
            let saved = try r.readInteger(Int64.self, "saved at")
            let payload = Array(try r.readBytes(Int(try r.readInteger(UInt32.self, "payload length")), "payload"))
            var checkpoints: [String: FileCheckpoint] = [:]
            for _ in 0..<(try r.readInteger(UInt16.self, "checkpoints")) {
                let name = try readString(&r)
                let path = try readString(&r)
                let checkpoint = FileCheckpoint(
                    path: path, device: try r.readInteger(UInt64.self, "device"), inode: try r.readInteger(UInt64.self, "inode"),
                    offset: try r.readInteger(Int64.self, "offset"), fingerprint: try r.readInteger(UInt64.self, "fingerprint"),
                    fingerprintBytes: Int(try r.readInteger(UInt32.self, "fingerprint bytes")))
                guard checkpoint.isPlausible else { return nil }
                checkpoints[name] = checkpoint
            }
            var cursors: [String: String] = [:]
            for _ in 0..<(try r.readInteger(UInt16.self, "cursors")) {
                let name = try readString(&r)
                let value = try r.readBytes(Int(try r.readInteger(UInt32.self, "cursor length")), "cursor")
                guard let text = String(validating: value, as: UTF8.self) else { return nil }
                cursors[name] = text
            }
            guard r.isAtEnd else { return nil }
            return Spool.Entry(
                epoch: epoch, sequence: sequence, kind: kind, flags: flags, dictionary: dictionary, payload: payload,
                checkpoints: checkpoints, cursors: cursors, savedAtMicroseconds: saved)
        } catch {
            return nil
        }
    }

    private static func appendString(_ text: String, to out: inout [UInt8]) {
        let bytes = Array(text.utf8.prefix(Int(UInt16.max)))
        out.appendInteger(UInt16(bytes.count))
        out += bytes
    }

    private static func readString(_ r: inout ByteReader) throws -> String {
        let bytes = try r.readBytes(Int(try r.readInteger(UInt16.self, "length")), "text")
        guard let text = String(validating: bytes, as: UTF8.self) else { throw WireError.malformedPayload("text") }
        return text
    }

    /// The spool file of edges before the binary format.
    struct Legacy: Codable {
        var epoch: UInt32
        var sequence: UInt64
        var kind: UInt8
        var flags: UInt8
        var dictionary: UInt8
        var payload: Data
        var checkpoints: [String: FileCheckpoint]
        var cursors: [String: String]?
        var savedAtMicroseconds: Int64

        init(_ e: Spool.Entry) {
            (epoch, sequence, kind, flags, dictionary) = (e.epoch, e.sequence, e.kind, e.flags, e.dictionary)
            (payload, checkpoints, cursors, savedAtMicroseconds) = (Data(e.payload), e.checkpoints, e.cursors, e.savedAtMicroseconds)
        }

        var entry: Spool.Entry? {
            guard checkpoints.values.allSatisfy(\.isPlausible) else { return nil }
            return Spool.Entry(
                epoch: epoch, sequence: sequence, kind: kind, flags: flags, dictionary: dictionary, payload: Array(payload),
                checkpoints: checkpoints, cursors: cursors ?? [:], savedAtMicroseconds: savedAtMicroseconds)
        }
    }
}
