#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif os(Windows)
import WinSDK
import ucrt
#endif

/// Facts about the machine and the process that differ between Linux and Windows.
package enum ThisMachine {
    /// The machine's name as it calls itself (`gethostname`; Windows: the DNS host name),
    /// never from a name server; "localhost" when it has none.
    package static var name: String {
        #if os(Windows)
        var size: DWORD = 256
        var buffer = [WCHAR](repeating: 0, count: Int(size))
        guard GetComputerNameExW(ComputerNameDnsHostname, &buffer, &size) else { return "localhost" }
        let name = String(decoding: buffer[0..<Int(min(size, 256))], as: UTF16.self)
        #else
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        #endif
        return name.isEmpty ? "localhost" : name
    }

    package enum OutputResult {
        case written
        /// The reader went away (`| head`): stop quietly.
        case closed
        case failed
    }

    /// Writes all of `bytes` to standard output, straight to the descriptor.
    package static func writeStandardOutput(_ bytes: UnsafeRawBufferPointer) -> OutputResult {
        #if os(Windows)
        // Bytes as they are: no LF turned into CR LF.
        _ = _setmode(1, _O_BINARY)
        #endif
        var done = 0
        while done < bytes.count {
            #if os(Windows)
            let n = Int(_write(1, bytes.baseAddress! + done, UInt32(min(bytes.count - done, 1 << 30))))
            if n <= 0 { return errno == EPIPE || errno == EINVAL ? .closed : .failed }
            #else
            let n = write(1, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return errno == EPIPE ? .closed : .failed }
            #endif
            done += n
        }
        return .written
    }
}
