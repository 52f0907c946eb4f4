/// Text with `{field}` placeholders, filled in one pass: an incident's headline
/// (`title: "{count} failed logins for {user}"`) and a channel's own message layout.
///
/// One pass means a value is never read again as a template: a user named `{analysis}` is
/// written as those ten characters. A placeholder the lookup does not know stays as written.
public enum FieldTemplate {
    /// `template` with each known placeholder replaced by `value(name)`.
    public static func fill(_ template: String, _ value: (String) -> String?) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            if let v = value(name) {
                out += v
                rest = rest[rest.index(after: close)...]
            } else {
                // Not a field: the brace stays, and the scan goes on after it (a `{` in text
                // before a real placeholder does not swallow it).
                out += "{"
                rest = rest[rest.index(after: open)...]
            }
        }
        return out + rest
    }

    /// The placeholder names in `template`, in order.
    public static func placeholders(_ template: String) -> [String] {
        var found: [String] = []
        _ = fill(template) { name in
            found.append(name)
            return nil
        }
        return found
    }
}
