#if !os(Windows)
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's calls at file scope, where `open`, `close` and `rename` are not a
// type's members of the same name.

func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    while true {
        let fd = open(path, flags, mode)
        if fd < 0 && errno == EINTR { continue }
        return fd
    }
}

func posixClose(_ fd: Int32) {
    _ = close(fd)
}

func posixRename(_ from: String, _ to: String) -> Int32 {
    rename(from, to)
}
#endif
