import Foundation

/// The loop of the two sources that hold a reader open for as long as the edge runs
/// (journalctl, a Windows event log subscription): run `attempt`; when it ends and the
/// source is not stopped, count a restart and wait a second, then run it again.
///
/// `condition` is the source's lock; `isStopped` and `restarted` are called with it held.
/// `stop()` (setting the flag and broadcasting) ends the wait at once; other wake-ups on
/// the same condition (a reader's) do not shorten it.
func runRestartingEverySecond(
    on condition: NSCondition, isStopped: () -> Bool, restarted: () -> Void, attempt: () -> Void
) {
    while true {
        attempt()
        condition.lock()
        guard !isStopped() else {
            condition.unlock()
            return
        }
        restarted()
        let deadline = Date().addingTimeInterval(1)
        while !isStopped(), condition.wait(until: deadline) {}
        let done = isStopped()
        condition.unlock()
        if done { return }
    }
}
