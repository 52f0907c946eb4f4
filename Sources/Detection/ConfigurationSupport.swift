import Yams

/// Every mistake in a configuration file, each with its line.
public struct ConfigurationProblems: Error, CustomStringConvertible, Sendable {
    public let origin: String
    public private(set) var messages: [String] = []

    public init(origin: String) { self.origin = origin }

    public mutating func add(_ node: Node?, _ message: String) {
        if let mark = node?.mark {
            messages.append("\(origin):\(mark.line):\(mark.column): \(message)")
        } else {
            messages.append("\(origin): \(message)")
        }
    }

    public var description: String { messages.joined(separator: "\n") }

    /// `host:port` or `[v6-address]:port`.
    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            return (host, port)
        }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), !parts[0].isEmpty else { return nil }
        return (String(parts[0]), port)
    }

}
