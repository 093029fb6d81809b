import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import SpoolAPIModel
import SpoolSupport
import SpoolCore

/// How this host sends webhooks.
public struct WebhookSenderConfiguration: Sendable {
    /// This host's name: it holds the leases of the deliveries it sends.
    public var host: String
    public var secret: WebhookSecret
    /// A tenant's own secret (`webhookSecret` in `--tokens`), which signs its jobs' webhooks in
    /// place of ``secret``; nil: every webhook is signed with the host's.
    public var tenantSecret: (@Sendable (String) -> WebhookSecret?)?
    public var policy: WebhookRetryPolicy
    /// Where webhooks may go.
    public var targets: WebhookTargetRule
    /// The longest a try may take, connecting included.
    public var timeoutSeconds: Double
    /// How long a claimed delivery is this host's: longer than a try can take.
    public var leaseSeconds: Double
    /// Deliveries sent at once.
    public var concurrency: Int
    /// How often due retries (and deliveries owed by other hosts' jobs) are looked for
    /// when nothing wakes the sender sooner.
    public var pollSeconds: Double
    /// Looks a receiver's name up for the private-address check: the system's resolver
    /// (getaddrinfo) unless a test puts one it controls here.
    public var resolve: @Sendable (String) async throws -> [String] = WebhookSender.resolve

    public init(
        host: String, secret: WebhookSecret, policy: WebhookRetryPolicy = .standard, targets: WebhookTargetRule = WebhookTargetRule(),
        timeoutSeconds: Double = 15, concurrency: Int = 16, pollSeconds: Double = 1
    ) {
        self.host = host
        self.secret = secret
        self.policy = policy
        self.targets = targets
        self.timeoutSeconds = timeoutSeconds
        leaseSeconds = timeoutSeconds * 2 + 30
        self.concurrency = concurrency
        self.pollSeconds = pollSeconds
    }
}

/// Sends the webhook deliveries the store holds: claims the due ones under a lease, signs
/// and POSTs each (Standard Webhooks), and records how each try went, retrying on the
/// policy's schedule. Every host runs one; the lease makes each delivery one host's at a time.
///
/// It stops after the dispatcher (see `SpoolHost.services(doors:)`), so jobs finishing in a
/// graceful shutdown get their first try; what a stop leaves pending waits in the store.
public final class WebhookSender: Service {
    let store: any JobStore
    let events: JobEventHub
    let configuration: WebhookSenderConfiguration
    public let statistics: WebhookStatistics
    let clock: any WallClock
    let logger: Logger
    private let wake = WakeSignal()
    private let inFlight = Atomic<Int>(0)
    /// The earliest retry this host has scheduled and not yet looked for: the sender wakes
    /// for it rather than at the next poll.
    private let soonestRetry = Mutex<Date?>(nil)

    public init(
        store: any JobStore, events: JobEventHub, configuration: WebhookSenderConfiguration,
        statistics: WebhookStatistics = WebhookStatistics(), clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.store = store
        self.events = events
        self.configuration = configuration
        self.statistics = statistics
        self.clock = clock
        self.logger = logger
    }

