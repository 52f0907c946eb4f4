/// Event XML as Windows renders it (`wevtutil qe /f:xml`, `EvtRender`, the XML view of Event
/// Viewer, whose copies put "- " before elements that have children) into `WindowsEvent`s.
///
/// A small non-validating reader: elements, attributes, text, the five entities and character
/// references, CDATA; comments, processing instructions and DOCTYPE are skipped. Every
/// `<Event>` element anywhere in the text is an event (inside an `<Events>` root or not).
/// Linear in the input; nesting deeper than `maxDepth` ends that event as damaged.
package struct EventXMLReader {
    package static let maxDepth = 64

    package init() {}

    /// The events in `text`, and how many `<Event>` elements were damaged (too deep, cut off).
    package func events(in text: String) -> (events: [WindowsEvent], damaged: Int) {
        var copy = text
        return copy.withUTF8 { events(in: $0) }
    }

    package func events(in bytes: UnsafeBufferPointer<UInt8>) -> (events: [WindowsEvent], damaged: Int) {
        var result: [WindowsEvent] = []
        var damaged = 0
        forEachEvent(in: bytes, damaged: &damaged) { result.append($0) }
        return (result, damaged)
    }

    /// Calls `body` with each event, in order.
    package func forEachEvent(in bytes: UnsafeBufferPointer<UInt8>, damaged: inout Int, _ body: (WindowsEvent) throws -> Void) rethrows {
        var collector = EventCollector()
        var depth = 0  // elements open inside the current event; 0 when outside one
        var i = 0
        let n = bytes.count

        @inline(__always) func starts(_ literal: StaticString, at p: Int) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard p + count <= n else { return false }
            let s = literal.utf8Start
            for k in 0..<count where bytes[p + k] != s[k] { return false }
            return true
        }
        func find(_ literal: StaticString, from p: Int) -> Int? {
            var q = p
            let first = literal.utf8Start[0]
            while q < n {
                if bytes[q] == first, starts(literal, at: q) { return q }
                q += 1
            }
            return nil
        }
        func isNameByte(_ b: UInt8) -> Bool {
            !(b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x3E || b == 0x2F || b == 0x3D || b == 0x3C)
        }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        /// An element or attribute name without its namespace prefix.
        func localName(_ start: Int, _ end: Int) -> String {
            var s = start
            for k in start..<end where bytes[k] == 0x3A { s = k + 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[s..<end]), as: UTF8.self)
        }

        while i < n {
            if bytes[i] != 0x3C {
                // Text up to the next tag.
                var end = i
                while end < n, bytes[end] != 0x3C { end += 1 }
                if depth > 0, collector.wantsValue, !Self.isLayout(bytes, i, end) {
                    collector.value(Self.decodeEntities(bytes, i, end))
                }
                i = end
                continue
            }
            if starts("<?", at: i) {
                i = (find("?>", from: i + 2) ?? n - 2) + 2
            } else if starts("<!--", at: i) {
                i = (find("-->", from: i + 4) ?? n - 3) + 3
            } else if starts("<![CDATA[", at: i) {
                let end = find("]]>", from: i + 9) ?? n
                if depth > 0, collector.wantsValue {
                    collector.value(String(decoding: UnsafeBufferPointer(rebasing: bytes[(i + 9)..<end]), as: UTF8.self))
                }
                i = min(n, end + 3)
            } else if starts("<!", at: i) {
                i = (find(">", from: i + 2) ?? n - 1) + 1
            } else if starts("</", at: i) {
                let close = find(">", from: i + 2) ?? n
                i = close + 1
                guard depth > 0 else { continue }
                collector.end()
                depth -= 1
                if depth == 0 { try body(collector.finish(recordID: 0, headerMicroseconds: 0)) }
            } else {
                // Start tag: name, attributes, then > or />.
                var p = i + 1
                let nameStart = p
                while p < n, isNameByte(bytes[p]) { p += 1 }
                let name = localName(nameStart, p)
                let inEvent = depth > 0 || name == "Event"
                if inEvent {
                    if depth == 0 { collector.reset() }
                    if depth >= Self.maxDepth {
                        // Too deep: the event is dropped, counted, and reading goes on after it.
                        damaged += 1
                        depth = 0
                        i = p
                        continue
                    }
                    collector.open(XMLName(name))
                    depth += 1
                }
                var selfClosing = false
                while p < n {
                    while p < n, isSpace(bytes[p]) { p += 1 }
                    guard p < n else { break }
                    if bytes[p] == 0x3E { p += 1; break }
                    if bytes[p] == 0x2F { selfClosing = true; p += 1; continue }
                    let attributeStart = p
                    while p < n, isNameByte(bytes[p]) { p += 1 }
                    let attributeEnd = p
                    if attributeEnd == attributeStart { p += 1; continue }
                    while p < n, isSpace(bytes[p]) { p += 1 }
                    guard p < n, bytes[p] == 0x3D else { continue }
                    p += 1
                    while p < n, isSpace(bytes[p]) { p += 1 }
                    guard p < n, bytes[p] == 0x22 || bytes[p] == 0x27 else { continue }
                    let quote = bytes[p]
                    p += 1
                    let valueStart = p
                    while p < n, bytes[p] != quote { p += 1 }
                    // Namespace declarations are not data.
                    let isNamespace = attributeEnd - attributeStart >= 5 && starts("xmlns", at: attributeStart)
                        && (attributeEnd - attributeStart == 5 || bytes[attributeStart + 5] == 0x3A)
                    if inEvent, !isNamespace {
                        collector.attribute(XMLName(localName(attributeStart, attributeEnd)))
                        if collector.wantsValue { collector.value(Self.decodeEntities(bytes, valueStart, p)) }
                    }
                    p += 1
                }
                i = p
                guard inEvent else { continue }
                if selfClosing {
                    collector.closeEmpty()
                    depth -= 1
                    if depth == 0 { try body(collector.finish(recordID: 0, headerMicroseconds: 0)) }
                } else {
                    collector.closeStart()
                }
            }
        }
        if depth > 0 { damaged += 1 }
    }

    /// Text that only lays the XML out: a line break with spaces, and Event Viewer's "- ".
    static func isLayout(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var sawNewline = false
        var marks = 0
        for k in start..<end {
            switch bytes[k] {
            case 0x0A, 0x0D: sawNewline = true
            case 0x20, 0x09: continue
            case 0x2D, 0x2B: marks += 1
            default: return false
            }
        }
        return sawNewline && marks <= 1
    }

    /// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#N;` and `&#xH;` decoded; anything else kept.
    static func decodeEntities(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        var hasAmpersand = false
        for k in start..<end where bytes[k] == 0x26 {
            hasAmpersand = true
            break
        }
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<end])
        guard hasAmpersand else { return String(decoding: slice, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var k = start
        while k < end {
            let b = bytes[k]
            guard b == 0x26 else {
                out.append(b)
                k += 1
                continue
            }
            var semicolon = k + 1
            while semicolon < end, semicolon - k <= 10, bytes[semicolon] != 0x3B { semicolon += 1 }
            guard semicolon < end, bytes[semicolon] == 0x3B else {
                out.append(b)
                k += 1
                continue
            }
            let entity = String(decoding: UnsafeBufferPointer(rebasing: bytes[(k + 1)..<semicolon]), as: UTF8.self)
            var replacement: String?
            switch entity {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X"), let v = UInt32(entity.dropFirst(2), radix: 16) {
                    replacement = Unicode.Scalar(v).map { String(Character($0)) }
                } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()) {
                    replacement = Unicode.Scalar(v).map { String(Character($0)) }
                }
            }
            if let replacement {
                out.append(contentsOf: replacement.utf8)
                k = semicolon + 1
            } else {
                out.append(b)
                k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
