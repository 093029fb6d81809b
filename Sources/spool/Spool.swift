import ArgumentParser
import SpoolCore

@main
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
        version: Spool.version,
        subcommands: [Serve.self, Submit.self, Status.self, List.self, Cancel.self, Watch.self, GPUs.self, Usage.self, Tokens.self, Eval.self])
}
