import Foundation
import Wire

/// Everything the relay needs to run. The defaults are the embedded configuration that
/// `relay run` uses without a file: syslog over UDP and TCP on 127.0.0.1:5514, the store in
/// `./relay-data/`, incidents on the console.
package struct RelayConfiguration: Sendable {
    package struct Listener: Sendable, Hashable, CustomStringConvertible {
        package enum Transport: String, Sendable, Hashable {
            /// `tls` is syslog over TLS (RFC 5425): TCP with octet counting inside TLS.
            case udp, tcp, tls
        }

        package var transport: Transport
        /// An address of one interface (the relay listens on the internal side only).
        package var host: String
        /// 0 picks a free port (tests).
        package var port: Int

        package init(transport: Transport, host: String, port: Int) {
            self.transport = transport
            self.host = host
            self.port = port
        }

        package var description: String {
            host.contains(":") ? "\(transport)://[\(host)]:\(port)" : "\(transport)://\(host):\(port)"
        }
    }

    package struct Limits: Sendable, Hashable {
        /// Largest syslog message accepted, in bytes (UDP datagram or TCP frame).
        package var maxMessageBytes = 65_536
        /// Most TCP connections open at once, over all listeners; more are closed on accept.
        /// Held below the descriptors the process may open (RLIMIT_NOFILE), with room left
        /// for the store, the robots and the model.
        package var maxConnections = 1024
        /// Most TCP connections open at once from one address.
        package var maxConnectionsPerSource = 64
        /// A TCP connection that completes no syslog message for this long is closed (bytes
        /// that never make a message do not keep it open).
        package var idleTimeoutSeconds = 300
        /// A TCP connection is closed after this long whatever it does (a sender reconnects;
        /// an edge resends what it is unsure of, and duplicates are refused).
        package var maxConnectionSeconds = 86_400
        /// A TLS connection must complete its handshake within this.
        package var tlsHandshakeSeconds = 10
        /// Items waiting between intake and processing; past it new items are dropped and counted.
        /// (A million: the bytes below are the bound that matters; a flood the pipeline
        /// falls behind on for a few seconds waits here instead of being dropped.)
        package var queueDepth = 1_000_000
        /// Bytes those items may hold in all (their lines and fields, estimated); past it new
        /// items are dropped and counted, and the relay raises an incident.
        package var queueBytes = 256 << 20
        /// Plain syslog messages one sender may send a second (a burst of one second's worth
        /// is allowed); past it they are dropped and counted. Edge frames are not limited.
        package var plainPerSenderPerSecond = 100_000

        package init() {}
    }

    package var listeners: [Listener]
    /// Where the store, the passkey (when generated) and the journals live.
    package var dataDirectory: URL
    /// Where the passkey comes from; nil means `<data>/passkey`, generated on first start.
    package var passkey: SecretSource?
    /// The passkey before the current one, accepted beside it while edges move to their new
    /// keys (`passkey_previous_file`); nil outside a rotation.
    package var passkeyPrevious: SecretSource?
    /// Each listed edge's key generations, the current first and, during a rotation, the one
    /// it replaces (`edges.key_generations`); edges not listed use generation 1.
    package var edgeKeyGenerations: [String: [UInt16]] = [:]
    package var limits: Limits
    package var freshness: Freshness
    /// When edges count as silent and gaps as losses.
    package var edgePolicy = EdgeRegistry.Policy()
    /// Addresses each listed edge may send from (by edge id); others may send from anywhere.
    package var edgeSources: [String: [IPRange]] = [:]
    /// Plain syslog (anything that is not an edge frame): taken from every sender (nil, the
    /// default), from none (`plain_syslog: off`: edges only), or from these forwarders.
    /// Edge frames are taken whatever this says: they prove where they come from.
    package var plainSyslogFrom: [IPRange]? = nil
    /// Host names each listed edge's events may name (`*`: any, for an edge reading a log
    /// server's files). Edges not listed speak for their id and the first host they name.
    package var edgeHosts: [String: [String]] = [:]
    /// How often the relay expires fragments, checks edges and saves its registry.
    package var tickSeconds = 5
    /// Correlation rules, in the order they are tried (the built-in set unless changed).
    package var correlationRules = CorrelationRule.builtin
    /// Expected activity that must not become incidents.
    package var allowlist: [Allowance] = []
    /// Store retention and batching.
    package var pipeline = Pipeline.Settings()
    /// What the console shows: incidents only, or every event as well.
    package var consoleEvents = false
    /// Chat robots alerts go to; none: incidents stay on the console, in the store and journal.
    package var channels: [ChannelSettings] = []
    /// The model asked for an analysis of each alerted incident; nil: none.
    package var analysis: AnalysisSettings?
    /// An HTTP proxy for reaching the robots (gateways often reach the internet only so).
    package var proxy: HTTPAddress?
    /// PEM certificates of authorities trusted for HTTPS and WSS to the robots and the model,
    /// besides the system's (a model or webhook inside the air gap, signed by an internal CA).
    package var outboundCAFile: String?

    /// Certificate and key for `tls` listeners.
    package var tls: TLSFiles?

    package struct TLSFiles: Sendable, Hashable {
        /// PEM: the relay's certificate, then any intermediates.
        package var certificateFile: String
        /// PEM: its private key.
        package var keyFile: String
        /// PEM: when set, clients must present a certificate signed by one of these (mutual TLS).
        package var clientCAFile: String?

        package init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.clientCAFile = clientCAFile
        }
    }

    /// Where `/metrics`, `/healthz` and the status page are served; nil: nowhere.
    package var http: HTTPAddress? = HTTPAddress(host: "127.0.0.1", port: 9514)

    package struct HTTPAddress: Sendable, Hashable {
        package var host: String
        package var port: Int
        /// `user:password` for a proxy that asks for them (Basic); a secret.
        package var credentials: SecretSource?
        package init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    package init(
        listeners: [Listener] = RelayConfiguration.defaultListeners,
        dataDirectory: URL = URL(fileURLWithPath: "relay-data"),
        passkey: SecretSource? = nil, limits: Limits = Limits(), freshness: Freshness = Freshness()
    ) {
        self.listeners = listeners
        self.dataDirectory = dataDirectory
        self.passkey = passkey
        self.limits = limits
        self.freshness = freshness
    }

    package static let defaultListeners = [
        Listener(transport: .udp, host: "127.0.0.1", port: 5514),
        Listener(transport: .tcp, host: "127.0.0.1", port: 5514),
    ]

    /// The embedded default.
    package static let embedded = RelayConfiguration()
}

/// A relay failure to report to the operator. Never carries secret material.
package struct RelayError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
