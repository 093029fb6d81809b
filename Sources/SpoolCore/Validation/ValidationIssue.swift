/// One problem with a job spec: the field it concerns and why, in words a person can act on.
public struct ValidationIssue: Hashable, Sendable, Codable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
