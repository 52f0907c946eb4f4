import Wire

/// The edge agent: follows local security logs and sends what it detects to the relay.
package enum EdgeAgent {
    package static let version = ProductVersion.string
}
