/// Binary XML as EVTX chunks hold it (MS-EVEN6 BinXml, with the chunk's name and template
/// tables): a record is a template instance, a template is a token stream with numbered
/// substitutions, and a substitution can itself be binary XML.
///
/// A template is decoded once per chunk into `Op`s and kept; each record then only reads its
/// substitution values and runs the ops into an `EventCollector`. Ops are plain numbers
/// (names, literal text and substitution values live in tables of the decoder), so running
/// them costs no reference counting. Every read is bounded by the
/// chunk, nesting by `maxDepth`, and the work per record by `maxOpsPerRecord`, so a crafted
/// chunk (a template that instantiates itself, names that point at each other) costs at most
/// that much.
struct BinXMLDecoder {
    enum Op {
        /// Index into `names`.
        case open(Int32)
        case attribute(Int32)
        case closeStart
        case closeEmpty
        case end
        /// Index into `literals`.
        case text(Int32)
        /// Index into the substitution values of the template instance being run.
        case substitution(Int32)
        /// A template instance: its definition's chunk offset and its values, `count` of them
        /// from `first` in `recordValues` (the record's own stream) or `chunkValues`
        /// (instances inside templates and nested binary XML, kept for the chunk).
        case template(definition: Int32, first: Int32, count: Int32, perRecord: Bool)
    }

    /// Where a run's substitution values are.
    struct Values {
        var first: Int
        var count: Int
        var perRecord: Bool
        static let none = Values(first: 0, count: 0, perRecord: true)
    }

    static let maxDepth = 12
    static let maxOpsPerRecord = 100_000
    /// Work for all the records of one chunk: past it, the chunk's other records are damaged.
    static let maxOpsPerChunk = 4_000_000
    static let maxCachedTemplates = 4096
    /// Ops kept in the caches of one chunk at most; past it templates are decoded again
    /// each time (and charged each time).
    static let maxCachedOps = 1 << 18

    let chunk: UnsafeRawBufferPointer
    private var names: [XMLName] = []
    /// What each name is to the collector, apart, so running ops copies no strings.
    private var nameKinds: [XMLName.Known] = []
    private var nameIndex: [Int: Int32] = [:]
    private var literals: [String] = []
    private var chunkValues: [BinXMLValue] = []
    private var recordValues: [BinXMLValue] = []
    private var templates: [Int: [Op]] = [:]
    private var lastTemplate: (offset: Int, ops: [Op]) = (Int.min, [])
    /// Binary XML nested in substitution values, decoded once per chunk by offset.
    private var nested: [Int: [Op]] = [:]
    private var budget = 0
    private var chunkBudget = maxOpsPerChunk
    private var cachedOps = 0

    init(chunk: UnsafeRawBufferPointer) {
        self.chunk = chunk
    }

    /// Expands the record whose binary XML is `start..<end` (chunk offsets) into `collector`.
    mutating func decodeRecord(from start: Int, to end: Int, into collector: inout EventCollector) throws(EvtxError) {
        guard chunkBudget > 0 else { throw EvtxError(.tooMuchWork, at: start) }
        budget = min(Self.maxOpsPerRecord, chunkBudget)
        let given = budget
        defer { chunkBudget -= given - max(0, budget) }
        recordValues.removeAll(keepingCapacity: true)
        var cursor = EvtxCursor(chunk, from: start, to: end)
        // Nearly every record is a fragment header and one template instance: run that
        // without making a list of ops for it.
        var quick = cursor
        if quick.remaining >= 5, chunk[quick.position] == 0x0f {
            quick.position += 4
            if try quick.u8() == 0x0c, case .template(let definition, let first, let count, _) = try templateInstance(&quick, perRecord: true),
               quick.remaining == 0 || chunk[quick.position] == 0x00 {
                let ops = try template(at: Int(definition))
                try run(ops, values: Values(first: Int(first), count: Int(count), perRecord: true), into: &collector, depth: 1)
                return
            }
            recordValues.removeAll(keepingCapacity: true)
        }
        let ops = try compile(&cursor, dependencyIdentifiers: false, perRecord: true)
        try run(ops, values: .none, into: &collector, depth: 0)
    }

