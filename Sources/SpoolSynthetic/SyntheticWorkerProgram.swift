#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolCore

/// The synthetic worker's program: what `spool-synthetic-worker` runs, and `spool` too when it
/// is started under that name (the portable bundle ships one executable, `spool`, with
/// `spool-synthetic-worker` a link to it: each carries the Swift runtime and Foundation, 57 MB).
///
///     spool-synthetic-worker [--trim none|helios] [--frame-cost-ms N] [--steps N] [--load-seconds S]
///                            [--fault KIND[:N]]... [--gate PATH[@N]] [--checkpoints on|off] [--seam | --freeze] [--tone]
///
/// Protocol 1 (per job): reads one request on stdin and writes its test-pattern chunks.
/// Protocol 2 (resident, when $SPOOL_PROTOCOL is 2): loads once, then serves a job per
/// request line on stdin until it closes. See Pipelines/README.md.
public enum SyntheticWorkerProgram {
    /// Runs the worker with `arguments` (the command line after the program's name) and exits.
    public static func main(_ arguments: [String]) -> Never {
        var arguments = arguments[...]
        func fail(_ message: String, code: Int32 = 64) -> Never {
            FileHandle.standardError.write(Data("spool-synthetic-worker: \(message)\n".utf8))
            exit(code)
        }

        var worker = SyntheticWorker()
        while let argument = arguments.popFirst() {
            if argument == "--tone" {
                worker.tone = true
                continue
            }
            // Flags: a visible jump at every chunk boundary, or frozen chunks (SyntheticWorker.Artefact).
            if let artefact = SyntheticWorker.Artefact(rawValue: String(argument.dropFirst(2))), argument.hasPrefix("--") {
                worker.artefact = artefact
                continue
            }
            guard let value = arguments.popFirst() else { fail("\(argument) needs a value") }
            switch argument {
            case "--trim":
                guard let trim = ChunkPlan.Trim(rawValue: value) else { fail("--trim takes none or helios") }
                worker.trim = trim
            case "--frame-cost-ms":
                guard let cost = Double(value), cost >= 0 else { fail("--frame-cost-ms takes a number") }
                worker.frameCostMilliseconds = cost
            case "--load-seconds":
                guard let seconds = Double(value), seconds >= 0 else { fail("--load-seconds takes a number of seconds") }
                worker.loadSeconds = seconds
            case "--steps":
                guard let steps = Int(value), steps > 0 else { fail("--steps takes a positive number") }
                worker.stepsPerChunk = steps
            case "--fault":
                guard let fault = SyntheticWorker.Fault(parsing: value) else { fail("unknown fault \(value)") }
                worker.faults.append(fault)
            case "--gate":
                guard let gate = SyntheticWorker.Gate(parsing: value) else { fail("--gate takes PATH or PATH@CHUNK") }
                worker.gate = gate
            case "--checkpoints":
                guard value == "on" || value == "off" else { fail("--checkpoints takes on or off") }
                worker.checkpoints = value == "on"
            default:
                fail("unknown option \(argument)")
            }
        }

        // This worker stands in for a model on a GPU, which leaves the host's CPU to the daemon;
        // drawing test patterns on the CPU instead, it yields to the daemon the way that model would.
        #if canImport(Glibc)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif

        if let override = ProcessInfo.processInfo.environment["SPOOL_SYNTHETIC_FRAME_COST_MS"], let cost = Double(override) {
            worker.frameCostMilliseconds = cost
        }
        if let override = ProcessInfo.processInfo.environment["SPOOL_SYNTHETIC_STEPS"], let steps = Int(override), steps > 0 {
            worker.stepsPerChunk = steps
        }
        if let override = ProcessInfo.processInfo.environment["SPOOL_SYNTHETIC_LOAD_SECONDS"], let seconds = Double(override) {
            worker.loadSeconds = seconds
        }
        // One gate, or several separated by ";" (PATH@N;PATH@M).
        if let gates = ProcessInfo.processInfo.environment["SPOOL_SYNTHETIC_GATE"] {
            worker.gates = gates.split(separator: ";").compactMap { SyntheticWorker.Gate(parsing: String($0)) }
        }
        if let faults = ProcessInfo.processInfo.environment["SPOOL_SYNTHETIC_FAULTS"] {
            worker.faults += faults.split(separator: ",").compactMap { SyntheticWorker.Fault(parsing: String($0)) }
        }

        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        func writeLine(_ line: String) {
            let data = Array((line + "\n").utf8)
            data.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                    if n <= 0 { exit(74) }
                    offset += n
                }
            }
        }

        /// An event, and in protocol 2 the job it belongs to, as one line.
        struct Line: Encodable {
            var event: WorkerEvent
            var jobID: String?

            func encode(to encoder: any Encoder) throws {
                try event.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encodeIfPresent(jobID, forKey: .jobID)
            }

            enum Key: String, CodingKey { case jobID = "job_id" }
        }

        if ProcessInfo.processInfo.environment["SPOOL_PROTOCOL"] == String(WorkerRequest.residentProtocolVersion) {
            let code = SyntheticResidentWorker(worker: worker).serve(
                emit: { event, job in writeLine(String(decoding: try! encoder.encode(Line(event: event, jobID: job)), as: UTF8.self)) },
                emitRaw: writeLine)
            exit(code)
        }

        let input = FileHandle.standardInput.readDataToEndOfFile()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let request: WorkerRequest
        do {
            request = try decoder.decode(WorkerRequest.self, from: input)
        } catch {
            fail("cannot read the job request on stdin: \(error)", code: 65)
        }
        guard request.protocol == WorkerRequest.protocolVersion else {
            fail("protocol \(request.protocol) is not supported; this worker speaks \(WorkerRequest.protocolVersion)", code: 65)
        }
        let code = worker.runOnce(
            request,
            emit: { event in writeLine(String(decoding: try! encoder.encode(event), as: UTF8.self)) },
            emitRaw: writeLine)
        exit(code)
    }
}
