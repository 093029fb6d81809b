/// A file a job is conditioned on: an image to start from (image-to-video) or a clip to
/// continue (video-to-video).
///
/// Spool keeps each input once, named by its SHA-256, under the inputs folder; a spec refers
/// to it by that hash. The rest describes the file as Spool decoded it when it came in
/// (a client sending only `sha256` gets it filled in).
public struct JobInput: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        case image, video
    }

    /// Lower-case hex SHA-256 of the file's bytes.
    public var sha256: String
    public var kind: Kind?
    /// The file's own frame size, before Spool scales and crops it to the job's.
    public var width: Int?
    public var height: Int?
    /// Frames it decoded to: 1 for an image.
    public var frames: Int?
    /// The file's size in bytes.
    public var bytes: Int?
    /// The decoder that read it (`png`, `mjpeg`, `h264`, …).
    public var codec: String?
    /// The name it was uploaded under, for people.
    public var name: String?

    public init(
        sha256: String, kind: Kind? = nil, width: Int? = nil, height: Int? = nil, frames: Int? = nil, bytes: Int? = nil,
        codec: String? = nil, name: String? = nil
    ) {
        self.sha256 = sha256
        self.kind = kind
        self.width = width
        self.height = height
        self.frames = frames
        self.bytes = bytes
        self.codec = codec
        self.name = name
    }

    /// Whether `text` is a SHA-256 as Spool writes them: 64 lower-case hex digits.
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Whether Spool has described the file (at ingestion): every field but `name` is set.
    public var isDescribed: Bool {
        kind != nil && width != nil && height != nil && frames != nil && bytes != nil && codec != nil
    }
}

/// One entry of a prompt schedule: `prompt` from `at` seconds of the generated video on.
public struct ScheduledPrompt: Hashable, Sendable, Codable {
    public var at: Double
    public var prompt: String

    public init(at: Double, prompt: String) {
        self.at = at
        self.prompt = prompt
    }
}
