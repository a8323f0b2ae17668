import Logging
import ServiceLifecycle
import Systemd
import UnixSignals

/// The node's side of its service manager: READY=1 once every part is up, a STATUS= line every
/// few seconds, WATCHDOG=1 at half the watchdog timeout while the liveness probes answer,
/// RELOADING=1 … READY=1 around a SIGHUP reload, STOPPING=1 when graceful shutdown begins.
///
/// Last in the ServiceGroup, so the first to hear of shutdown. Without systemd (no
/// NOTIFY_SOCKET) the notifications are no-ops; SIGHUP still reloads.
final class NotifierService: Service {
    let notifier: SystemdNotifier
    let readiness: Readiness
    let status: @Sendable () -> String
    /// Runs the liveness probes within the timeout; returns the parts that did not answer.
    let probe: @Sendable (Duration) async -> [String]
    let reload: @Sendable () async -> Void
    let onShutdown: @Sendable () -> Void
    let logger: Logger
    let statusInterval: Duration

    init(
        notifier: SystemdNotifier, readiness: Readiness, statusInterval: Duration = .seconds(5),
        status: @escaping @Sendable () -> String, probe: @escaping @Sendable (Duration) async -> [String],
        reload: @escaping @Sendable () async -> Void, onShutdown: @escaping @Sendable () -> Void, logger: Logger
    ) {
        self.notifier = notifier
        self.readiness = readiness
        self.statusInterval = statusInterval
        self.status = status
        self.probe = probe
        self.reload = reload
        self.onShutdown = onShutdown
        self.logger = logger
    }

    func run() async throws {
        // Trap SIGHUP before READY=1 can be sent: a reload asked for once the manager believes
        // the node ready must not kill it (SIGHUP's default action).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let notifier = self.notifier
        let logger = self.logger
        let onShutdown = self.onShutdown
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.announce() }
                    group.addTask { await self.watchdog() }
                    group.addTask { await self.reloads(hangups) }
                }
            }
        } onGracefulShutdown: {
            notifier.stopping()
            logger.info("graceful shutdown begun")
            onShutdown()
        }
    }

    /// READY=1 (with the first status), then the status line every `statusInterval`.
    func announce() async {
        await readiness.wait()
        guard !Task.isCancelled else { return }
        notifier.ready(status: status())
        while !Task.isCancelled {
            do { try await Task.sleep(for: statusInterval) } catch { return }
            notifier.status(status())
        }
    }

    /// WATCHDOG=1 at half the timeout, withheld while a probe goes unanswered, so that systemd
    /// restarts a node whose writer or event loops are stuck.
    func watchdog() async {
        guard let timeout = notifier.watchdogTimeout else { return }
        let interval = timeout / 2
        logger.info("watchdog enabled", metadata: ["watchdog.interval": "\(interval)"])
        var healthy = true
        var next = ContinuousClock.now
        while !Task.isCancelled {
            let failing = await probe(interval / 2)
            guard !Task.isCancelled else { return }
            if failing.isEmpty {
                notifier.watchdog()
                if !healthy {
                    logger.notice("liveness probes answer again; watchdog pings resumed")
                    healthy = true
                }
            } else if healthy {
                logger.error(
                    "liveness probe unanswered; withholding watchdog pings",
                    metadata: ["watchdog.failing": "\(failing.joined(separator: ","))"])
                healthy = false
            }
            next += interval
            do { try await Task.sleep(until: next, clock: .continuous) } catch { return }
        }
    }

    /// Each SIGHUP: RELOADING=1 with MONOTONIC_USEC, the reload, READY=1 with a fresh status
    /// (READY=1 only once the node has been ready: a reload does not make it so).
    func reloads(_ hangups: UnixSignalsSequence) async {
        for await _ in hangups {
            guard !Task.isCancelled else { return }
            logger.info("reload requested (SIGHUP)")
            notifier.reloading()
            await reload()
            if readiness.isReady { notifier.ready(status: status()) }
        }
    }
}
