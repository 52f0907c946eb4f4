/// How packets ride in syslog: one RFC 5424 message per packet.
///
///     <110>1 2026-11-29T16:10:15.123Z web-01 edge - WIRE1 [wire@32473 v="1" id="web-01"
///     ep="1764432000" seq="42" frag="1/1"] wire1:AQEBAQZ3ZWItMDFp...
///
/// MSG is `wire1:` and the packet in base64, so the packet is found and verified even
/// when a forwarder dropped the structured data (rsyslog's traditional formats do). The
/// SD-ELEMENT repeats the packet's edge id, epoch, sequence and 1-based fragment position
/// for routing and reading; when present it must agree with the packet.
public struct Envelope: Sendable, Hashable {
    /// SD-ID, under the documentation enterprise number of RFC 5612.
    public static let sdID = "wire@32473"
    public static let messagePrefix = "wire1:"
    public static let msgID = "WIRE1"
    /// Default syslog budget per UDP datagram: under a 1,500-byte MTU over IPv4 or IPv6
    /// (1,500 - 40 IPv6 - 8 UDP = 1,452), with room left for tunnels.
    public static let udpBudgetBytes = 1400
    /// Default budget per message over TCP: below rsyslog's default maxMessageSize (8 KiB),
    /// so frames pass an intermediate rsyslog whole.
    public static let tcpBudgetBytes = 8000

    /// The sending host's name (HOSTNAME).
    public var hostname: String
    public var appName: String
    /// Facility 13 (log audit) and severity 6 (informational) by default.
    public var facility: Int
    public var severity: Int

    public init(hostname: String, appName: String = "edge", facility: Int = 13, severity: Int = 6) {
        self.hostname = hostname
        self.appName = appName
        self.facility = facility
        self.severity = severity
    }

    /// The syslog message text of every packet of `frame`, each at most `budgetBytes`.
    public func messages(for frame: Frame, packetizer: Packetizer, budgetBytes: Int) throws -> [String] {
        let chunk = try maxChunkBytes(edgeID: frame.edgeID, epoch: frame.epoch, sequence: frame.sequence, budgetBytes: budgetBytes)
        let packets = try packetizer.packets(for: frame, maxChunkBytes: chunk)
        return packets.enumerated().map { index, bytes in
            text(frame: frame, position: "\(index + 1)/\(packets.count)", packet: bytes)
        }
    }

    /// Largest chunk that keeps a message of this frame within `budgetBytes`.
    public func maxChunkBytes(edgeID: EdgeID, epoch: UInt32, sequence: UInt64, budgetBytes: Int) throws -> Int {
        let probe = Frame(
            kind: .events, flags: [], dictionaryID: 0, edgeID: edgeID, epoch: epoch, sequence: sequence,
            sendTimeMilliseconds: 0, payload: [])
        let fixed = text(frame: probe, position: "255/255", packet: []).utf8.count
        let base64Chars = budgetBytes - fixed
        let chunk = base64Chars / 4 * 3 - Packet.overhead(edgeIDBytes: edgeID.rawValue.utf8.count)
        guard chunk >= 64 else {
            throw WireError.oversized("a budget of \(budgetBytes) bytes leaves no room for payload")
        }
        return min(chunk, Int(UInt16.max))
    }

    private func text(frame: Frame, position: String, packet: [UInt8]) -> String {
        let header = SyslogMessage(
            format: .rfc5424, facility: facility, severity: severity,
            timestamp: SyslogTimestamp(microseconds: frame.sendTimeMilliseconds * 1000, fractionDigits: 3),
            hostname: hostname, appName: appName, procID: nil, msgID: Envelope.msgID,
            structuredData: [
                StructuredDataElement(id: Envelope.sdID, parameters: [
                    ("v", "1"), ("id", frame.edgeID.rawValue), ("ep", String(frame.epoch)),
                    ("seq", String(frame.sequence)), ("frag", position),
                ])
            ],
            message: Envelope.messagePrefix + Base64.encode(packet))
        return SyslogFormatter.rfc5424(header)
    }

    /// The packet bytes in a received message, or nil when it carries none (plain syslog).
    ///
    /// - Throws: when MSG starts like a packet but is not valid base64, or is larger than
    ///   `maxPacketBytes`.
    public static func packetBytes(in message: SyslogMessage, maxPacketBytes: Int = 70_000) throws -> [UInt8]? {
        let utf8 = message.message.utf8
        guard utf8.starts(with: messagePrefix.utf8) else { return nil }
        let body = utf8.dropFirst(messagePrefix.utf8.count)
        guard body.count <= Base64.encodedLength(maxPacketBytes) else {
            throw WireError.oversized("packet text of \(body.count) bytes")
        }
        guard let bytes = Base64.decode(body) else { throw WireError.badEncoding("packet is not valid base64") }
        return bytes
    }

    /// Checks the SD-ELEMENT, when the message kept one, against the verified packet.
    public static func checkStructuredData(of message: SyslogMessage, against packet: Packet) throws {
        guard let sd = message.element(sdID) else { return }
        guard sd["v"] == "1", sd["id"] == packet.edgeID.rawValue, sd["ep"] == String(packet.epoch),
            sd["seq"] == String(packet.sequence), sd["frag"] == "\(packet.index + 1)/\(packet.count)"
        else {
            throw WireError.envelopeMismatch("structured data disagrees with the packet from \(packet.edgeID)")
        }
    }
}

extension Envelope {
    public func messages(for frame: Frame, encoder: FrameEncoder, budgetBytes: Int) throws -> [String] {
        try messages(for: frame, packetizer: encoder.packetizer, budgetBytes: budgetBytes)
    }
}
