/// Binary XML as EVTX chunks hold it (MS-EVEN6 BinXml, with the chunk's name and template
/// tables): a record is a template instance, a template is a token stream with numbered
/// substitutions, and a substitution can itself be binary XML.
///
/// A template is decoded once per chunk into `Op`s and kept; each record then only reads its
/// substitution values and runs the ops into an `EventCollector`. Every read is bounded by the
/// chunk, nesting by `maxDepth`, and the work per record by `maxOpsPerRecord`, so a crafted
/// chunk (a template that instantiates itself, names that point at each other) costs at most
/// that much.
struct BinXMLDecoder {
    enum Op {
        case open(String)
        case attribute(String)
        case closeStart
        case closeEmpty
        case end
        case text(String)
        case substitution(index: Int, optional: Bool)
        case template(definition: Int, values: [BinXMLValue])
    }

    static let maxDepth = 12
    static let maxOpsPerRecord = 100_000
    static let maxCachedTemplates = 4096

    let chunk: UnsafeRawBufferPointer
    private var names: [Int: String] = [:]
    private var templates: [Int: [Op]] = [:]
    private var budget = 0

    init(chunk: UnsafeRawBufferPointer) {
        self.chunk = chunk
    }

    /// Expands the record whose binary XML is `start..<end` (chunk offsets) into `collector`.
    mutating func decodeRecord(from start: Int, to end: Int, into collector: inout EventCollector) throws(EvtxError) {
        budget = Self.maxOpsPerRecord
        var cursor = EvtxCursor(chunk, from: start, to: end)
        let ops = try compile(&cursor, dependencyIdentifiers: false)
        try run(ops, values: [], into: &collector, depth: 0)
    }

    // MARK: Tokens to ops

    private mutating func compile(_ c: inout EvtxCursor, dependencyIdentifiers: Bool) throws(EvtxError) -> [Op] {
        var ops: [Op] = []
        loop: while c.position < c.end {
            let at = c.position
            let token = try c.u8()
            switch token & 0xBF {
            case 0x00:
                break loop
            case 0x01:
                if dependencyIdentifiers { try c.skip(2) }
                try c.skip(4)  // data size
                let name = try nameReference(&c)
                if token & 0x40 != 0 { try c.skip(4) }  // attribute list size
                ops.append(.open(name))
            case 0x02: ops.append(.closeStart)
            case 0x03: ops.append(.closeEmpty)
            case 0x04: ops.append(.end)
            case 0x05:
                let type = try c.u8()
                ops.append(.text(try inlineValue(type: type, &c)))
            case 0x06: ops.append(.attribute(try nameReference(&c)))
            case 0x07:
                let units = Int(try c.u16())
                try c.need(units * 2)
                ops.append(.text(ValueText.utf16(chunk, start: c.position, units: units)))
                c.position += units * 2
            case 0x08:
                let scalar = try c.u16()
                ops.append(.text(Unicode.Scalar(scalar).map { String(Character($0)) } ?? "\u{FFFD}"))
            case 0x09:
                ops.append(.text(Self.entity(try nameReference(&c))))
            case 0x0a:
                _ = try nameReference(&c)
            case 0x0b:
                let units = Int(try c.u16())
                try c.skip(units * 2)
            case 0x0c:
                ops.append(try templateInstance(&c))
            case 0x0d, 0x0e:
                let index = Int(try c.u16())
                try c.skip(1)  // the value type the template expects; the instance's own type rules
                ops.append(.substitution(index: index, optional: token & 0xBF == 0x0e))
            case 0x0f:
                try c.skip(3)  // fragment header: major, minor, flags
            default:
                throw EvtxError(.badToken(token), at: at)
            }
        }
        return ops
    }

    /// A name given by its chunk offset; when the offset is where we stand, the name is
    /// written here and is stepped over.
    private mutating func nameReference(_ c: inout EvtxCursor) throws(EvtxError) -> String {
        let offset = Int(try c.u32())
        if offset == c.position {
            try c.skip(6)
            let units = Int(try c.u16())
            try c.skip(units * 2 + 2)
        }
        return try name(at: offset)
    }

    /// The name at `offset`: next-in-bucket offset, hash, character count, UTF-16, NUL.
    private mutating func name(at offset: Int) throws(EvtxError) -> String {
        if let cached = names[offset] { return cached }
        guard offset >= 0, offset + 8 <= chunk.count else { throw EvtxError(.badName, at: offset) }
        let units = Int(chunk.le(offset + 6, as: UInt16.self))
        guard offset + 8 + units * 2 <= chunk.count else { throw EvtxError(.badName, at: offset) }
        let text = ValueText.utf16(chunk, start: offset + 8, units: units)
        names[offset] = text
        return text
    }

    private static func entity(_ name: String) -> String {
        switch name {
        case "amp": "&"
        case "lt": "<"
        case "gt": ">"
        case "quot": "\""
        case "apos": "'"
        default: "&" + name + ";"
        }
    }

