/// Text from logs made safe to print on an operator's terminal: C0 and C1 controls, DEL,
/// line and paragraph separators and bidirectional overrides are shown as `\xHH` or
/// `\u{HHHH}` instead of acting (an escape sequence in a user name must not rewrite the
/// screen, and a log line must not start new lines in a report).
package enum TerminalText {
    package static func safe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                let text = scalar.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u{\(hex)}"
                out.append(contentsOf: text.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// C0 and C1 controls, DEL, line and paragraph separators, bidirectional marks and overrides.
    package static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
