#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Finds and kills workers a previous run of the daemon left behind (after `kill -9`,
/// its workers live on in their own process groups, still holding their GPUs).
///
/// Each attempt records its worker's process group in `<job folder>/attempt-N.pgid`.
/// A group is killed only if one of its live processes still works inside that job
/// folder, so a process group id reused by an unrelated program is never touched.
public enum OrphanReaper {
    /// Records a worker's process group for ``reap(workFolder:)``.
    public static func record(processGroup: Int32, jobFolder: String, attempt: Int) {
        try? String(processGroup).write(toFile: "\(jobFolder)/attempt-\(attempt).pgid", atomically: true, encoding: .utf8)
    }

    /// Kills every recorded worker group still alive under `workFolder`, then removes the
    /// folder's contents. Returns the groups killed.
    @discardableResult
    public static func reap(workFolder: String) -> [Int32] {
        let fm = FileManager.default
        var killed: [Int32] = []
        for job in (try? fm.contentsOfDirectory(atPath: workFolder)) ?? [] {
            let jobFolder = "\(workFolder)/\(job)"
            for file in (try? fm.contentsOfDirectory(atPath: jobFolder)) ?? [] where file.hasSuffix(".pgid") {
                guard let text = try? String(contentsOfFile: "\(jobFolder)/\(file)", encoding: .utf8),
                      let group = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 1
                else { continue }
                if groupWorks(in: jobFolder, group: group) {
                    kill(-group, SIGKILL)
                    killed.append(group)
                }
            }
            try? fm.removeItem(atPath: jobFolder)
        }
        return killed
    }

    /// Whether a live process of `group` has its working directory inside `folder`.
    static func groupWorks(in folder: String, group: Int32) -> Bool {
        let target = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command: state, parent pid, process group.
            guard fields.count > 2, fields[0] != "Z", Int32(fields[2]) == group else { continue }
            if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
               cwd == target || cwd.hasPrefix(target + "/") {
                return true
            }
        }
        return false
    }
}
