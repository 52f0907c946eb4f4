import Synchronization

/// Wakes one waiting task: rung from any thread, waited on with a timeout. Rings while
/// nobody waits are remembered (once). The edge's sender waits on one for spooled frames, the
/// relay's delivery on one per robot for queued alerts.
package final class Doorbell: Sendable {
    private let state = Mutex<(rung: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    package init() {}

    package func ring() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when rung, after `timeout`, or when the task is cancelled.
    package func wait(timeout: Duration) async {
        await withTaskCancellationHandler {
            await waitOrTimeout(timeout)
        } onCancel: {
            ring()
        }
    }

    private func waitOrTimeout(_ timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = self.state.withLock { s -> Bool in
                        if s.rung {
                            s.rung = false
                            return true
                        }
                        s.waiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            }
            group.addTask {
                // Only a timeout that really passed rings: a cancelled sleep must not leave a
                // ring behind, or every later wait would return at once (a busy loop).
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self.ring()
            }
            await group.next()
            group.cancelAll()
        }
    }
}
