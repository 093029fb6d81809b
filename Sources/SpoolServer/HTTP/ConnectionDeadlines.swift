import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes connections that say nothing: one that has not completed a request's head within
/// ``Timeouts/requestHead`` of opening (or sends a request in pieces with longer gaps), and
/// one left idle between requests for ``Timeouts/keepAlive``. A connection with a response
/// in progress is never timed out: a server-sent event stream stays open while its job lives.
///
/// Without it, 3,000 connections that each sent half a request line stayed open for as long
/// as their clients liked, each holding a descriptor; on a host with the common limit of
/// 1,024 the daemon would have stopped answering.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Timeouts: Sendable, Hashable {
        /// From the connection opening (or the last piece of a request) to a whole request head.
        var requestHead: TimeAmount
        /// Between a response's end and the next request's head.
        var keepAlive: TimeAmount
    }

    /// What the connection is doing, as a plain value; the handler does the I/O around it.
    struct State: Equatable {
        enum Phase: Equatable {
            /// Opened, or a request partly read: the head timeout runs from `since`.
            case reading
            /// Every request answered: the keep-alive timeout runs from `since`.
            case idle
            /// Responses owed: no timeout.
            case responding
        }

        var phase: Phase = .reading
        /// Requests whose response has not ended.
        var owed = 0
        var readingRequest = false
        /// A server-sent event stream is being written: a response that ends only when its job
        /// does, or never for a job that waits for ever.
        var streamingEvents = false

        mutating func read(_ part: HTTPRequestPart) {
            switch part {
            case .head:
                owed += 1
                readingRequest = true
            case .body:
                break
            case .end:
                readingRequest = false
            }
            phase = readingRequest ? .reading : .responding
        }

        mutating func wroteHead(_ head: HTTPResponse) {
            streamingEvents = head.headerFields[.contentType]?.hasPrefix("text/event-stream") == true
        }

        mutating func wroteEnd() {
            owed = max(0, owed - 1)
            streamingEvents = false
            if !readingRequest { phase = owed == 0 ? .idle : .responding }
        }

        /// Whether to close the connection now that the client has closed its side. Only while
        /// an event stream is written: its client has gone (a browser or `curl` that stops
        /// following closes the connection), and the stream would otherwise hold the connection
        /// in CLOSE-WAIT until its next write fails. Any other response is finished as usual
        /// for a client that half-closes after its request.
        func closesOnInputClosed() -> Bool { streamingEvents }
    }

    private let timeouts: Timeouts
    private var state = State()
    private var deadline: Scheduled<Void>?

    init(timeouts: Timeouts) {
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { rearm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        rearm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        state.read(unwrapInboundIn(data))
        rearm(context)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, state.closesOnInputClosed() {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            state.wroteHead(head)
        case .end:
            state.wroteEnd()
            rearm(context)
        case .body:
            break
        }
        context.write(data, promise: promise)
    }

    /// Starts the timeout of the current phase afresh, or none.
    private func rearm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        let delay: TimeAmount
        switch state.phase {
        case .reading: delay = timeouts.requestHead
        case .idle: delay = timeouts.keepAlive
        case .responding: return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: delay) {
            loopBound.value.close(promise: nil)
        }
    }
}
