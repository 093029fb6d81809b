import ArgumentParser
import SpoolCore

@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Queue, run and encode long text-to-video jobs on GPUs.",
        version: Spool.version,
        subcommands: [Serve.self])
}
