#if canImport(Glibc)
import Glibc
#endif
import CSpoolSystem
import Foundation
import SpoolCore
import Synchronization

/// What ``Worker`` does with a worker's output: its stdout read line by line and
/// decoded into messages, its stderr kept as a tail for error messages, each on a thread of
/// its own so that no cooperative-pool thread ever waits on a child process.
enum WorkerStreams {
    /// The longest stdout line taken: a worker printing more is broken.
    static let maxLine = 1 << 20

    /// What one stdout line was.
    enum Line {
        case message(WorkerMessage)
        /// Not a protocol message; the text, shortened for an error message.
        case garbage(String)
        case tooLong
    }

    /// Reads `fd` until EOF, handing `handle` each line, then closes it and calls `closed`.
    static func readLines(_ fd: Int32, handle: @escaping @Sendable (Line) -> Void, closed: @escaping @Sendable () -> Void) {
        thread("spool-w-stdout") {
            var pending = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let decoder = JSONDecoder()
            func emit(_ bytes: [UInt8]) {
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                if text.isEmpty { return }
                if let message = try? decoder.decode(WorkerMessage.self, from: Data(text.utf8)) {
                    handle(.message(message))
                } else {
                    handle(.garbage(text.count > 200 ? String(text.prefix(200)) + "…" : text))
                }
            }
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: buffer[0..<n])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    emit(Array(pending[..<newline]))
                    pending.removeSubrange(...newline)
                }
                if pending.count > maxLine {
                    handle(.tooLong)
                    pending.removeAll()
                }
            }
            if !pending.isEmpty { emit(pending) }
            close(fd)
            closed()
        }
    }

    /// Reads `fd` until EOF into `tail`, then closes it and calls `closed`.
    static func readStderr(_ fd: Int32, into tail: StderrTail, closed: @escaping @Sendable () -> Void) {
        thread("spool-w-stderr") {
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                tail.append(buffer[0..<n])
            }
            close(fd)
            closed()
        }
    }

    /// Runs `body` on a named thread with a small stack.
    static func thread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            spool_set_thread_name(name)
            body()
        }
        thread.name = name
        thread.stackSize = 256 << 10
        thread.start()
    }

    static func seconds(from start: DispatchTime, to end: DispatchTime) -> Double {
        end.uptimeNanoseconds < start.uptimeNanoseconds ? 0 : Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}

/// The last few KiB a worker wrote to stderr.
final class StderrTail: Sendable {
    private static let limit = 4_096
    private let bytes = Mutex<[UInt8]>([])

    func append(_ chunk: ArraySlice<UInt8>) {
        bytes.withLock { bytes in
            bytes.append(contentsOf: chunk)
            if bytes.count > Self.limit { bytes.removeFirst(bytes.count - Self.limit) }
        }
    }

    /// At most the last 20 lines.
    var text: String {
        let all = bytes.withLock { String(decoding: $0, as: UTF8.self) }
        return all.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
    }
}
