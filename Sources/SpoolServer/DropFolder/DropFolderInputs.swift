import Foundation
import SpoolCore

/// The inputs a drop-folder job file names beside it: `"image": "fox.png"`, `"video":
/// "clip.mp4"` (a file name in the inbox, where the API takes an input's hash).
enum DropFolderInputs {
    struct Input: Hashable {
        var field: String
        var kind: JobInput.Kind
        var file: String
    }

    /// The inputs `contents` (a job file) names by file; none when it is not a JSON object.
    static func named(in contents: Data) -> [Input] {
        guard let object = (try? JSONSerialization.jsonObject(with: contents)) as? [String: Any] else { return [] }
        return JobInput.Kind.allCases.compactMap { kind in
            (object[kind.rawValue] as? String).map { Input(field: kind.rawValue, kind: kind, file: $0) }
        }
    }

    /// The job file with the inputs it names by file left out, for the spec decoder.
    static func withoutNames(_ contents: Data) -> Data {
        guard var object = (try? JSONSerialization.jsonObject(with: contents)) as? [String: Any] else { return contents }
        for kind in JobInput.Kind.allCases where object[kind.rawValue] is String { object[kind.rawValue] = nil }
        return (try? JSONSerialization.data(withJSONObject: object)) ?? contents
    }

    /// The inputs named by a plain file name in the inbox: the only files a job file can bring
    /// with it (a name with a folder in it names nothing Spool will touch).
    static func files(of inputs: [Input]) -> [Input] {
        inputs.filter { problem(with: $0.file) == nil }
    }

    /// Why `file` cannot name an input in the inbox, or nil when it can.
    static func problem(with file: String) -> String? {
        if file.isEmpty || file.contains("/") || file.hasPrefix(".") {
            return "names \"\(file)\"; an input is named by a plain file name in the inbox (no folder, not starting with \".\")"
        }
        if file.hasSuffix(".json") { return "names \(file); an input cannot be a .json file (those are job files)" }
        return nil
    }
}
