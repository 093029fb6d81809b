import Foundation
import SpoolCore

/// The settings of `spool serve --config FILE`: a JSON object whose keys are the command's
/// long option names (`"virtual-slots": 4`, `"listen": "127.0.0.1:8750"`).
///
/// Every key is optional; an option given on the command line wins over the file, and the file
/// wins over the built-in default. Unknown keys are errors, so a misspelt setting is reported
/// instead of silently ignored.
public struct ServeConfigFile: Codable, Equatable, Sendable {
    public var data: String?
    public var store: String?
    public var videos: String?
    public var work: String?
    public var inputs: String?
    public var inputRetentionHours: Double?
    public var maxImageMiB: Int?
    public var maxVideoMiB: Int?
    public var minFreeSpace: Int?
    public var gpus: String?
    public var virtualSlots: Int?
    public var pipelines: String?
    public var defaultPipeline: String?
    public var host: String?
    public var codec: String?
    public var crf: Int?
    public var preset: String?
    public var lookahead: Int?
    public var encoderPriority: String?
    public var rawBacklog: Int?
    public var maxAttempts: Int?
    public var timeLimit: Double?
    public var warm: [String]?
    public var residentIdleSeconds: Double?
    public var affinityGraceSeconds: Double?
    public var leaseSeconds: Double?
    public var heartbeatSeconds: Double?
    public var shutdownGrace: Double?
    public var listen: String?
    public var tokenFile: String?
    public var requestHeadTimeout: Double?
    public var keepAliveTimeout: Double?
    public var dropFolder: Bool?
    public var logLevel: String?
    public var webhook: [String]?
    public var webhookSecretFile: String?
    public var webhookAllowPrivate: Bool?
    public var webhookRetryDelays: String?
    public var webhookMaxAgeHours: Double?
    public var webhookTimeout: Double?
    public var livePreview: String?
    public var liveRetentionMinutes: Double?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data, store, videos, work, inputs, gpus, pipelines, host, codec, crf, preset, lookahead, listen
        case inputRetentionHours = "input-retention-hours"
        case maxImageMiB = "max-image-mib"
        case maxVideoMiB = "max-video-mib"
        case minFreeSpace = "min-free-space"
        case virtualSlots = "virtual-slots"
        case encoderPriority = "encoder-priority"
        case rawBacklog = "raw-backlog"
        case defaultPipeline = "default-pipeline"
        case maxAttempts = "max-attempts"
        case timeLimit = "time-limit"
        case warm
        case residentIdleSeconds = "resident-idle-seconds"
        case affinityGraceSeconds = "affinity-grace-seconds"
        case leaseSeconds = "lease-seconds"
        case heartbeatSeconds = "heartbeat-seconds"
        case shutdownGrace = "shutdown-grace"
        case tokenFile = "token-file"
        case requestHeadTimeout = "request-head-timeout"
        case keepAliveTimeout = "keep-alive-timeout"
        case dropFolder = "drop-folder"
        case logLevel = "log-level"
        case webhook
        case webhookSecretFile = "webhook-secret-file"
        case webhookAllowPrivate = "webhook-allow-private"
        case webhookRetryDelays = "webhook-retry-delays"
        case webhookMaxAgeHours = "webhook-max-age-hours"
        case webhookTimeout = "webhook-timeout"
        case livePreview = "live-preview"
        case liveRetentionMinutes = "live-retention-minutes"
    }

    public init() {}

    /// Why a config file cannot be used, naming the file and the setting.
    public struct ConfigError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Every key the file may hold, in the order `spool serve --help` lists its options.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// Reads and checks a config file. Relative paths in it (`data`, `videos`, `pipelines`, `token-file`)
    /// are resolved against the file's folder, and a leading `~/` against the home folder, so
    /// the file means the same thing whichever directory the daemon starts in.
    public static func load(path: String) throws -> ServeConfigFile {
        let url = URL(fileURLWithPath: path)
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url)
        } catch {
            throw ConfigError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        var file = try decode(bytes, name: path)
        let base = url.deletingLastPathComponent().path
        file.data = file.data.map { resolve($0, against: base) }
        file.videos = file.videos.map { resolve($0, against: base) }
        file.work = file.work.map { resolve($0, against: base) }
        file.inputs = file.inputs.map { resolve($0, against: base) }
        file.pipelines = file.pipelines.map { resolve($0, against: base) }
        file.tokenFile = file.tokenFile.map { resolve($0, against: base) }
        file.webhookSecretFile = file.webhookSecretFile.map { resolve($0, against: base) }
        return file
    }

    /// Decodes a config from JSON, naming the file in every error.
    public static func decode(_ bytes: Data, name: String) throws -> ServeConfigFile {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
                throw ConfigError("the config file \(name) must hold a JSON object")
            }
            object = parsed
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("the config file \(name) is not valid JSON: \(error.localizedDescription)")
        }
        let unknown = object.keys.filter { !keys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError(
                "the config file \(name) has unknown setting(s) \(unknown.joined(separator: ", ")); known: \(keys.joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(ServeConfigFile.self, from: bytes)
        } catch let error as DecodingError {
            throw ConfigError("the config file \(name): \(error.humanDescription)")
        }
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path == "~" || path.hasPrefix("~/") {
            return FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
        }
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}
