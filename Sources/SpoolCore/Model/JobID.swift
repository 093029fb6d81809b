import Foundation

/// A job's identifier: a lowercase UUID string, stable across stores and hosts.
public struct JobID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// A new, random identifier.
    public static func random() -> JobID { JobID(UUID().uuidString.lowercased()) }

    public var description: String { rawValue }

    /// The first eight characters, enough to tell jobs apart in logs and file names.
    public var short: String { String(rawValue.prefix(8)) }

    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
