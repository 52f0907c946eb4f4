import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import Plumbing
import ServiceLifecycle
import Wire

/// Builds the relay's services from a configuration. `relay run` and the tests both call it.
/// `clock` is the time of day every part reads (intake, pipeline, delivery): tests may set it.
package struct RelayApp: Sendable {
    package static let version = ProductVersion.string

    package let configuration: RelayConfiguration
    package let intake: Intake
    package let store: Store
    package let pipeline: Pipeline
    package let keys: KeyRing
    package let udpListeners: [UDPListener]
    package let tcpListeners: [TCPListener]
    /// `/metrics`, `/healthz` and the status page, unless switched off.
    package let statusServer: StatusServer?
    /// Alerts to chat robots, when any is configured.
    package let delivery: Delivery?
    /// The passkey file this start created, if it did (first run on the embedded default).
    package let createdPasskeyFile: String?
    let logger: Logger

    package init(
        configuration: RelayConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, clock: WallClock = .system,
        waitClock: any Clock<Duration> = ContinuousClock(), logger: Logger
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let (keys, created) = try KeyRing.load(configuration)
        self.keys = keys
        createdPasskeyFile = created
        let store = try Store(directory: configuration.dataDirectory)
        self.store = store
        let intake = try Intake(configuration: configuration, keys: keys, store: store, logger: logger, clock: clock)
        self.intake = intake
        let journal = try IncidentJournal(path: configuration.dataDirectory.appendingPathComponent("incidents.jsonl").path)
        pipeline = try Pipeline(
            intake: intake, store: store, journal: journal, rules: configuration.correlationRules, allowlist: configuration.allowlist,
            settings: configuration.pipeline, clock: clock, logger: logger)
        udpListeners = configuration.listeners.filter { $0.transport == .udp }.map {
            UDPListener(listener: $0, intake: intake, group: group, limits: configuration.limits, logger: logger)
        }
        let tlsContext = try configuration.tls.map(TLSSetup.serverContext)
        let (connections, lowered) = ConnectionTable.fitted(
            configuration.limits, known: configuration.edgeSources.values.flatMap { $0 } + (configuration.plainSyslogFrom ?? []))
        if let lowered {
            logger.warning("limits.max_connections held below the descriptors the relay may open (raise LimitNOFILE)",
                           metadata: ["configured": "\(configuration.limits.maxConnections)", "used": "\(lowered)"])
        }
        tcpListeners = configuration.listeners.filter { $0.transport != .udp }.map {
            TCPListener(listener: $0, intake: intake, group: group, limits: configuration.limits, connections: connections,
                        tls: $0.transport == .tls ? tlsContext : nil, logger: logger)
        }
        if configuration.channels.isEmpty {
            delivery = nil
        } else {
            let channels = try configuration.channels.map { try $0.resolve() }
            let delivery = Delivery(
                channels: channels, outbox: store, counters: intake.counters,
                proxy: try configuration.proxy.map { p in
                    .server(host: p.host, port: p.port, authorization: try p.credentials.map { source in
                        // user:password; AsyncHTTPClient base64-encodes it.
                        let text = try source.read()
                        let colon = text.firstIndex(of: ":") ?? text.endIndex
                        return .basic(username: String(text[..<colon]), password: String(text[colon...].dropFirst()))
                    })
                }, trustedCAFile: configuration.outboundCAFile, clock: clock, logger: logger)
            if let analysis = configuration.analysis { try delivery.use(analysis, store: store, waitClock: waitClock) }
            pipeline.routeAlerts({ change in
                switch change {
                case .opened(let incident): delivery.channels(for: incident)
                case .escalated(let incident, let from): delivery.channels(for: incident, escalatedFrom: from)
                case .updated, .closed: []
                }
            }, queued: { _ in delivery.wake() })
            self.delivery = delivery
        }
        // Secret files others may read: said once at start, with what to do.
        for warning in SecretFile.warnings { logger.warning("\(warning)") }
        let source = StatusSource(intake: intake, pipeline: pipeline, listeners: configuration.listeners.map(\.description))
        statusServer = configuration.http.map { StatusServer(address: $0, app: source, group: group, logger: logger) }
    }

    /// The listeners, the pipeline (store, correlation, journal) and housekeeping. Observers
    /// of the pipeline (the console, tests) register before these run.
    package var services: [any Service] {
        udpListeners.map { $0 as any Service } + tcpListeners.map { $0 as any Service }
            + [pipeline, Housekeeping(intake: intake, every: .seconds(configuration.tickSeconds))]
            + (statusServer.map { [$0 as any Service] } ?? [])
            + (delivery.map { [$0 as any Service] } ?? [])
    }
}

/// Periodic chores (expire fragments, raise edge losses and silences, save the registry);
/// saves once more on shutdown.
struct Housekeeping: Service {
    let intake: Intake
    let every: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: every)) != nil else { return }
                intake.tick()
            }
        }
        intake.save()
    }
}
