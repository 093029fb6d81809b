import Foundation

/// A single `Range: bytes=…` request, resolved against a file's size (RFC 9110 §14.1.2).
struct ByteRange: Equatable {
    var first: Int
    var last: Int

    /// nil when the header is absent or not a single byte range (served whole, as the RFC
    /// allows); throws when it is a byte range that cannot be satisfied.
    static func parse(_ header: String?, size: Int) throws(Unsatisfiable) -> ByteRange? {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return nil }
        switch (Int(parts[0]), Int(parts[1])) {
        case (let start?, let end?) where start <= end:
            guard start < size else { throw Unsatisfiable() }
            return ByteRange(first: start, last: min(end, size - 1))
        case (let start?, nil) where parts[1].isEmpty:
            guard start < size else { throw Unsatisfiable() }
            return ByteRange(first: start, last: size - 1)
        case (nil, let suffix?) where parts[0].isEmpty:
            guard suffix > 0, size > 0 else { throw Unsatisfiable() }
            return ByteRange(first: max(0, size - suffix), last: size - 1)
        default:
            return nil
        }
    }

    struct Unsatisfiable: Error {}

    var count: Int { last - first + 1 }
}
