/// A bounds-checked big-endian cursor over untrusted bytes. Every read fails with
/// `WireError.truncated` rather than trapping.
package struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    package private(set) var index: Int

    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    package init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    package var remaining: Int { bytes.endIndex - index }
    package var isAtEnd: Bool { index == bytes.endIndex }

    package mutating func readByte(_ what: @autoclosure () -> String) throws(WireError) -> UInt8 {
        guard index < bytes.endIndex else { throw .truncated(what()) }
        defer { index += 1 }
        return bytes[index]
    }

    package mutating func readInteger<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(what()) }
        var value: T = 0
        for i in 0..<size {
            value = (value << 8) | T(truncatingIfNeeded: bytes[index + i])
        }
        index += size
        return value
    }

    package mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw .truncated(what()) }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    /// Unsigned LEB128 varint of at most 10 bytes.
    package mutating func readVarint(_ what: @autoclosure () -> String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.endIndex else { throw .truncated(what()) }
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw .malformedPayload("varint overflow in \(what())") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .malformedPayload("varint too long in \(what())") }
        }
    }
}

extension Array where Element == UInt8 {
    package mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        for i in stride(from: size - 1, through: 0, by: -1) {
            append(UInt8(truncatingIfNeeded: value >> (i * 8)))
        }
    }

    package mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }
}

enum ZigZag {
    static func encode(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func decode(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }
}
