import Foundation

/// How the kernel schedules one thread of this process, read from `/proc/self/task`.
public struct ThreadScheduling: Sendable, Hashable {
    /// Linux's scheduling policies, as `/proc/…/stat` numbers them.
    public enum Policy: Int, Sendable {
        case normal = 0, fifo = 1, roundRobin = 2, batch = 3, idle = 5, deadline = 6
    }

    public var threadID: Int
    /// The kernel's name for the thread (`comm`), at most 15 characters.
    public var name: String
    public var policy: Policy?
    public var nice: Int

    /// Every thread of this process whose kernel name is `name`.
    public static func threads(named name: String) -> [ThreadScheduling] {
        let folder = "/proc/self/task"
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return ids.compactMap { id in
            guard let thread = read("\(folder)/\(id)"), thread.name == name else { return nil }
            return thread
        }
    }

    /// The calling thread.
    public static var current: ThreadScheduling? { read("/proc/thread-self") }

    /// Reads `FOLDER/comm` and `FOLDER/stat` of one thread (proc(5)).
    private static func read(_ folder: String) -> ThreadScheduling? {
        guard let comm = try? String(contentsOfFile: "\(folder)/comm", encoding: .utf8),
              let stat = try? String(contentsOfFile: "\(folder)/stat", encoding: .utf8),
              let threadID = Int(stat.prefix { $0 != " " }),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // The fields after the name, which may itself hold spaces: state is field 3, nice
        // field 19, policy field 41.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 38, let nice = Int(fields[16]), let policy = Int(fields[38]) else { return nil }
        return ThreadScheduling(
            threadID: threadID, name: comm.trimmingCharacters(in: .newlines), policy: Policy(rawValue: policy), nice: nice)
    }
}
