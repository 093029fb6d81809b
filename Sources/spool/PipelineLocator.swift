import Foundation
import SpoolGenerators

/// Finds the pipeline definitions shipped with Spool.
enum PipelineLocator {
    /// The first `Pipelines` folder (with `synthetic.json`) at or above the executable's
    /// folder (a source checkout's `.build/…/spool`), else `/usr/local/share/spool/pipelines`.
    static func defaultFolder() -> String {
        var folder = URL(fileURLWithPath: WorkerLauncher.defaultBinDirectory)
        for _ in 0..<6 {
            let candidate = folder.appendingPathComponent("Pipelines")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("synthetic.json").path) {
                return candidate.path
            }
            folder.deleteLastPathComponent()
        }
        return "/usr/local/share/spool/pipelines"
    }
}
