import ArgumentParser
import Foundation
import SpoolClient
import SpoolCore

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The daemon's URL. Default: $SPOOL_SERVER or http://127.0.0.1:8750.")
    var server: String = SpoolClient.defaultServer

    @Option(help: "File holding the bearer token. Default: $SPOOL_TOKEN_FILE, else $SPOOL_TOKEN itself.")
    var tokenFile: String?

    @Flag(help: "Print JSON for scripts instead of text.")
    var json = false

    func client() throws -> SpoolClient {
        guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--server must be an http:// or https:// URL, not \(server)")
        }
        var token = ProcessInfo.processInfo.environment["SPOOL_TOKEN"]
        if let path = tokenFile ?? ProcessInfo.processInfo.environment["SPOOL_TOKEN_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(path)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return SpoolClient(server: url, token: token)
    }

    func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder.spoolAPI
        encoder.outputFormatting.insert(.prettyPrinted)
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// The exit codes of the client commands, as documented in the README.
enum SpoolExit {
    /// The job ended failed or cancelled (`--wait`, `watch`).
    static let jobFailed = ExitCode(1)
    /// The daemon rejected the job as invalid.
    static let invalidJob = ExitCode(65)
    /// No such job.
    static let notFound = ExitCode(66)
    static let internalError = ExitCode(70)
    /// The daemon is not running or cannot be reached.
    static let unreachable = ExitCode(69)
    /// The daemon wants a (different) token.
    static let unauthorized = ExitCode(77)
    /// The daemon is up but its job queue is not (a shared database that went away): try
    /// again later; nothing was done (EX_TEMPFAIL).
    static let queueUnavailable = ExitCode(75)

    /// Prints a client error the way a person can act on and returns its exit code.
    static func report(_ error: ClientError) -> ExitCode {
        FileHandle.standardError.write(Data("spool: \(error)\n".utf8))
        switch error {
        case .unreachable: return unreachable
        case .api(let status, _, _, _):
            switch status {
            case 400, 413, 422: return invalidJob
            case 404: return notFound
            case 401, 403: return unauthorized
            // Try again later: the queue is down, or the tenant is at a limit (429).
            case 503, 429: return queueUnavailable
            default: return internalError
            }
        case .invalidResponse: return internalError
        }
    }
}

/// Runs a client call, turning its errors into messages and exit codes.
func withClient<T>(_ body: () async throws(ClientError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw SpoolExit.report(error)
    }
}
