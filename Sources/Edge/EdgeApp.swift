import Detection
import Foundation
import Logging
import ServiceLifecycle
import Wire

/// Builds the edge from its configuration: `edge run` and the tests call it.
package struct EdgeApp: Sendable {
    package let configuration: EdgeConfiguration
    package let reader: EdgeReader
    package let sender: EdgeSender
    package let spool: Spool

    /// `eventLog`: where Windows event log channels come from (the platform's own; tests
    /// give a scripted one).
    package init(configuration: EdgeConfiguration, logger: Logger, eventLog: (any EventLogSubscription)? = EventLogSubscriptions.native) throws {
        self.configuration = configuration
        let key = try configuration.readKey()
        var rules = RuleSet.builtin
        for file in configuration.ruleFiles { rules = rules.applying(try RuleLoader.load(file: file)) }
        spool = try Spool(directory: configuration.stateDirectory + "/spool", maxBytes: configuration.spool.maxBytes)
        sender = EdgeSender(configuration: configuration, spool: spool, key: key, logger: logger)
        reader = try EdgeReader(configuration: configuration, detector: Detector(rules: rules), spool: spool, sender: sender, key: key, logger: logger, eventLog: eventLog)
    }

    /// The reader's thread as a service: it stops, spooling what it read, on shutdown.
    package var readerService: some Service { ReaderService(reader: reader) }
}

struct ReaderService: Service {
    let reader: EdgeReader

    func run() async throws {
        let reader = self.reader
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        reader.run()
                        done.resume()
                    }
                    thread.name = "edge-reader"
                    thread.start()
                }
            } onGracefulShutdown: {
                reader.stop()
            }
        } onCancel: {
            reader.stop()
        }
    }
}
