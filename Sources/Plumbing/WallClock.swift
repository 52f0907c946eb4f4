import Foundation
import Synchronization

/// The time of day, in one unit: microseconds since 1970 (UTC). What events, incidents, the
/// outbox and the store carry. Durations and deadlines use a `Clock` instead.
///
/// Injected wherever time decides something (delivery, analysis), so that tests set it and
/// never sleep: `.system` in production, `ManualWallClock.clock` in tests.
package struct WallClock: Sendable {
    private let read: @Sendable () -> Int64

    package init(_ read: @escaping @Sendable () -> Int64) {
        self.read = read
    }

    /// Now, in microseconds since 1970.
    package var now: Int64 { read() }

    /// The system's clock.
    package static let system = WallClock { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}

/// A wall clock that moves only when told: for tests.
package final class ManualWallClock: Sendable {
    private let time: Mutex<Int64>

    package init(microseconds: Int64 = 1_795_939_815_000_000) {
        time = Mutex(microseconds)
    }

    package var clock: WallClock { WallClock { [self] in time.withLock { $0 } } }

    package var now: Int64 { time.withLock { $0 } }

    package func advance(seconds: Double) {
        time.withLock { $0 += Int64(seconds * 1_000_000) }
    }

    package func advance(microseconds: Int64) {
        time.withLock { $0 += microseconds }
    }
}