    // MARK: Tokens to ops

    private mutating func compile(_ c: inout EvtxCursor, dependencyIdentifiers: Bool, perRecord: Bool) throws(EvtxError) -> [Op] {
        var ops: [Op] = []
        loop: while c.position < c.end {
            let at = c.position
            // Decoding is work too: charged like running (a chunk can point every record at
            // another place in a long run of tokens).
            budget -= 1
            guard budget >= 0 else { throw EvtxError(.tooMuchWork, at: at) }
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
                ops.append(.text(try literal(try inlineValue(type: type, &c))))
            case 0x06: ops.append(.attribute(try nameReference(&c)))
            case 0x07:
                let units = Int(try c.u16())
                try c.need(units * 2)
                ops.append(.text(try literal(ValueText.utf16(chunk, start: c.position, units: units))))
                c.position += units * 2
            case 0x08:
                let scalar = try c.u16()
                ops.append(.text(try literal(Unicode.Scalar(scalar).map { String(Character($0)) } ?? "\u{FFFD}")))
            case 0x09:
                ops.append(.text(try literal(Self.entity(names[Int(try nameReference(&c))].text))))
            case 0x0a:
                _ = try nameReference(&c)
            case 0x0b:
                let units = Int(try c.u16())
                try c.skip(units * 2)
            case 0x0c:
                ops.append(try templateInstance(&c, perRecord: perRecord))
            case 0x0d, 0x0e:
                let index = Int32(try c.u16())
                try c.skip(1)  // the value type the template expects; the instance's own type rules
                ops.append(.substitution(index))
            case 0x0f:
                try c.skip(3)  // fragment header: major, minor, flags
            default:
                throw EvtxError(.badToken(token), at: at)
            }
        }
        return ops
    }

    private mutating func literal(_ text: String) throws(EvtxError) -> Int32 {
        // Templates decoded again and again (past the cache's bound) would add theirs again.
        guard literals.count < Self.maxCachedOps else { throw EvtxError(.tooMuchWork, at: 0) }
        literals.append(text)
        return Int32(literals.count - 1)
    }

    /// A name given by its chunk offset; when the offset is where we stand, the name is
    /// written here and is stepped over.
    private mutating func nameReference(_ c: inout EvtxCursor) throws(EvtxError) -> Int32 {
        let offset = Int(try c.u32())
        if offset == c.position {
            try c.skip(6)
            let units = Int(try c.u16())
            try c.skip(units * 2 + 2)
        }
        return try name(at: offset)
    }

    /// The name at `offset` (next-in-bucket offset, hash, character count, UTF-16, NUL), as
    /// an index into `names`.
    private mutating func name(at offset: Int) throws(EvtxError) -> Int32 {
        if let cached = nameIndex[offset] { return cached }
        guard offset >= 0, offset + 8 <= chunk.count else { throw EvtxError(.badName, at: offset) }
        let units = Int(chunk.le(offset + 6, as: UInt16.self))
        guard offset + 8 + units * 2 <= chunk.count else { throw EvtxError(.badName, at: offset) }
        let name = XMLName(ValueText.utf16(chunk, start: offset + 8, units: units))
        names.append(name)
        nameKinds.append(name.known)
        let index = Int32(names.count - 1)
        nameIndex[offset] = index
        return index
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
    private mutating func templateInstance(_ c: inout EvtxCursor, perRecord: Bool) throws(EvtxError) -> Op {
        try c.skip(1 + 4)
        let definition = Int(try c.u32())
        if definition == c.position {
            try c.skip(4 + 16)
            let size = Int(try c.u32())
            try c.skip(size)
        }
        let count = Int(try c.u32())
        guard count <= c.remaining / 4 else { throw EvtxError(.badSubstitutionCount, at: c.position) }
        // The descriptors (size, type, a pad byte), then the values in the same order.
        var descriptors = EvtxCursor(chunk, from: c.position, to: c.position + count * 4)
        try c.skip(count * 4)
        let first = perRecord ? recordValues.count : chunkValues.count
        guard perRecord || chunkValues.count + count <= Self.maxCachedOps else { throw EvtxError(.tooMuchWork, at: c.position) }
        for _ in 0..<count {
            let size = Int(try descriptors.u16())
            let type = try descriptors.u8()
            try descriptors.skip(1)
            try c.need(size)
            let value = BinXMLValue(type: type, start: c.position, count: size)
            if perRecord { recordValues.append(value) } else { chunkValues.append(value) }
            c.position += size
        }
        return .template(definition: Int32(truncatingIfNeeded: definition), first: Int32(first), count: Int32(count), perRecord: perRecord)
    }

    /// The ops of the template defined at `offset`: next offset, GUID, data size, then the
    /// token stream (elements there carry dependency identifiers).
    private mutating func template(at offset: Int) throws(EvtxError) -> [Op] {
        // Records in a row mostly share their template.
        if offset == lastTemplate.offset { return lastTemplate.ops }
        if let cached = templates[offset] {
            lastTemplate = (offset, cached)
            return cached
        }
        guard offset >= 0, offset + 24 <= chunk.count else { throw EvtxError(.truncated, at: offset) }
        let size = Int(chunk.le(offset + 20, as: UInt32.self))
        var c = EvtxCursor(chunk, from: offset + 24, to: offset + 24 + min(size, chunk.count))
        let ops = try compile(&c, dependencyIdentifiers: true, perRecord: false)
        if templates.count < Self.maxCachedTemplates, cachedOps + ops.count <= Self.maxCachedOps {
            templates[offset] = ops
            cachedOps += ops.count
        }
        return ops
    }

    /// The ops of binary XML nested in a value at `start..<start + count`.
    private mutating func nestedOps(_ start: Int, _ count: Int) throws(EvtxError) -> [Op] {
        if let cached = nested[start] { return cached }
        var c = EvtxCursor(chunk, from: start, to: start + count)
        let ops = try compile(&c, dependencyIdentifiers: false, perRecord: false)
        if nested.count < Self.maxCachedTemplates, cachedOps + ops.count <= Self.maxCachedOps {
            nested[start] = ops
            cachedOps += ops.count
        }
        return ops
    }

    // MARK: Running ops

    private mutating func run(_ ops: [Op], values: Values, into collector: inout EventCollector, depth: Int) throws(EvtxError) {
        guard depth <= Self.maxDepth else { throw EvtxError(.tooDeep, at: 0) }
        budget -= ops.count
        guard budget >= 0 else { throw EvtxError(.tooMuchWork, at: 0) }
        for op in ops {
            switch op {
            case .open(let name): collector.open(nameKinds[Int(name)], names[Int(name)].text)
            case .attribute(let name): collector.attribute(nameKinds[Int(name)], names[Int(name)].text)
            case .closeStart: collector.closeStart()
            case .closeEmpty: collector.closeEmpty()
            case .end: collector.end()
            case .text(let text): if collector.wantsValue { collector.value(literals[Int(text)]) }
            case .substitution(let index):
                guard Int(index) < values.count else { continue }
                let value = values.perRecord ? recordValues[values.first + Int(index)] : chunkValues[values.first + Int(index)]
                // Charged by size too: a template may name one large value many times.
                budget -= value.count >> 6
                guard budget >= 0 else { throw EvtxError(.tooMuchWork, at: value.start) }
                if value.type == BinXMLValue.binXML {
                    guard value.count > 0 else { continue }
                    let ops = try nestedOps(value.start, value.count)
                    try run(ops, values: .none, into: &collector, depth: depth + 1)
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
                    } else if collector.inAttribute {
                        collector.value(ValueText.render(value, in: chunk))
                    } else {
                        collector.value(raw: value)
                    }
                }
            case .template(let definition, let first, let count, let perRecord):
                let ops = try template(at: Int(definition))
                try run(ops, values: Values(first: Int(first), count: Int(count), perRecord: perRecord), into: &collector, depth: depth + 1)
            }
        }
    }
}
