import Foundation
import Synchronization

/// Where a secret is read from. Its description never shows the secret.
package enum SecretSource: Sendable, Hashable, CustomStringConvertible {
    case inline(String)
    case file(String)
    case environment(String)

    package var description: String {
        switch self {
        case .inline: "inline value"
        case .file(let path): "file \(path)"
        case .environment(let name): "environment variable \(name)"
        }
    }

    package func read() throws -> String {
        switch self {
        case .inline(let value):
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw WireError.badKey("cannot read the secret file \(path)")
            }
            if let warning = SecretFile.exposure(path) { _ = SecretFile.recorded.withLock { $0.insert(warning) } }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw WireError.badKey("environment variable \(name) is not set")
            }
            return value
        }
    }
}
