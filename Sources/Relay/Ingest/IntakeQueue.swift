import Synchronization

/// The queue between intake (the event loops) and the pipeline: bounded in items and in
/// bytes, taken by the pipeline a whole batch at a time (one lock and at most one wake-up per
/// batch, where a stream cost both per item: under a flood of 80,000 events a second the
/// per-item hand-over was what the pipeline could not keep up with).
package final class IntakeQueue: Sendable {
    package let maxItems: Int
    package let maxBytes: Int

    private struct State {
        var items: [IntakeItem] = []
        var bytes = 0
        /// The batch the pipeline took last and is still working on: it counts against the
        /// bounds until the pipeline asks for the next one (the memory is still held).
        var takenItems = 0
        var takenBytes = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var cancelled = false
    }

    private let state = Mutex(State())

    package init(maxItems: Int, maxBytes: Int) {
        self.maxItems = maxItems
        self.maxBytes = maxBytes
    }

    package enum Refusal: Sendable { case items, bytes, finished }

    /// Adds `item` (holding about `bytes`); the reason when there is no room. Plain syslog
    /// (anyone can send it, from spoofed addresses past any per-sender limit) may fill only
    /// three quarters of the queue: the last quarter is kept for edge frames and the relay's
    /// own events, so a flood of plain syslog cannot make the relay drop an authenticated one.
    package func push(_ item: IntakeItem, bytes: Int) -> Refusal? {
        let plain: Bool
        switch item {
        case .detected: plain = true
        case .frame, .relay: plain = false
        }
        let (refusal, waiter) = state.withLock { s -> (Refusal?, CheckedContinuation<Void, Never>?) in
            guard !s.finished else { return (.finished, nil) }
            guard s.items.count + s.takenItems < (plain ? maxItems / 4 * 3 : maxItems) else { return (.items, nil) }
            guard s.bytes + s.takenBytes + bytes <= (plain ? maxBytes / 4 * 3 : maxBytes) else { return (.bytes, nil) }
            s.items.append(item)
            s.bytes += bytes
            defer { s.waiter = nil }
            return (nil, s.waiter)
        }
        waiter?.resume()
        return refusal
    }

    /// Everything queued, waiting until there is something; nil once finished and empty, or
    /// when the task is cancelled. Calling it says the batch it returned before is done.
    package func next() async -> [IntakeItem]? {
        state.withLock { s in
            s.takenItems = 0
            s.takenBytes = 0
        }
        while true {
            if let batch = take() { return batch.isEmpty ? nil : batch }
            if Task.isCancelled || state.withLock({ $0.cancelled }) { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { s -> Bool in
                        // `cancelled` is set under this lock: a cancellation between the check
                        // above and here is seen, not lost with a waiter nobody resumes.
                        if !s.items.isEmpty || s.finished || s.cancelled { return true }
                        s.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { s in
                    s.cancelled = true
                    defer { s.waiter = nil }
                    return s.waiter
                }
                waiter?.resume()
            }
        }
    }

    /// The queued items (emptied), [] when finished and empty, nil when empty and open.
    private func take() -> [IntakeItem]? {
        state.withLock { s in
            if s.items.isEmpty { return s.finished ? [] : nil }
            defer {
                s.takenItems = s.items.count
                s.takenBytes = s.bytes
                s.items = []
                s.items.reserveCapacity(1024)
                s.bytes = 0
            }
            return s.items
        }
    }

    /// No more items will come: `next` returns what is left, then nil.
    package func finish() {
        let waiter = state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    package var count: Int { state.withLock { $0.items.count } }
}
