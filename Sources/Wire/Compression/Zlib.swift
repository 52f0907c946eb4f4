import CZlib

/// Raw deflate (RFC 1951, no zlib header) with an optional preset dictionary.
///
/// Owns one `z_stream` at a stable address for its whole life; `deinit` ends it. Not
/// thread-safe: give each task or event loop its own.
final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let level: Int32
    private var open = false

    init(level: Int32 = 6) throws {
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_deflateInit2(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
        guard rc == Z_OK else {
            stream.deallocate()
            throw WireError.compression("deflateInit2 failed (\(rc))")
        }
        open = true
    }

    deinit {
        close()
        stream.deallocate()
    }

    /// Ends the stream. Safe to call more than once.
    func close() {
        guard open else { return }
        deflateEnd(stream)
        open = false
    }

    func compress(_ input: [UInt8], dictionary: [UInt8]?) throws -> [UInt8] {
        guard open else { throw WireError.compression("deflater is closed") }
        guard deflateReset(stream) == Z_OK else { throw WireError.compression("deflateReset failed") }
        if let dictionary, !dictionary.isEmpty {
            let rc = dictionary.withUnsafeBufferPointer {
                deflateSetDictionary(stream, $0.baseAddress, UInt32($0.count))
            }
            guard rc == Z_OK else { throw WireError.compression("deflateSetDictionary failed (\(rc))") }
        }
        let bound = Int(deflateBound(stream, UInt(input.count))) + 16
        var output = [UInt8](repeating: 0, count: bound)
        let rc: Int32 = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.pointee.avail_in = UInt32(inBuf.count)
                stream.pointee.next_out = outBuf.baseAddress
                stream.pointee.avail_out = UInt32(outBuf.count)
                defer {
                    stream.pointee.next_in = nil
                    stream.pointee.next_out = nil
                }
                return deflate(stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw WireError.compression("deflate did not finish (\(rc))") }
        output.removeLast(Int(stream.pointee.avail_out))
        return output
    }
}

/// How far a decompression may go. Inflation stops, and the frame is refused, the moment
/// the output passes either bound, so a bomb costs at most `maxBytes` of work.
public struct DecompressionLimit: Sendable, Hashable {
    /// Largest decompressed payload, in bytes.
    public var maxBytes: Int
    /// Largest ratio of decompressed to compressed size. Inputs smaller than
    /// `ratioFloorBytes` may always expand to `ratioFloorBytes`.
    public var maxRatio: Int
    public var ratioFloorBytes: Int

    public init(maxBytes: Int = 1 << 20, maxRatio: Int = 100, ratioFloorBytes: Int = 16_384) {
        self.maxBytes = maxBytes
        self.maxRatio = maxRatio
        self.ratioFloorBytes = ratioFloorBytes
    }

    public static let `default` = DecompressionLimit()

    func allowance(forCompressed count: Int) -> Int {
        let (product, overflow) = count.multipliedReportingOverflow(by: maxRatio)
        let byRatio = overflow ? Int.max : max(product, ratioFloorBytes)
        return min(maxBytes, byRatio)
    }
}

final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var open = false

    init() throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_inflateInit2(stream, -15)
        guard rc == Z_OK else {
            stream.deallocate()
            throw WireError.compression("inflateInit2 failed (\(rc))")
        }
        open = true
    }

    deinit {
        close()
        stream.deallocate()
    }

    func close() {
        guard open else { return }
        inflateEnd(stream)
        open = false
    }

    /// Inflates all of `input`, which must hold exactly one complete raw deflate stream.
    func decompress(_ input: ArraySlice<UInt8>, dictionary: [UInt8]?, limit: DecompressionLimit) throws -> [UInt8] {
        guard open else { throw WireError.compression("inflater is closed") }
        guard inflateReset(stream) == Z_OK else { throw WireError.compression("inflateReset failed") }
        if let dictionary, !dictionary.isEmpty {
            let rc = dictionary.withUnsafeBufferPointer {
                inflateSetDictionary(stream, $0.baseAddress, UInt32($0.count))
            }
            guard rc == Z_OK else { throw WireError.compression("inflateSetDictionary failed (\(rc))") }
        }
        let allowance = limit.allowance(forCompressed: input.count)
        // Grow the output as it fills, never beyond allowance + 1 byte (the byte that proves
        // the stream is too large).
        var output = [UInt8](repeating: 0, count: min(allowance + 1, max(4096, input.count * 4)))
        var produced = 0
        var finished = false
        try input.withUnsafeBufferPointer { inBuf in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.pointee.avail_in = UInt32(inBuf.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
            }
            while !finished {
                if produced == output.count {
                    guard output.count <= allowance else {
                        throw WireError.decompressionLimit("more than \(allowance) bytes from \(input.count) compressed")
                    }
                    output.append(contentsOf: repeatElement(0, count: min(allowance + 1, output.count * 2) - output.count))
                }
                let rc: Int32 = output.withUnsafeMutableBufferPointer { outBuf in
                    stream.pointee.next_out = outBuf.baseAddress! + produced
                    stream.pointee.avail_out = UInt32(outBuf.count - produced)
                    let rc = inflate(stream, Z_NO_FLUSH)
                    produced = outBuf.count - Int(stream.pointee.avail_out)
                    return rc
                }
                switch rc {
                case Z_STREAM_END:
                    finished = true
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0:
                    throw WireError.compression("deflate stream is truncated")
                case Z_BUF_ERROR:
                    continue
                case Z_NEED_DICT:
                    throw WireError.compression("stream needs a dictionary")
                default:
                    throw WireError.compression("corrupt deflate stream (\(rc))")
                }
            }
            guard stream.pointee.avail_in == 0 else {
                throw WireError.compression("\(stream.pointee.avail_in) bytes after the end of the deflate stream")
            }
        }
        guard produced <= allowance else {
            throw WireError.decompressionLimit("more than \(allowance) bytes from \(input.count) compressed")
        }
        output.removeLast(output.count - produced)
        return output
    }
}

/// zlib's CRC-32 (the one gzip, PNG and EVTX use).
package enum CRC32 {
    /// The CRC of `bytes`, continuing from `seed` (the CRC of what came before; 0 to start).
    package static func of(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return seed }
        var crc = uLong(seed)
        var offset = 0
        // zlib takes at most 4 GiB a call.
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base.assumingMemoryBound(to: Bytef.self) + offset, uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    package static func of(_ bytes: some Collection<UInt8>) -> UInt32 {
        bytes.withContiguousStorageIfAvailable { of(UnsafeRawBufferPointer($0)) } ?? Array(bytes).withUnsafeBytes { of($0) }
    }
}
