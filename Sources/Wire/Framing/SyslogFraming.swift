public import NIOCore

/// What a syslog stream decoder yields: a message's bytes, or the news that one was too
/// large and has been skipped (the stream stays in step; the caller counts it).
public enum SyslogFrame: Hashable, Sendable {
    case message(ByteBuffer)
    case oversized(bytes: Int)
}

/// RFC 6587 section 3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`.
///
/// Takes bytes as they come (any split, one at a time). A message longer than
/// `maxMessageBytes` is skipped as its bytes arrive, without being held, and reported as
/// `.oversized`. A malformed length (not digits, leading zero, more than 9 digits) cannot be
/// resynchronised and throws: the connection should close.
public struct OctetCountingDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SyslogFrame

    public let maxMessageBytes: Int
    private var skipping = 0

    public init(maxMessageBytes: Int = 65_536) {
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> SyslogFrame? {
        if skipping > 0 {
            let n = min(skipping, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: n)
            skipping -= n
            if skipping > 0 { return nil }
        }
        guard buffer.readableBytes > 0 else { return nil }
        var length = 0
        var digits = 0
        var offset = 0
        while true {
            guard let b = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt8.self) else { return nil }
            offset += 1
            if b == 0x20 {
                guard digits > 0 else { throw WireError.syntax("octet count missing before SP") }
                break
            }
            guard b >= 0x30, b <= 0x39 else { throw WireError.syntax("octet count contains byte \(b)") }
            guard !(digits == 0 && b == 0x30) else { throw WireError.syntax("octet count starts with 0") }
            digits += 1
            guard digits <= 9 else { throw WireError.syntax("octet count longer than 9 digits") }
            length = length * 10 + Int(b - 0x30)
        }
        if length > maxMessageBytes {
            buffer.moveReaderIndex(forwardBy: offset)
            let n = min(length, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: n)
            skipping = length - n
            return .oversized(bytes: length)
        }
        guard buffer.readableBytes >= offset + length else { return nil }
        buffer.moveReaderIndex(forwardBy: offset)
        return .message(buffer.readSlice(length: length)!)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SyslogFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if seenEOF, buffer.readableBytes > 0 {
            let left = buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: left)
            throw WireError.truncated("\(left) bytes of an incomplete octet-counted message at end of stream")
        }
        return nil
    }
}

/// RFC 6587 section 3.4.1 octet counting, the writing side of `OctetCountingDecoder`:
/// `MSG-LEN SP SYSLOG-MSG`, the length in bytes, in decimal without leading zeros.
public enum OctetCountingEncoder {
    /// Appends `message`, framed, to `buffer`. An empty message has no framing (MSG-LEN starts
    /// with a non-zero digit) and writes nothing.
    public static func encode(_ message: some Collection<UInt8>, into buffer: inout ByteBuffer) {
        guard !message.isEmpty else { return }
        buffer.writeString(String(message.count))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeBytes(message)
    }

    public static func encode(_ message: String, into buffer: inout ByteBuffer) {
        encode(message.utf8, into: &buffer)
    }

    /// `messages` framed one after the other, as one stream.
    public static func stream(_ messages: [some Collection<UInt8>]) -> [UInt8] {
        var buffer = ByteBuffer()
        for m in messages { encode(m, into: &buffer) }
        return Array(buffer.readableBytesView)
    }

    public static func stream(_ messages: [String]) -> [UInt8] {
        stream(messages.map(\.utf8))
    }
}

/// RFC 6587 section 3.4.2 non-transparent framing with LF as the trailer. A CR before the
/// LF is dropped; empty lines are skipped. A line longer than `maxMessageBytes` is
/// discarded up to its LF and reported once as `.oversized`. Text left at end of stream
/// without an LF is yielded as a last message.
public struct LineFramingDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SyslogFrame

    public let maxMessageBytes: Int
    private var discarding = false
    private var discarded = 0
    private var scanned = 0

    public init(maxMessageBytes: Int = 65_536) {
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> SyslogFrame? {
        while true {
            let view = buffer.readableBytesView
            guard let lf = view[(view.startIndex + scanned)...].firstIndex(of: 0x0A) else {
                scanned = view.count
                if discarding {
                    discarded += view.count
                    buffer.moveReaderIndex(forwardBy: view.count)
                    scanned = 0
                    return nil
                }
                if view.count > maxMessageBytes {
                    discarding = true
                    discarded = view.count
                    buffer.moveReaderIndex(forwardBy: view.count)
                    scanned = 0
                }
                return nil
            }
            let lineLength = lf - view.startIndex
            scanned = 0
            if discarding {
                discarded += lineLength + 1
                buffer.moveReaderIndex(forwardBy: lineLength + 1)
                discarding = false
                let total = discarded - 1
                discarded = 0
                return .oversized(bytes: total)
            }
            var line = buffer.readSlice(length: lineLength)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == 0x0D { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            if line.readableBytes == 0 { continue }
            if line.readableBytes > maxMessageBytes { return .oversized(bytes: line.readableBytes) }
            return .message(line)
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SyslogFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        guard seenEOF, buffer.readableBytes > 0 || discarding else { return nil }
        let rest = buffer.readSlice(length: buffer.readableBytes)!
        scanned = 0
        if discarding {
            discarding = false
            defer { discarded = 0 }
            return .oversized(bytes: discarded + rest.readableBytes)
        }
        return rest.readableBytes > maxMessageBytes ? .oversized(bytes: rest.readableBytes) : .message(rest)
    }
}

/// Octet counting or LF framing, chosen once per connection by its first byte: a digit
/// means octet counting (RFC 6587 3.4.1), anything else LF framing.
public struct SyslogStreamDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = SyslogFrame

    public enum Framing: Hashable, Sendable {
        case octetCounting
        case lineFeed
    }

    private enum State {
        case undecided
        case octetCounting(OctetCountingDecoder)
        case lineFeed(LineFramingDecoder)
    }

    public let maxMessageBytes: Int
    private var state = State.undecided

    public init(maxMessageBytes: Int = 65_536) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// The framing this connection uses, once its first byte has arrived.
    public var framing: Framing? {
        switch state {
        case .undecided: nil
        case .octetCounting: .octetCounting
        case .lineFeed: .lineFeed
        }
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> SyslogFrame? {
        switch state {
        case .undecided:
            guard decide(buffer) else { return nil }
            return try decode(buffer: &buffer)
        case .octetCounting(var d):
            defer { state = .octetCounting(d) }
            return try d.decode(buffer: &buffer)
        case .lineFeed(var d):
            defer { state = .lineFeed(d) }
            return try d.decode(buffer: &buffer)
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SyslogFrame? {
        switch state {
        case .undecided:
            guard decide(buffer) else { return nil }
            return try decodeLast(buffer: &buffer, seenEOF: seenEOF)
        case .octetCounting(var d):
            defer { state = .octetCounting(d) }
            return try d.decodeLast(buffer: &buffer, seenEOF: seenEOF)
        case .lineFeed(var d):
            defer { state = .lineFeed(d) }
            return try d.decodeLast(buffer: &buffer, seenEOF: seenEOF)
        }
    }

    private mutating func decide(_ buffer: ByteBuffer) -> Bool {
        guard let first = buffer.readableBytesView.first else { return false }
        if first >= 0x31 && first <= 0x39 {
            state = .octetCounting(OctetCountingDecoder(maxMessageBytes: maxMessageBytes))
        } else {
            state = .lineFeed(LineFramingDecoder(maxMessageBytes: maxMessageBytes))
        }
        return true
    }
}
