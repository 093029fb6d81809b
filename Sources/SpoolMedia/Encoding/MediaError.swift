/// A failure inside FFmpeg's libraries, naming the call and FFmpeg's own message.
public struct MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String

    public init(_ operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String { "\(operation) failed: \(message) (\(code))" }
}
