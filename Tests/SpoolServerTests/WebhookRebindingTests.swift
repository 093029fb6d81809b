import AsyncHTTPClient
import Foundation
import Logging
import SpoolCore
import SpoolSQLite
import SpoolTesting
@testable import SpoolWebhooks
import Testing

/// DNS rebinding (issue 27): a name that answers a public address to the private-address
/// check and loopback to the HTTP client's own lookup must not reach loopback. The check's
/// resolver is the test's; the client's lookup goes through the system's, which a line of
/// the test's own in /etc/hosts points at a receiver on loopback.
@Suite("Webhook targets: DNS rebinding", .serialized, .enabled(if: PythonTools.isAvailable()))
struct WebhookRebindingTests {
    /// TEST-NET-1 (RFC 5737): not a private range, so the check lets it through, and nothing
    /// answers there.
    static let checked = "192.0.2.1"

    @Test func aTryConnectsToTheAddressThatWasCheckedNotToAnotherLookup() async throws {
        let dir = try TemporaryDirectory("rebinding")
        defer { dir.remove() }
        let name = "rebind-\(UUID().uuidString.prefix(8).lowercased()).spool.test"
        let override = try HostsFileLine("127.0.0.1 \(name)")
        defer { override.remove() }
        // The client's own lookup of the name finds loopback, as a rebinding name would answer.
        try #require(WebhookTests.resolvesToLoopback(name), "/etc/hosts did not take the test's line")

        let secret = WebhookSecret.generate()
        try secret.text.write(toFile: dir.file("secret"), atomically: true, encoding: .utf8)
        let receiver = WebhookReceiver(script: WebhookTests.receiverScript, secretFile: dir.file("secret"), log: dir.file("received.jsonl"))
        try receiver.start()
        defer { receiver.stop() }
        let url = "http://\(name):\(receiver.port)/hook"

        let store = try SQLiteJobStore(path: dir.file("spool.sqlite"))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        func sender(checkSees addresses: [String]) -> WebhookSender {
            var configuration = WebhookSenderConfiguration(host: "test", secret: secret, timeoutSeconds: 1)
            configuration.resolve = { _ in addresses }
            return WebhookSender(store: store, events: JobEventHub(), configuration: configuration, logger: Logger(label: "test"))
        }
        let delivery = WebhookDelivery(id: WebhookDelivery.newID(), jobID: JobID("rebind"), event: .succeeded, url: url, createdAt: Date(), nextAttemptAt: nil)

        // The check sees a public address: the try goes there (and gets no answer), not to
        // the receiver the client's own lookup would have found.
        let answer = await sender(checkSees: [Self.checked]).send(delivery, payload: "{}", secret: secret, client)
        guard case .noAnswer = answer else {
            Issue.record("the try was answered: \(answer); received \(receiver.entries)")
            return
        }
        #expect(receiver.entries.isEmpty, "the request reached the address of a second lookup: \(receiver.entries)")

        // The check sees loopback: refused outright, nothing sent.
        let refused = await sender(checkSees: ["127.0.0.1"]).send(delivery, payload: "{}", secret: secret, client)
        guard case .refused(let why) = refused else {
            Issue.record("a target resolving to loopback was not refused: \(refused)")
            return
        }
        #expect(why.contains("127.0.0.1"), "\(why)")
        #expect(receiver.entries.isEmpty)
        try await client.shutdown()
    }
}

/// A line appended to /etc/hosts for one test, then cut off again. Appending and truncating
/// back to the old length never leaves the file without its first lines, which other tests
/// running meanwhile resolve `localhost` from.
struct HostsFileLine {
    static let path = "/etc/hosts"
    let originalLength: off_t

    init(_ line: String) throws {
        let fd = open(Self.path, O_WRONLY | O_APPEND)
        guard fd >= 0 else {
            throw ProbeError(message: "the rebinding test appends a line to /etc/hosts and cannot open it (errno \(errno)): run the tests as root, as CI does")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ProbeError(message: "fstat /etc/hosts failed: errno \(errno)") }
        originalLength = info.st_size
        let text = Array("\n\(line)\n".utf8)
        guard write(fd, text, text.count) == text.count else { throw ProbeError(message: "writing /etc/hosts failed: errno \(errno)") }
    }

    func remove() {
        _ = truncate(Self.path, originalLength)
    }
}
