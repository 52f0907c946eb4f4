/// Why a chunk or record could not be read. Carries where, so a skipped record can be found
/// with a hex editor.
package struct EvtxError: Error, Sendable, CustomStringConvertible {
    enum Code: Sendable {
        case truncated
        case badToken(UInt8)
        case badValueType(UInt8)
        case tooDeep
        case tooMuchWork
        case badName
        case badSubstitutionCount
    }

    let code: Code
    /// Offset in the chunk.
    package let offset: Int

    init(_ code: Code, at offset: Int) {
        self.code = code
        self.offset = offset
    }

    package var description: String {
        switch code {
        case .truncated: "truncated at chunk offset \(offset)"
        case .badToken(let t): "unknown binary XML token 0x\(String(t, radix: 16)) at chunk offset \(offset)"
        case .badValueType(let t): "unknown value type 0x\(String(t, radix: 16)) at chunk offset \(offset)"
        case .tooDeep: "templates nested too deep at chunk offset \(offset)"
        case .tooMuchWork: "record takes too much work to expand (chunk offset \(offset))"
        case .badName: "bad element or attribute name at chunk offset \(offset)"
        case .badSubstitutionCount: "substitution array larger than its record at chunk offset \(offset)"
        }
    }
}

/// Little-endian reads from a chunk with every bound checked: `position` never passes `end`,
/// and `end` never passes the buffer. Offsets are chunk offsets, as the format's are.
struct EvtxCursor {
    let base: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ base: UnsafeRawBufferPointer, from position: Int, to end: Int) {
        self.base = base
        let end = min(max(end, 0), base.count)
        self.position = min(max(position, 0), end)
        self.end = end
    }

    var remaining: Int { end - position }

    @inline(__always)
    func need(_ n: Int) throws(EvtxError) {
        if n < 0 || n > end - position { throw EvtxError(.truncated, at: position) }
    }

    @inline(__always)
    mutating func u8() throws(EvtxError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return base[position]
    }

    @inline(__always)
    mutating func u16() throws(EvtxError) -> UInt16 {
        try need(2)
        defer { position += 2 }
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    @inline(__always)
    mutating func u32() throws(EvtxError) -> UInt32 {
        try need(4)
        defer { position += 4 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inline(__always)
    mutating func skip(_ n: Int) throws(EvtxError) {
        try need(n)
        position += n
    }
}

extension UnsafeRawBufferPointer {
    /// The little-endian integer at `offset`; the caller has checked the bounds.
    @inline(__always)
    func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
