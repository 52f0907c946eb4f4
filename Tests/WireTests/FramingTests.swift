import NIOCore
import Testing

@testable import Wire

@Suite("RFC 6587 framing")
struct FramingTests {
    /// Feeds `input` in pieces of `step` bytes (1 = drip-feed), then EOF.
    static func run<D: NIOSingleStepByteToMessageDecoder>(
        _ decoder: D, _ input: [UInt8], step: Int
    ) throws -> [SyslogFrame] where D.InboundOut == SyslogFrame {
        let processor = NIOSingleStepByteToMessageProcessor(decoder, maximumBufferSize: nil)
        var out: [SyslogFrame] = []
        var i = 0
        while i < input.count {
            let piece = ByteBuffer(bytes: input[i..<min(input.count, i + step)])
            try processor.process(buffer: piece) { out.append($0) }
            i += step
        }
        try processor.finishProcessing(seenEOF: true) { out.append($0) }
        return out
    }

    static func texts(_ frames: [SyslogFrame]) -> [String] {
        frames.map {
            switch $0 {
            case .message(let b): String(buffer: b)
            case .oversized(let n): "<oversized \(n)>"
            }
        }
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func octetCountingDripFed(step: Int) throws {
        let input = Array("5 hello11 hello world1 x".utf8)
        let frames = try Self.run(OctetCountingDecoder(), input, step: step)
        #expect(Self.texts(frames) == ["hello", "hello world", "x"])
    }

    /// The encoder writes what RFC 6587 shows and the decoder reads back, whatever the
    /// message holds (spaces, digits, non-ASCII); an empty one has no framing.
    @Test(arguments: [1, 3, 1000])
    func octetCountingEncoderRoundTrips(step: Int) throws {
        #expect(OctetCountingEncoder.stream(["hello", "hello world", "x"]) == Array("5 hello11 hello world1 x".utf8))
        let messages = ["<34>1 2003-10-11T22:14:15.003Z host su - ID47 - 'su root' failed", "12 34", "é中", String(repeating: "9", count: 1000)]
        let frames = try Self.run(OctetCountingDecoder(), OctetCountingEncoder.stream(messages), step: step)
        #expect(Self.texts(frames) == messages)
        var buffer = ByteBuffer()
        OctetCountingEncoder.encode([UInt8](), into: &buffer)
        #expect(buffer.readableBytes == 0, "MSG-LEN cannot be 0")
    }

    @Test(arguments: [1, 5, 1000])
    func octetCountingSkipsOversizedAndStaysInStep(step: Int) throws {
        let big = String(repeating: "z", count: 50)
        let input = Array("3 abc50 \(big)2 ok".utf8)
        let frames = try Self.run(OctetCountingDecoder(maxMessageBytes: 10), input, step: step)
        #expect(Self.texts(frames) == ["abc", "<oversized 50>", "ok"])
    }

    @Test(arguments: ["x5 hello", "05 hello", " 5 hello", "1234567890 x", "5hello"])
    func octetCountingRefusesMalformedLength(_ text: String) {
        #expect(throws: WireError.self) { try Self.run(OctetCountingDecoder(), Array(text.utf8), step: 1) }
    }

    @Test func octetCountingRefusesTruncatedAtEOF() {
        #expect(throws: WireError.truncated) { try Self.run(OctetCountingDecoder(), Array("10 abc".utf8), step: 1) }
    }

    @Test func octetCountingHugeDeclaredLengthHoldsNothing() throws {
        // 999,999,999 declared: skipped as bytes arrive, never buffered.
        let decoder = OctetCountingDecoder(maxMessageBytes: 1000)
        let processor = NIOSingleStepByteToMessageProcessor(decoder, maximumBufferSize: nil)
        var out: [SyslogFrame] = []
        try processor.process(buffer: ByteBuffer(string: "999999999 ")) { out.append($0) }
        for _ in 0..<100 {
            try processor.process(buffer: ByteBuffer(repeating: 0x41, count: 10_000)) { out.append($0) }
        }
        #expect(out == [.oversized(bytes: 999_999_999)])
        #expect(processor.unprocessedBytes == 0)
    }

    @Test(arguments: [1, 4, 1000])
    func lineFramingDripFed(step: Int) throws {
        let input = Array("<13>one\r\n\n<13>two\n<13>three".utf8)
        let frames = try Self.run(LineFramingDecoder(), input, step: step)
        #expect(Self.texts(frames) == ["<13>one", "<13>two", "<13>three"])
    }

    @Test(arguments: [1, 3, 1000])
    func lineFramingDiscardsOversizedLine(step: Int) throws {
        let input = Array("short\n\(String(repeating: "y", count: 40))\nnext\n".utf8)
        let frames = try Self.run(LineFramingDecoder(maxMessageBytes: 10), input, step: step)
        #expect(Self.texts(frames) == ["short", "<oversized 40>", "next"])
    }

    @Test func lineFramingBoundedWithoutNewline() throws {
        let decoder = LineFramingDecoder(maxMessageBytes: 1000)
        let processor = NIOSingleStepByteToMessageProcessor(decoder, maximumBufferSize: nil)
        var out: [SyslogFrame] = []
        for _ in 0..<100 {
            try processor.process(buffer: ByteBuffer(repeating: 0x41, count: 10_000)) { out.append($0) }
            #expect(processor.unprocessedBytes <= 10_000)
        }
        try processor.process(buffer: ByteBuffer(string: "\nok\n")) { out.append($0) }
        #expect(out == [.oversized(bytes: 1_000_000), .message(ByteBuffer(string: "ok"))])
    }

    @Test func streamDecoderChoosesPerConnection() throws {
        let octets = try Self.run(SyslogStreamDecoder(), Array("4 <1>a4 <1>b".utf8), step: 1)
        #expect(Self.texts(octets) == ["<1>a", "<1>b"])
        let lines = try Self.run(SyslogStreamDecoder(), Array("<1>a\n<1>b\n".utf8), step: 1)
        #expect(Self.texts(lines) == ["<1>a", "<1>b"])
    }
}
