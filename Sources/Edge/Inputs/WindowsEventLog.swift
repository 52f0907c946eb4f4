#if os(Windows)
import CWinEvt
import WinSDK
import WindowsEvents

/// The live Windows Event Log subscription: `EvtSubscribe` (pull model, with a signal event
/// and a bookmark) and `EvtRender` to XML. Everything after "an XML string arrived" is
/// `EventLogSource`, shared and tested on Linux.
///
/// UNTESTED: this file cannot be built or run where the product is developed (Linux). It is
/// kept to the API calls alone; docs/windows.md says how to build and try it.
///
/// Reading the Security channel needs an administrator, SYSTEM, or a member of the "Event Log
/// Readers" group.
package struct WindowsEventLog: EventLogSubscription {
    package init() {}

    struct Failure: Error, CustomStringConvertible {
        let call: String
        let code: DWORD
        var description: String { "\(call) failed: Windows error \(code)" }
    }

    /// Events asked for per EvtNext, at first.
    static let batch = 64
    /// ERROR_NO_MORE_ITEMS, ERROR_INSUFFICIENT_BUFFER, ERROR_NOT_FOUND, RPC_S_INVALID_BOUND;
    /// WAIT_OBJECT_0 is 0, WAIT_TIMEOUT 258.
    static let noMoreItems: DWORD = 259
    static let insufficientBuffer: DWORD = 122
    static let notFound: DWORD = 1168
    static let invalidBound: DWORD = 1734
    static let waitObject0: DWORD = 0
    static let waitTimeout: DWORD = 258

    package func follow(channel: String, after bookmark: String?, fromOldest: Bool, into sink: EventLogSource) throws {
        // Manual reset, signalled at first: EvtNext is tried once before the first wait.
        guard let signal = CreateEventW(nil, true, true, nil) else { throw Failure(call: "CreateEventW", code: GetLastError()) }
        defer { CloseHandle(signal) }

        var bookmarkHandle: EVT_HANDLE? = nil
        if let bookmark {
            bookmarkHandle = bookmark.withCString(encodedAs: UTF16.self) { EvtCreateBookmark($0) }
            guard bookmarkHandle != nil else { throw Failure(call: "EvtCreateBookmark", code: GetLastError()) }
        }
        defer { if let b = bookmarkHandle { EvtClose(b) } }

        func subscribe(_ flags: DWORD, _ bookmark: EVT_HANDLE?) -> EVT_HANDLE? {
            channel.withCString(encodedAs: UTF16.self) { path in
                "*".withCString(encodedAs: UTF16.self) { query in
                    EvtSubscribe(nil, signal, path, query, bookmark, nil, nil, flags)
                }
            }
        }
        var subscription: EVT_HANDLE?
        if let bookmarkHandle {
            // Strict: without it, a bookmarked record that is gone (the log cleared, which is
            // itself event 1102, or wrapped) starts the subscription *after* the closest
            // record, one never delivered. When it is gone, start at the oldest there is.
            subscription = subscribe(DWORD(EvtSubscribeStartAfterBookmark.rawValue) | DWORD(EvtSubscribeStrict.rawValue), bookmarkHandle)
            if subscription == nil, GetLastError() == Self.notFound {
                subscription = subscribe(DWORD(EvtSubscribeStartAtOldestRecord.rawValue), nil)
            }
        } else {
            subscription = subscribe(DWORD((fromOldest ? EvtSubscribeStartAtOldestRecord : EvtSubscribeToFutureEvents).rawValue), nil)
        }
        guard let subscription else { throw Failure(call: "EvtSubscribe(\(channel))", code: GetLastError()) }
        defer { EvtClose(subscription) }

        // EvtNext refuses a batch of large events with RPC_S_INVALID_BOUND: ask for fewer.
        var batch = Self.batch
        var handles = [EVT_HANDLE?](repeating: nil, count: Self.batch)
        var buffer = [UInt16](repeating: 0, count: 16 << 10)
        while !sink.isStopped {
            // A second at most: stop() is noticed, and a signal lost between EvtNext's "no
            // more" and ResetEvent costs a second, not an event.
            let waited = WaitForSingleObject(signal, 1000)
            guard waited == Self.waitObject0 || waited == Self.waitTimeout else {
                throw Failure(call: "WaitForSingleObject", code: GetLastError())
            }
            while !sink.isStopped {
                var returned: DWORD = 0
                let ok = handles.withUnsafeMutableBufferPointer {
                    EvtNext(subscription, DWORD(batch), $0.baseAddress, 0, 0, &returned)
                }
                if !ok.boolValue {
                    let code = GetLastError()
                    if code == Self.invalidBound, batch > 1 {
                        batch /= 2
                        continue
                    }
                    guard code == Self.noMoreItems else { throw Failure(call: "EvtNext", code: code) }
                    ResetEvent(signal)
                    break
                }
                var keepGoing = true
                for i in 0..<Int(returned) {
                    guard let event = handles[i] else { continue }
                    defer { EvtClose(event) }
                    handles[i] = nil
                    guard keepGoing else { continue }
                    // An event that cannot be rendered is counted and passed: failing would
                    // start the subscription again before it, for ever.
                    if let xml = try? Self.render(event, &buffer) {
                        keepGoing = xml.withUnsafeBufferPointer { sink.deliver($0) }
                    } else {
                        keepGoing = sink.discardOverlong()
                    }
                }
                if !keepGoing { return }
            }
        }
    }

    /// One event as XML, in UTF-8.
    static func render(_ event: EVT_HANDLE, _ buffer: inout [UInt16]) throws -> [UInt8] {
        var used: DWORD = 0
        var properties: DWORD = 0
        for _ in 0..<2 {
            let byteCount = DWORD(buffer.count * 2)
            let ok = buffer.withUnsafeMutableBytes {
                EvtRender(nil, event, DWORD(EvtRenderEventXml.rawValue), byteCount, $0.baseAddress, &used, &properties)
            }
            if ok.boolValue {
                let units = min(buffer.count, Int(used) / 2)
                // EvtRender counts the terminating NUL.
                let end = buffer[..<units].firstIndex(of: 0) ?? units
                return Array(String(decoding: buffer[..<end], as: UTF16.self).utf8)
            }
            let code = GetLastError()
            // `used` is in bytes; UTF-16 takes at most twice the UTF-8 limit.
            guard code == Self.insufficientBuffer, Int(used) <= 2 * EventLogSource.maxEventBytes else {
                throw Failure(call: "EvtRender", code: code)
            }
            buffer = [UInt16](repeating: 0, count: Int(used) / 2 + 1)
        }
        throw Failure(call: "EvtRender", code: Self.insufficientBuffer)
    }

    package func newestRecordID(channel: String) throws -> UInt64? {
        let query = channel.withCString(encodedAs: UTF16.self) { path in
            "*".withCString(encodedAs: UTF16.self) { q in
                EvtQuery(nil, path, q, DWORD(EvtQueryChannelPath.rawValue) | DWORD(EvtQueryReverseDirection.rawValue))
            }
        }
        guard let query else { throw Failure(call: "EvtQuery(\(channel))", code: GetLastError()) }
        defer { EvtClose(query) }
        var handle: EVT_HANDLE? = nil
        var returned: DWORD = 0
        guard EvtNext(query, 1, &handle, 0, 0, &returned).boolValue, returned == 1, let event = handle else {
            let code = GetLastError()
            if code == Self.noMoreItems { return nil }
            throw Failure(call: "EvtNext(\(channel), newest)", code: code)
        }
        defer { EvtClose(event) }
        var buffer = [UInt16](repeating: 0, count: 16 << 10)
        let xml = try Self.render(event, &buffer)
        return xml.withUnsafeBufferPointer { EventXMLReader().events(in: $0).events.first?.recordID }
    }
}
#endif
