import ArgumentParser
import Edge

@main
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Follows this host's security logs and sends account activity to the relay.",
        discussion: """
            The log follower, detection rules and delivery (edge run, check-config, test-rules,
            read-evtx) are being built; see docs/ for what exists today.
            """,
        version: EdgeAgent.version
    )
}