    /// A value written in the token stream: strings carry their length; other types their size.
    private func inlineValue(type: UInt8, _ c: inout EvtxCursor) throws(EvtxError) -> String {
        switch type {
        case 0x01:
            let units = Int(try c.u16())
            try c.need(units * 2)
            defer { c.position += units * 2 }
            return ValueText.utf16(chunk, start: c.position, units: units)
        case 0x02:
            let count = Int(try c.u16())
            try c.need(count)
            defer { c.position += count }
            return ValueText.ansi(chunk, start: c.position, count: count)
        default:
            guard let size = Self.fixedSize(type) else { throw EvtxError(.badValueType(type), at: c.position) }
            try c.need(size)
            defer { c.position += size }
            return ValueText.renderScalar(type: type, start: c.position, count: size, in: chunk) ?? ""
        }
    }

    static func fixedSize(_ type: UInt8) -> Int? {
        switch type {
        case 0x00: 0
        case 0x03, 0x04: 1
        case 0x05, 0x06: 2
        case 0x07, 0x08, 0x0b, 0x0d, 0x14: 4
        case 0x09, 0x0a, 0x0c, 0x10, 0x11, 0x15: 8
        case 0x0f, 0x12: 16
        default: nil
        }
    }

    /// Template instance: a byte, the template id, the definition's offset (the definition
    /// follows here when it is the first use in the chunk), then the substitution array: a
    /// count, (size, type) per value, and the values.
    private func templateInstance(_ c: inout EvtxCursor) throws(EvtxError) -> Op {
        try c.skip(1 + 4)
        let definition = Int(try c.u32())
        if definition == c.position {
            try c.skip(4 + 16)
            let size = Int(try c.u32())
            try c.skip(size)
        }
        let count = Int(try c.u32())
        guard count <= c.remaining / 4 else { throw EvtxError(.badSubstitutionCount, at: c.position) }
        var descriptors: [(size: Int, type: UInt8)] = []
        descriptors.reserveCapacity(count)
        for _ in 0..<count {
            let size = Int(try c.u16())
            let type = try c.u8()
            try c.skip(1)
            descriptors.append((size, type))
        }
        var values: [BinXMLValue] = []
        values.reserveCapacity(count)
        for d in descriptors {
            try c.need(d.size)
            values.append(BinXMLValue(type: d.type, start: c.position, count: d.size))
            c.position += d.size
        }
        return .template(definition: definition, values: values)
    }

    /// The ops of the template defined at `offset`: next offset, GUID, data size, then the
    /// token stream (elements there carry dependency identifiers).
    private mutating func template(at offset: Int) throws(EvtxError) -> [Op] {
        if let cached = templates[offset] { return cached }
        guard offset >= 0, offset + 24 <= chunk.count else { throw EvtxError(.truncated, at: offset) }
        let size = Int(chunk.le(offset + 20, as: UInt32.self))
        var c = EvtxCursor(chunk, from: offset + 24, to: offset + 24 + min(size, chunk.count))
        let ops = try compile(&c, dependencyIdentifiers: true)
        if templates.count < Self.maxCachedTemplates { templates[offset] = ops }
        return ops
    }

    // MARK: Running ops

    private mutating func run(_ ops: [Op], values: [BinXMLValue], into collector: inout EventCollector, depth: Int) throws(EvtxError) {
        guard depth <= Self.maxDepth else { throw EvtxError(.tooDeep, at: 0) }
        budget -= ops.count
        guard budget >= 0 else { throw EvtxError(.tooMuchWork, at: 0) }
        for op in ops {
            switch op {
            case .open(let name): collector.open(name)
            case .attribute(let name): collector.attribute(name)
            case .closeStart: collector.closeStart()
            case .closeEmpty: collector.closeEmpty()
            case .end: collector.end()
            case .text(let text): if collector.wantsValue { collector.value(text) }
            case .substitution(let index, _):
                guard index < values.count else { continue }
                let value = values[index]
                // Charged by size too: a template may name one large value many times.
                budget -= value.count >> 6
                guard budget >= 0 else { throw EvtxError(.tooMuchWork, at: value.start) }
                if value.type == BinXMLValue.binXML {
                    guard value.count > 0 else { continue }
                    var c = EvtxCursor(chunk, from: value.start, to: value.start + value.count)
                    let nested = try compile(&c, dependencyIdentifiers: false)
                    try run(nested, values: [], into: &collector, depth: depth + 1)
                } else if value.isEmpty {
                    continue
                } else if collector.wantsSystemTime, value.type == 0x11, value.count >= 8 {
                    collector.systemTime(microseconds: ValueText.microseconds(fileTime: chunk.le(value.start, as: UInt64.self)))
                } else if collector.wantsValue {
                    if value.type & BinXMLValue.arrayFlag != 0, !collector.inAttribute {
                        let items = ValueText.renderArray(
                            element: value.type & ~BinXMLValue.arrayFlag, start: value.start,
                            count: min(value.count, chunk.count - value.start), in: chunk)
                        collector.values(items)
                    } else {
                        collector.value(ValueText.render(value, in: chunk))
                    }
                }
            case .template(let definition, let instanceValues):
                let ops = try template(at: definition)
                try run(ops, values: instanceValues, into: &collector, depth: depth + 1)
            }
        }
    }
}
