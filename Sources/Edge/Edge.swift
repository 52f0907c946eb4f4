import Wire

/// The edge agent: follows local security logs and sends what it detects to the relay.
public enum EdgeAgent {
    public static let version = ProductVersion.string
}
