// libFuzzer entry point for the decoders of untrusted input and the state machines behind them.
//
// Built by fuzz/run.sh with `-sanitize=fuzzer,address -parse-as-library -DFUZZING`, where
// libFuzzer supplies main. In an ordinary build this file is a replay driver instead:
// `fuzz-wire TARGET FILE...` runs saved inputs (a crash artifact, a corpus) through TARGET.
//
// Targets (FUZZ_TARGET in the environment when fuzzing):
//   packet   raw bytes as a packet: parse, verify, reassemble, open
//   signed   bytes signed with the test key first, so fuzzing reaches past the MAC
//   payload  bytes as a frame payload: inflate within limits, decode events
//   syslog   bytes as a syslog message, lenient and strict RFC 5424
//   framing  bytes as a TCP stream, fed in small pieces to the octet/LF decoders
//   detect   bytes as a log line through the built-in rules (Detector.detectOne), and as a
//            message of each program the rules name; run with a per-input time limit, so
//            a line that makes matching slow is reported like a crash
//   correlate, registry, usage: the relay's state machines with extreme values
//            (RelayTargets.swift)
//   evtx     bytes as an EVTX chunk (padded to 64 KiB): records, templates, binary XML
//   eventxml bytes as event XML text
//   forwarded bytes as a syslog line that may carry a forwarded Windows event (NXLog or
//            Winlogbeat JSON, Snare), through the detector as the relay runs it
import Crypto
import Detection
import Foundation
import NIOCore
import WindowsEvents
import Wire

let fuzzPasskey = try! Passkey("fuzzing passkey, not a secret")
let fuzzEdge = EdgeID(rawValue: "fuzz")!
let fuzzKey = fuzzPasskey.edgeKey(for: fuzzEdge)
nonisolated(unsafe) let receiver = try! FrameReceiver(
    configuration: .init(freshness: Freshness(maxAge: .seconds(1 << 40), maxFuture: .seconds(1 << 40)))
) { fuzzPasskey.edgeKey(for: $0) }
nonisolated(unsafe) let opener = try! FrameOpener()
let parser = SyslogParser(maxMessageBytes: 1 << 20)
let detector = { var d = Detector(); d.readsForwardedWindowsEvents = true; return d }()
let detectPrograms = Array(Set(RuleSet.builtin.rules.flatMap(\.programs).filter { $0 != "*" })).sorted() + ["cron"]

func runTarget(_ target: String, _ bytes: [UInt8]) {
    switch target {
    case "packet":
        _ = receiver.receive(packet: bytes[...], nowMilliseconds: 0, now: .now)
    case "signed":
        let tag = FuzzSigning.tag(for: bytes)
        _ = receiver.receive(packet: (bytes + tag)[...], nowMilliseconds: 0, now: .now)
    case "payload":
        guard let first = bytes.first else { return }
        let flags = FrameFlags(rawValue: first & 0x01)
        let frame = Frame(
            kind: first & 0x80 == 0 ? .events : .heartbeat, flags: flags, dictionaryID: flags.isEmpty ? 0 : (first >> 1) & 1,
            edgeID: fuzzEdge, epoch: 1, sequence: 1, sendTimeMilliseconds: 0, payload: Array(bytes.dropFirst()))
        _ = try? opener.open(frame, key: fuzzKey)
    case "evtx":
        EvtxFile.readChunk(bytes) { _ = $0.appendJSON }
    case "eventxml":
        bytes.withUnsafeBufferPointer { _ = EventXMLReader().events(in: $0) }
    case "forwarded":
        bytes.withUnsafeBufferPointer { buffer in
            _ = ForwardedEvent.parse(buffer)
            _ = detector.detectOne(buffer: buffer, parser: parser, defaultHost: "192.0.2.1")
        }
    case "syslog":
        if let m = try? parser.parse(bytes) {
            _ = SyslogFormatter.rfc5424(m)
            _ = SyslogFormatter.rfc3164(m)
            _ = receiver.receive(message: m, nowMilliseconds: 0, now: .now)
        }
        _ = try? parser.parseRFC5424(bytes)
    case "framing":
        let processor = NIOSingleStepByteToMessageProcessor(SyslogStreamDecoder(maxMessageBytes: 512), maximumBufferSize: nil)
        var i = 0
        let step = Int(bytes.first ?? 7) % 13 + 1
        do {
            while i < bytes.count {
                try processor.process(buffer: ByteBuffer(bytes: bytes[i..<min(bytes.count, i + step)])) { _ in }
                i += step
            }
            try processor.finishProcessing(seenEOF: true) { _ in }
        } catch {}
    case "detect":
        bytes.withUnsafeBufferPointer { buffer in
            _ = detector.detectOne(buffer: buffer, parser: parser)
        }
        // The message alone, for the program its first byte picks (`*` rules apply to all).
        guard let first = bytes.first else { return }
        let program = detectPrograms[Int(first) % detectPrograms.count]
        let message = String(decoding: bytes.dropFirst(), as: UTF8.self)
        _ = detector.detect(program: program, pid: 1, host: "h", timeMicroseconds: 0, message: message, raw: message)
    case "correlate":
        fuzzCorrelate(bytes)
    case "registry":
        fuzzRegistry(bytes)
    case "usage":
        fuzzUsage(bytes)
    default:
        fatalError("unknown fuzz target \(target)")
    }
}

enum FuzzSigning {
    /// The tag a packet made of `bytes` needs: HMAC-SHA256 with the fuzz edge's MAC key,
    /// derived as docs/wire-protocol.md specifies, truncated to 16 bytes.
    static let macKey = HKDF<SHA256>.deriveKey(
        inputKeyMaterial: SymmetricKey(data: [UInt8](hexString: fuzzKey.hexEncoded)), info: Array("mac".utf8), outputByteCount: 32)

    static func tag(for bytes: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: macKey).prefix(16))
    }
}

extension Array where Element == UInt8 {
    init(hexString: String) {
        var out: [UInt8] = []
        var it = hexString.utf8.makeIterator()
        while let h = it.next(), let l = it.next() {
            out.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!)
        }
        self = out
    }
}

#if FUZZING
let selectedTarget = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "packet"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    runTarget(selectedTarget, size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback
) -> CInt

// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer.
@_cdecl("fuzz_wire_main")
public func fuzzWireMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
@main
enum ReplayDriver {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let target = arguments.first else {
            print("usage: fuzz-wire packet|signed|payload|syslog|framing|detect|correlate|registry|usage FILE...")
            exit(2)
        }
        for path in arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            runTarget(target, bytes)
            print("\(path): ok")
        }
    }
}
#endif
