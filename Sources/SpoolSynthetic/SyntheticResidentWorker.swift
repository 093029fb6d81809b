#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore
import Synchronization

/// The synthetic worker as a resident worker (protocol 2): it "loads" once (sleeping
/// ``SyntheticWorker/loadSeconds``), says `ready` with its process id, then serves one job
/// per request line on stdin, each event carrying the job's id, until stdin closes. A
/// `cancel` line for the job in flight stops it at its next step.
public struct SyntheticResidentWorker: Sendable {
    public var worker: SyntheticWorker

    public init(worker: SyntheticWorker) {
        self.worker = worker
    }

    /// What a line on stdin asks for.
    private enum Input: Sendable {
        case job(WorkerRequest)
        case end
    }

    /// Serves until stdin closes; returns the exit status. `emit` writes one event line,
    /// with the job it belongs to.
    public func serve(emit: @escaping (WorkerEvent, String?) -> Void, emitRaw: @escaping (String) -> Void) -> Int32 {
        let loaded = worker.load()
        let ready = WorkerEvent.ready(WorkerReady(
            protocol: WorkerRequest.residentProtocolVersion, worker: worker.name, loadSeconds: loaded, pid: getpid()))
        emit(ready, nil)

        let inbox = Inbox()
        Thread { inbox.readStdin() }.start()
        var served = 0
        while true {
            guard case .job(let request) = inbox.next() else { return 0 }
            inbox.current(request.jobId)
            let faults = worker.faults
            if faults.contains(.readyTwice) { emit(ready, nil) }
            if faults.contains(.failJobs) {
                emit(.failed(message: "synthetic fault: refusing job \(request.jobId)"), request.jobId)
                continue
            }
            var first = true
            let ending = worker.run(
                request,
                emit: { event in
                    var owner = request.jobId
                    if first, case .chunk = event, faults.contains(.chunkForAnotherJob) { owner = "another-job" }
                    if case .chunk = event { first = false }
                    emit(event, owner)
                },
                emitRaw: emitRaw,
                isCancelled: { !faults.contains(.ignoreCancel) && inbox.isCancelled })
            inbox.current(nil)
            switch ending {
            case .done: break
            case .cancelled: emit(.cancelled, request.jobId)
            case .failed(let message): emit(.failed(message: message), request.jobId)
            case .exit(let code): return code
            }
            served += 1
            if faults.contains(.exitAfterJob) { return 0 }
            for case .crashAfterJobs(let n) in faults where served >= n {
                worker.log("synthetic fault: crashing between jobs, after \(served)")
                signal(SIGABRT, SIG_DFL)
                raise(SIGABRT)
            }
        }
    }

    /// Lines read from stdin by a thread of its own: job requests queue up; a cancel marks
    /// the job in flight.
    private final class Inbox: Sendable {
        private struct State {
            var queue: [Input] = []
            var currentJob: String?
            /// Jobs a cancel named, whether or not they had started when it came.
            var cancelled: Set<String> = []
        }

        private let state = Mutex(State())
        private let arrived = DispatchSemaphore(value: 0)

        func readStdin() {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            while let line = readLine(strippingNewline: true) {
                let data = Data(line.utf8)
                if let request = try? decoder.decode(WorkerRequest.self, from: data), request.type == "job" {
                    push(.job(request))
                } else if let cancel = try? decoder.decode(WorkerCancel.self, from: data), cancel.type == "cancel" {
                    _ = state.withLock { $0.cancelled.insert(cancel.jobId) }
                } else {
                    FileHandle.standardError.write(Data("spool-synthetic-worker: ignoring a line it cannot read: \(line)\n".utf8))
                }
            }
            push(.end)
        }

        private func push(_ input: Input) {
            state.withLock { $0.queue.append(input) }
            arrived.signal()
        }

        func next() -> Input {
            arrived.wait()
            return state.withLock { $0.queue.removeFirst() }
        }

        func current(_ job: String?) {
            state.withLock { $0.currentJob = job }
        }

        var isCancelled: Bool { state.withLock { state in state.currentJob.map { state.cancelled.contains($0) } ?? false } }
    }
}
