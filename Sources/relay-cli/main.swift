import ArgumentParser
import Relay

@main
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Receives edge frames and plain syslog, correlates account activity, alerts.",
        version: RelayServer.version
    )
}
