import ArgumentParser
import Foundation
import SpoolCore
import SpoolGenerators
import SpoolMedia
import SpoolSynthetic

/// `spool`, and the synthetic worker when started under its name: the portable bundle links
/// `bin/spool-synthetic-worker` to `bin/spool` rather than carry a second copy of the Swift
/// runtime and Foundation (57 MB; the bundle would not fit in 60 MiB).
@main
enum SpoolProgram {
    static func main() async {
        let name = URL(fileURLWithPath: CommandLine.arguments.first ?? "spool").lastPathComponent
        if name == "spool-synthetic-worker" { SyntheticWorkerProgram.main(Array(CommandLine.arguments.dropFirst())) }
        await SpoolCommand.main()
    }
}

struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Queue, run and encode long text-to-video jobs on GPUs.",
        discussion: """
            Exit codes: 0 success; 1 the job failed or was cancelled (--wait, watch); 64 usage error;
            65 the daemon rejected the job as invalid; 66 no such job; 69 the daemon is unreachable;
            75 try again later (the job queue is unreachable, or the tenant is at its maxQueued);
            77 a bearer token is missing or wrong; 70 anything else.
            """,
        version: versionText,
        subcommands: [Serve.self, Submit.self, Status.self, List.self, Cancel.self, Watch.self, GPUs.self, Usage.self, Tokens.self, Eval.self])
}

extension SpoolCommand {
    /// `spool --version`: Spool's version, the portable bundle it came in (the `BUNDLE` file
    /// beside the executable) if any, and the FFmpeg libraries it runs with and how they were
    /// configured.
    static var versionText: String {
        let bundleFile = WorkerLauncher.defaultBinDirectory + "/BUNDLE"
        let bundle = (try? String(contentsOfFile: bundleFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return """
            spool \(Spool.version)
            bundle: \(bundle ?? "none (built from source)")
            FFmpeg: \(FFmpegBuild.versions)
            FFmpeg configuration: \(FFmpegBuild.configuration)
            """
    }
}
