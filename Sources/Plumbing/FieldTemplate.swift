/// Text with `{field}` placeholders, filled in one pass: an incident's headline
/// (`title: "{count} failed logins for {user}"`) and a channel's own message layout.
///
/// One pass means a value is never read again as a template: a user named `{analysis}` is
/// written as those ten characters. A placeholder the lookup does not know stays as written.
package enum FieldTemplate {
    /// `template` with each known placeholder replaced by `value(name)`. A placeholder is
    /// the text between a `}` and the last `{` before it (a `{` in text before a real
    /// placeholder does not swallow it). Each character is looked at a bounded number of
    /// times: linear in the template, whatever its braces.
    package static func fill(_ template: String, _ value: (String) -> String?) -> String {
        var out = ""
        var rest = Substring(template)
        while let close = rest.firstIndex(of: "}") {
            guard let open = rest[..<close].lastIndex(of: "{") else {
                out += rest[...close]
                rest = rest[rest.index(after: close)...]
                continue
            }
            out += rest[..<open]
            if let v = value(String(rest[rest.index(after: open)..<close])) {
                out += v
            } else {
                out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The placeholder names in `template`, in order.
    package static func placeholders(_ template: String) -> [String] {
        var found: [String] = []
        _ = fill(template) { name in
            found.append(name)
            return nil
        }
        return found
    }
}
