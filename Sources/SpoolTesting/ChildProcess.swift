import Foundation
import Synchronization

/// Runs a program to completion and captures its output; for tests and benchmarks.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `arguments` (argv[0] looked up on PATH) and waits for it; in `directory` when given.
public func runProcess(
    _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil, directory: String? = nil
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot fill one and block.
    let errData = LockedBox(Data())
    let errReader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    errReader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1_000) }
    return ProcessResult(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData.value, as: UTF8.self))
}

/// A value written once by another thread.
final class LockedBox<T: Sendable>: Sendable {
    private let state: Mutex<(value: T, written: Bool)>

    init(_ value: T) { state = Mutex((value, false)) }

    func set(_ value: T) { state.withLock { $0 = (value, true) } }

    var isSet: Bool { state.withLock { $0.written } }
    var value: T { state.withLock { $0.value } }
}

extension Process {
    /// Sends SIGTERM and waits up to `timeout` seconds; then SIGKILL. Returns whether it
    /// exited by itself, so a test can fail on a daemon that ignores SIGTERM instead of hanging.
    @discardableResult
    public func terminateAndWait(timeout: Double = 15) -> Bool {
        guard isRunning else { return true }
        terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(10_000) }
        if isRunning {
            kill(processIdentifier, SIGKILL)
            waitUntilExit()
            return false
        }
        waitUntilExit()
        return true
    }
}

/// The state letter `/proc/PID/stat` gives a process (`R`, `S`, `T` stopped, `Z` zombie…),
/// or nil when there is no such process.
public func processState(_ pid: Int32) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
    // After the command name, which may itself hold spaces and parentheses.
    return stat.split(separator: ")").last?.split(separator: " ").first.map(String.init)
}
