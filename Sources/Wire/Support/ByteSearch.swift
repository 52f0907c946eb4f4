import Foundation

/// Where bytes occur in bytes: `memchr` for the first byte, then `memcmp`. Linear in the
/// haystack for a fixed needle. One place for the relay's intake, the detector and the
/// forwarded-event parsers.
package enum ByteSearch {
    package static func firstIndex(of needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = buffer.baseAddress, buffer.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        let last = buffer.count - needle.count
        while i <= last {
            guard let p = memchr(base + i, Int32(first), last - i + 1) else { return nil }
            let at = UnsafePointer<UInt8>(p.assumingMemoryBound(to: UInt8.self)) - base
            if memcmp(base + at, needle, needle.count) == 0 { return at }
            i = at + 1
        }
        return nil
    }

    package static func contains(_ buffer: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        firstIndex(of: needle, in: buffer) != nil
    }
}
