/// A frame's size in pixels, written `WIDTHxHEIGHT` in job files and pipelines.
public struct FrameSize: Hashable, Sendable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Parses `640x384`; nil for anything else.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
        self.init(width: w, height: h)
    }

    /// Whether a frame of this size fits in one of `box`, either way up.
    public func fits(in box: FrameSize) -> Bool {
        (width <= box.width && height <= box.height) || (width <= box.height && height <= box.width)
    }

    /// Bytes of one RGB24 frame of this size.
    public var rgb24FrameBytes: Int { width * height * 3 }

    public var description: String { "\(width)x\(height)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = FrameSize(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "expected WIDTHxHEIGHT, got \"\(text)\""))
        }
        self = size
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
