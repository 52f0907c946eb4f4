import Foundation

#if os(Linux)
import Glibc

/// Sleeps until a watched directory changes (a file in it written, created, renamed,
/// deleted), a wake-up is requested, or the timeout passes. inotify where the kernel has
/// it: no CPU spent while nothing happens. Elsewhere it falls back to sleeping for the
/// timeout (a slow poll).
package final class FileWatcher: @unchecked Sendable {
    private let inotify: Int32
    private var pipe: (read: Int32, write: Int32) = (-1, -1)
    package let usesInotify: Bool

    package init(directories: [String]) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        inotify = fd
        var watched = 0
        if fd >= 0 {
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB)
            for dir in Set(directories) where inotify_add_watch(fd, dir, mask) >= 0 { watched += 1 }
        }
        usesInotify = fd >= 0 && watched > 0
        var fds: [Int32] = [0, 0]
        if Glibc.pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            pipe = (fds[0], fds[1])
        }
    }

    deinit {
        if inotify >= 0 { close(inotify) }
        if pipe.read >= 0 { close(pipe.read) }
        if pipe.write >= 0 { close(pipe.write) }
    }

    /// Ends a `wait` early, from any thread.
    package func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(pipe.write, &byte, 1)
    }

    /// Returns when something may have changed, or after `timeout`.
    package func wait(timeout: Duration) {
        let ms = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var fds = [pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
        if usesInotify { fds.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&fds, nfds_t(fds.count), max(0, ms))
        drain(pipe.read)
        if usesInotify { drain(inotify) }
    }

    private func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
#else
/// Sleeps until a wake-up is requested or the timeout passes: a slow poll of the files, for
/// platforms without inotify (Windows, where event log channels wake the reader themselves).
package final class FileWatcher: @unchecked Sendable {
    private let condition = NSCondition()
    private var woken = false
    package let usesInotify = false

    package init(directories: [String]) {}

    /// Ends a `wait` early, from any thread.
    package func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    /// Returns when woken, or after `timeout`.
    package func wait(timeout: Duration) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = Date().addingTimeInterval(max(0, seconds))
        condition.lock()
        while !woken, condition.wait(until: deadline) {}
        woken = false
        condition.unlock()
    }
}
#endif
