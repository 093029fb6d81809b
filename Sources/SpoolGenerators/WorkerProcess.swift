#if canImport(Glibc)
import Glibc
#endif
import CSpoolSystem
import Foundation

/// A child process in its own process group, with pipes on its stdin, stdout and stderr.
final class WorkerProcess: Sendable {
    let pid: pid_t
    /// The process group: equal to `pid`, and shared by everything the worker starts.
    var processGroup: pid_t { pid }
    let stdout: Int32
    let stderr: Int32
    /// The write end of its stdin, while it stays open (a resident worker); -1 otherwise.
    let stdin: Int32

    /// Spawns `argv` with `environment` in `workDir`, writes `input` to its stdin and closes
    /// it; with `input` nil, stdin stays open (non-blocking) for ``writeLine(_:)``.
    init(argv: [String], environment: [String: String], workDir: String, input: Data?) throws(GenerationError) {
        guard let executable = Self.resolve(argv[0], path: environment["PATH"]) else {
            throw GenerationError(.spawnFailed, "cannot start the worker: \(argv[0]) was not found or is not executable")
        }
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard spool_pipe_cloexec(&inPipe) == 0, spool_pipe_cloexec(&outPipe) == 0, spool_pipe_cloexec(&errPipe) == 0 else {
            throw GenerationError(.spawnFailed, "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var child: pid_t = 0
        let rc = spool_spawn(executable, cArgv, cEnv, workDir, inPipe[0], outPipe[1], errPipe[1], &child)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw GenerationError(.spawnFailed, "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        // Recorded at once, before anything else can happen to the daemon: one killed between
        // the spawn and a later record left a worker no restart could find (it hung, silent,
        // for ever; seen under a loaded test run).
        OrphanReaper.record(processGroup: child, workDir: workDir)
        stdout = outPipe[0]
        stderr = errPipe[0]
        guard let input else {
            // Kept open: a worker that stops reading must never block the daemon's writes.
            _ = fcntl(inPipe[1], F_SETFL, fcntl(inPipe[1], F_GETFL) | O_NONBLOCK)
            stdin = inPipe[1]
            return
        }
        stdin = -1
        // The request is small (a prompt is at most 4,000 characters), far below a pipe's
        // buffer, so this never blocks on a worker that does not read it.
        input.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(inPipe[1], bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
        close(inPipe[1])
    }

    /// Writes one line to the open stdin. False when the worker has stopped reading (its pipe
    /// is full) or is gone.
    func writeLine(_ data: Data) -> Bool {
        guard stdin >= 0 else { return false }
        let line = data + Data("\n".utf8)
        return line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(stdin, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Closes the open stdin: a resident worker reads EOF and exits.
    func closeStdin() {
        if stdin >= 0 { close(stdin) }
    }

    /// Signals every process in the worker's group.
    func signalGroup(_ signal: Int32) {
        _ = spool_kill_group(processGroup, signal)
    }

    /// Blocks until the worker exits; returns (status, killedBySignal).
    func waitForExit() -> (status: Int32, signaled: Bool) {
        var signaled: Int32 = 0
        let status = spool_wait_exit(pid, &signaled)
        return (status, signaled != 0)
    }

    /// Processes still alive in the worker's group, zombies excluded.
    static func liveProcesses(inGroup group: pid_t) -> Int {
        Int(spool_count_live_in_group(group))
    }

    /// `name` if it contains a slash, else the first executable match on `path`.
    static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
