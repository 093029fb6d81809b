import HTTPTypes
import NIOCore
import NIOHTTPTypes
import SpoolAPIModel
import SpoolCore
import SpoolScheduler

/// Answers `GET /v1/jobs/{id}`, the request dashboards repeat all day, inside the channel
/// pipeline, on the event loop that decoded it.
///
/// Through the router a request is handed to the connection's task and its response back to
/// the channel: 150–190 µs of CPU per request on this 2-core VM at 2,000–5,000 requests/s
/// (`scripts/bench-http.sh`), almost all of it in that hand-over, while reading the job
/// (a prepared SQLite statement) and writing its JSON take about 15 µs. Answered here, a
/// poll is one store read and one write.
///
/// Everything else goes to the router unchanged: other routes, a job that is not found (so
/// the router writes the same 404), a store error, a request without the bearer token (so
/// the router writes the same 401), and `Connection: close`. Responses leave in request
/// order: while the router still owes a response on this connection, polls go to it too.
/// The bytes are the router's: the same status, headers (`Date` and `Server` included)
/// and body, which a test checks against the router's own answer.
final class JobPollHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The read goes through the operations layer, as every door's does: the same isolation,
    /// wait reasons and queue scope as the router's answer.
    private let operations: JobOperations
    private let reader: any SynchronousJobReading
    private let access: Access?
    private let serverName: String
    /// Requests handed to the router whose response has not been written yet.
    private var routed = 0
    /// The poll being received, and whom it acts for: its head is held until its end arrives.
    private var poll: (head: HTTPRequest, id: JobID, principal: Principal)?
    private var date = HTTPDate()
    private var flushPending = false

    init(operations: JobOperations, reader: any SynchronousJobReading, access: Access?, serverName: String) {
        self.operations = operations
        self.reader = reader
        self.access = access
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if routed == 0, let (id, principal) = pollID(head) {
                poll = (head, id, principal)
            } else {
                routed += 1
                context.fireChannelRead(data)
            }
        case .body:
            // A GET carries no body the router would read; drop it with the poll.
            if poll == nil { context.fireChannelRead(data) }
        case .end:
            guard let (head, id, principal) = poll else {
                context.fireChannelRead(data)
                return
            }
            poll = nil
            // Another tenant's job is the router's to answer too: the same 404 as for none.
            if let found = operations.acting(for: principal).jobWithPositionNow(id, from: reader) {
                respond(context: context, JobResource(found.job, queuePosition: found.queuePosition).jsonBytes())
            } else {
                // Not found, or the store failed: the router says which, as it always does.
                routed += 1
                context.fireChannelRead(wrapInboundOut(.head(head)))
                context.fireChannelRead(data)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routed = max(0, routed - 1) }
        context.write(data, promise: promise)
    }

    private func respond(context: ChannelHandlerContext, _ body: [UInt8]) {
        let head = HTTPResponse(status: .ok, headerFields: [
            .contentType: SpoolAPI.jsonContentType, .contentLength: String(body.count),
            .date: date.now(), .server: serverName,
        ])
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        // Flushed after the event loop has read every ready connection, as the router's
        // responses are: the client is woken once for a batch of answers, not once each.
        if !flushPending {
            flushPending = true
            context.eventLoop.assumeIsolated().execute {
                self.flushPending = false
                context.flush()
            }
        }
    }

    /// The job a request polls, when this handler may answer it.
    private func pollID(_ head: HTTPRequest) -> (JobID, Principal)? {
        guard head.method == .get, head.headerFields[.connection] == nil, let path = head.path,
            path.hasPrefix(Self.prefix)
        else { return nil }
        var id = path.utf8.dropFirst(Self.prefix.utf8.count)
        if let query = id.firstIndex(of: UInt8(ascii: "?")) { id = id[..<query] }
        // Plain ids only: anything the router would decode or reject is its to answer.
        guard !id.isEmpty, id.count <= 128, id.allSatisfy(Self.isIDByte) else { return nil }
        var principal = Principal.host
        if let access {
            guard case .allowed(let allowed) = access.decide(
                reads: true, authorization: head.headerFields[.authorization], cookies: head.headerFields[values: .cookie],
                dashboardHeader: false)
            else { return nil }
            principal = allowed
        }
        return (JobID(String(decoding: id, as: UTF8.self)), principal)
    }

    private static let prefix = "/v1/jobs/"

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