    /// How every try's client behaves; `pinning` a name to the address that was checked.
    func clientSettings(pinning: [String: String] = [:]) -> HTTPClient.Configuration {
        var settings = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(Int64(configuration.timeoutSeconds)), read: .seconds(Int64(configuration.timeoutSeconds))))
        settings.decompression = .disabled
        // A receiver that refuses connections has answered: the try fails now and waits for
        // its retry, rather than being retried inside the client until its deadline.
        settings.connectionPool.retryConnectionEstablishment = false
        settings.dnsOverride = pinning
        return settings
    }

    public func run() async throws {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: clientSettings())
        // A job's change of state may owe a delivery: look at once rather than at the next poll.
        let listener = Task { [events, wake] in
            for await event in events.subscribe() {
                if case .state = event.kind { wake.signal() }
            }
        }
        do {
            try await store.releaseWebhookLeases(host: configuration.host)
        } catch {
            logger.warning("could not release the webhook leases of this host's previous run", metadata: ["error": "\(error)"])
        }
        // Up to `concurrency` tries in flight; a slow receiver holds one of them, never the rest.
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    let free = configuration.concurrency - inFlight.load(ordering: .relaxed)
                    let due = free > 0 ? await claim(limit: free) : []
                    for delivery in due {
                        inFlight.add(1, ordering: .relaxed)
                        group.addTask {
                            await self.deliver(delivery, client)
                            self.inFlight.subtract(1, ordering: .relaxed)
                            self.wake.signal()
                        }
                    }
                    if due.isEmpty { await wake.wait(seconds: pause()) }
                }
            }
        } onGracefulShutdown: { [wake] in
            wake.signal()
        }
        listener.cancel()
        try? await client.shutdown()
    }

    /// How long to wait before looking again: the poll interval, or less when a retry this
    /// host scheduled falls due sooner.
    func pause() -> Double {
        let now = clock.now()
        return soonestRetry.withLock { soonest in
            guard let due = soonest else { return configuration.pollSeconds }
            if due <= now { soonest = nil }
            return min(configuration.pollSeconds, max(0.001, due.timeIntervalSince(now)))
        }
    }

    /// Leases up to `limit` due deliveries to this host.
    func claim(limit: Int) async -> [WebhookDelivery] {
        let now = clock.now()
        do {
            return try await store.claimWebhookDeliveries(WebhookClaim(
                host: configuration.host, now: now, leaseUntil: now.addingTimeInterval(configuration.leaseSeconds), limit: limit))
        } catch {
            logger.warning("could not claim webhook deliveries", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// One try of one delivery, recorded.
    func deliver(_ delivery: WebhookDelivery, _ client: HTTPClient) async {
        let payload: String
        let secret: WebhookSecret
        do {
            // The job is read for the first try's body, and for whose secret signs it (only
            // when tenants may have their own: a retry without them sends the kept bytes unread).
            let job = delivery.payload == nil || configuration.tenantSecret != nil ? try await store.job(delivery.jobID) : nil
            payload = try delivery.payload ?? render(delivery, job: job)
            secret = job?.tenant.flatMap { configuration.tenantSecret?($0) } ?? configuration.secret
        } catch {
            logger.warning("could not read the job a webhook is about", metadata: ["job": "\(delivery.jobID)", "error": "\(error)"])
            return  // the lease ends and it is tried again
        }
        let started = clock.now()
        let answer = await send(delivery, payload: payload, secret: secret, client)
        let ended = clock.now()
        let (state, next, error) = configuration.policy.decide(
            answer, triesBefore: delivery.tries.count, createdAt: delivery.createdAt, now: ended)
        var status: Int?
        if case .status(let code, _) = answer { status = code }
        let attempt = WebhookDelivery.Try(
            at: started, statusCode: status, error: state == .delivered ? nil : error,
            seconds: ended.timeIntervalSince(started), host: configuration.host)
        let record = WebhookTryRecord(
            delivery: delivery.id, host: configuration.host, attempt: attempt, payload: payload, state: state,
            nextAttemptAt: next, lastError: error)
        do {
            guard try await store.recordWebhookTry(record) else {
                logger.notice("a webhook delivery's lease ended before its try was recorded", metadata: ["delivery": "\(delivery.id)"])
                return
            }
        } catch {
            logger.warning("could not record a webhook try", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
            return
        }
        if let next {
            soonestRetry.withLock { soonest in soonest = min(soonest ?? next, next) }
        }
        statistics.count(state)
        let metadata: Logger.Metadata = [
            "job": "\(delivery.jobID)", "event": "\(delivery.event.rawValue)", "delivery": "\(delivery.id)",
            "try": "\(delivery.tries.count + 1)",
        ]
        switch state {
        case .delivered: logger.debug("webhook delivered", metadata: metadata)
        case .pending: logger.info("webhook try failed; retrying at \(next.map { "\($0)" } ?? "-")", metadata: metadata.merging(["error": "\(error ?? "")"]) { $1 })
        case .abandoned: logger.warning("webhook abandoned: \(error ?? "")", metadata: metadata)
        }
    }

    /// The body: `{"type", "timestamp", "data": <the job resource>}`.
    func render(_ delivery: WebhookDelivery, job: Job?) throws -> String {
        // A job that started or ended has no place in the queue to read.
        guard let job else { throw SpoolError.jobNotFound(delivery.jobID) }
        let body = WebhookBody(type: delivery.event.rawValue, timestamp: delivery.createdAt, data: JobResource(job))
        return String(decoding: try JSONEncoder.spoolAPI.encode(body), as: UTF8.self)
    }

    /// POSTs a signed message and reads the answer.
    func send(_ delivery: WebhookDelivery, payload: String, secret: WebhookSecret, _ client: HTTPClient) async -> WebhookRetryPolicy.Answer {
        if let refusal = configuration.targets.problem(delivery.url) { return .refused(refusal) }
        if configuration.targets.mustCheckAddresses(of: delivery.url), let host = WebhookTarget.host(of: delivery.url) {
            let addresses: [String]
            do {
                addresses = try await configuration.resolve(host)
            } catch {
                return .noAnswer("\(error)")
            }
            if let refusal = configuration.targets.refusal(host: host, addresses: addresses) { return .refused(refusal) }
            // DNS rebinding: a name that answers a public address to the check and a private
            // one to the client's own lookup would get through. The try connects to the address
            // that was checked (the client's DNS override); the URL keeps the name, so the Host
            // header and TLS's server name and certificate check are the name's (issue 27).
            guard let checked = addresses.first else { return .noAnswer("\(host) resolves to no address") }
            let pinned = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: clientSettings(pinning: [host: checked]))
            let answer = await post(delivery, payload: payload, secret: secret, pinned)
            try? await pinned.shutdown()
            return answer
        }
        return await post(delivery, payload: payload, secret: secret, client)
    }

    /// POSTs the signed message with `client` and reads the answer.
    func post(_ delivery: WebhookDelivery, payload: String, secret: WebhookSecret, _ client: HTTPClient) async -> WebhookRetryPolicy.Answer {
        let timestamp = Int(clock.now().timeIntervalSince1970)
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Spool/\(Spool.version)")
        request.headers.add(name: "webhook-id", value: delivery.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: secret.signature(id: delivery.id, timestamp: timestamp, body: payload))
        request.body = .bytes(ByteBuffer(string: payload))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(configuration.timeoutSeconds * 1_000)))
            // What the receiver says is not kept; read a little of it so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 << 10)
            let retryAfter = response.headers.first(name: "retry-after").flatMap { Self.retryAfter($0, now: clock.now()) }
            return .status(Int(response.status.code), retryAfter: retryAfter)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .noAnswer("no answer within \(Int(configuration.timeoutSeconds)) s")
        } catch {
            return .noAnswer("could not reach \(delivery.url): \(error)")
        }
    }

    /// `Retry-After`: seconds, or an HTTP date.
    static func retryAfter(_ text: String, now: Date) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: trimmed).map { max(0, $0.timeIntervalSince(now)) }
    }

    /// The addresses a name resolves to, looked up on a thread of its own (getaddrinfo blocks).
    @Sendable public static func resolve(_ host: String) async throws -> [String] {
        try await onOwnThread("spool-resolve") {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &list)
            guard status == 0 else { throw Failure("cannot resolve \(host): \(String(cString: gai_strerror(status)))") }
            defer { freeaddrinfo(list) }
            var addresses: [String] = []
            var entry = list
            while let current = entry {
                var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                    addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
                entry = current.pointee.ai_next
            }
            return addresses
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// What a webhook's body holds.
struct WebhookBody: Encodable {
    var type: String
    var timestamp: Date
    var data: JobResource
}
