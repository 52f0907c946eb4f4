import Wire

/// The relay: receives edge frames and plain syslog, correlates, alerts.
public enum RelayServer {
    public static let version = ProductVersion.string
}
