#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Finds and kills workers a previous run of the daemon left behind (after `kill -9`,
/// its workers live on in their own process groups, still holding their GPUs).
///
/// Every worker's process group is recorded beside its working directory, in `<workDir>.pgid`,
/// the moment it is spawned: `<job folder>/attempt-N.pgid` for a per-job worker,
/// `<work>/slot-NAME.pgid` for a resident one. A group is killed only if one of its live
/// processes still works inside the folder the record belongs to, so a process group id
/// reused by an unrelated program is never touched.
public enum OrphanReaper {
    /// Records a worker's process group for ``reap(workFolder:)``.
    static func record(processGroup: Int32, workDir: String) {
        let path = URL(fileURLWithPath: workDir).standardizedFileURL.path
        try? String(processGroup).write(toFile: path + ".pgid", atomically: true, encoding: .utf8)
    }

    /// Kills every recorded worker group still alive under `workFolder`, then removes the
    /// folder's contents. Returns the groups killed.
    @discardableResult
    public static func reap(workFolder: String) -> [Int32] {
        let fm = FileManager.default
        var killed: [Int32] = []
        func reap(_ record: String, within folder: String) {
            guard let text = try? String(contentsOfFile: record, encoding: .utf8),
                  let group = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 1
            else { return }
            if groupWorks(in: folder, group: group) {
                kill(-group, SIGKILL)
                killed.append(group)
            }
        }
        for entry in (try? fm.contentsOfDirectory(atPath: workFolder)) ?? [] {
            let path = "\(workFolder)/\(entry)"
            if entry.hasSuffix(".pgid") {
                // A resident worker's, beside its slot folder.
                reap(path, within: String(path.dropLast(5)))
            } else {
                // A job's folder: its attempts' workers, each beside its attempt folder.
                for file in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where file.hasSuffix(".pgid") {
                    reap("\(path)/\(file)", within: path)
                }
            }
            try? fm.removeItem(atPath: path)
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
