#if os(Linux)
import Glibc
import Synchronization

/// A program run with its standard output on a pipe to us and its standard error discarded,
/// started with no signal blocked and the usual dispositions for the signals that end it.
///
/// Foundation's `Process` hands the child the signal mask of the thread that starts it; in
/// a program whose signals are taken by Dispatch sources (ServiceLifecycle's SIGTERM), that
/// mask blocks SIGTERM, and the child can then not be stopped but by SIGKILL: `terminate()`
/// did nothing, and a stopped edge left its `journalctl --follow` running (systemd waited
/// its stop timeout for it). Linux only: the journal is.
package final class ChildProcess: Sendable {
    package let pid: pid_t
    /// The read end of the child's standard output (closed when this is freed).
    package let output: Int32
    private let exited = Mutex(false)

    /// Starts `path` with `arguments` (not counting the program's name); nil when it cannot.
    package init?(path: String, arguments: [String]) {
        var fds: [Int32] = [-1, -1]
        // Neither end goes to other programs (the child gets the write end as its output).
        guard Self.closeOnExecPipe(&fds) else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else of ours goes to the child: a descriptor opened without O_CLOEXEC (a
        // Foundation Pipe's, another program's output) would stay open as long as it runs,
        // and whoever waits for that pipe's end would wait as long.
        Self.closeFrom3(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, &attributes, argv, environ)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            return nil
        }
        pid = child
        output = fds[0]
    }

    deinit { close(output) }

    /// Adds "close every descriptor from 3 on" to `actions`: glibc's
    /// posix_spawn_file_actions_addclosefrom_np (2.34 on), else a close for each descriptor
    /// open now (from /proc/self/fd).
    /// A pipe whose ends close on exec from the moment they exist: `pipe2(O_CLOEXEC)` (glibc
    /// since 2.9, found at run time: Swift's Glibc module does not declare it). With `pipe`
    /// then `fcntl`, a program another thread started in between would get both ends.
    static func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        if let symbol = dlsym(nil, "pipe2") {
            let pipe2 = unsafeBitCast(symbol, to: Pipe2.self)
            return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0
        }
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    private static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd > 2, fd != own { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// Asks the child to end (SIGTERM), unless it already has.
    package func terminate() {
        exited.withLock { done in
            if !done { _ = kill(pid, SIGTERM) }
        }
    }

    /// Waits until the child has ended, and reaps it. It is marked ended before it is
    /// reaped, under the lock `terminate()` takes: a signal never goes to another process
    /// that was given the same pid.
    package func waitUntilExit() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        exited.withLock { done in
            done = true
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    package var isRunning: Bool { exited.withLock { !$0 } }
}

#endif
