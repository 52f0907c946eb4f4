import Dispatch

extension DispatchQueue {
    /// Runs `work` on this queue and returns its result to the awaiting task: work that waits
    /// for SQLite or the disk runs on a thread of its own, never on one of the few threads
    /// every task shares (blocking those would stall every task of the program).
    package func result<T: Sendable>(of work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            self.async { done.resume(returning: work()) }
        }
    }
}
