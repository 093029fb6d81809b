import Foundation
import SpoolCore

/// Writes JSON exactly as ``Foundation/JSONEncoder/spoolAPI`` does (sorted keys, unescaped
/// slashes, ISO 8601 dates with milliseconds), for the responses polled thousands of times
/// a second.
///
/// `JSONEncoder` builds a tree of boxed values and formats each date through
/// `Date.ISO8601FormatStyle`: half the CPU of a `GET /v1/jobs/{id}`. This writes bytes
/// directly. Callers write keys in sorted (UTF-8 byte) order themselves; the tests check
/// the output byte for byte against `JSONEncoder.spoolAPI`.
struct APIJSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Per open object: has it a member yet (so the next one needs a comma)?
    private var hasMember: [Bool] = []

    init(capacity: Int = 1_024) {
        bytes.reserveCapacity(capacity)
    }

    mutating func object(_ body: (inout APIJSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        hasMember.append(false)
        body(&self)
        hasMember.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func object(_ key: String, _ body: (inout APIJSONWriter) -> Void) {
        self.key(key)
        object(body)
    }

    mutating func array(_ key: String, _ body: (inout APIJSONWriter) -> Void) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        hasMember.append(false)
        body(&self)
        hasMember.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// A string as an element of the array being written.
    mutating func value(_ text: String) {
        string(text)
    }

    /// One element of the array being written.
    mutating func element(_ body: (inout APIJSONWriter) -> Void) {
        separate()
        body(&self)
    }

    mutating func field(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    mutating func field(_ key: String, _ value: Bool?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func field(_ key: String, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: String, _ value: UInt64?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: String, _ value: Double?) {
        guard let value else { return }
        self.key(key)
        guard value.isFinite else {
            // JSONEncoder would throw; a null keeps the rest of the response.
            bytes.append(contentsOf: "null".utf8)
            return
        }
        // Foundation writes the shortest round-trip form, without a trailing ".0".
        let text = value.description
        if text.hasSuffix(".0") {
            bytes.append(contentsOf: text.utf8.dropLast(2))
        } else {
            bytes.append(contentsOf: text.utf8)
        }
    }

    mutating func field(_ key: String, _ value: Date?) {
        guard let value else { return }
        self.key(key)
        date(value)
    }

    /// A string-to-string map, its keys sorted as `JSONEncoder`'s `.sortedKeys` sorts them.
    mutating func field(_ key: String, _ value: [String: String]) {
        self.key(key)
        object { writer in
            for (key, value) in value.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                writer.field(key, value)
            }
        }
    }

    private mutating func separate() {
        if hasMember[hasMember.count - 1] {
            bytes.append(UInt8(ascii: ","))
        } else {
            hasMember[hasMember.count - 1] = true
        }
    }

    private mutating func key(_ key: String) {
        separate()
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (ids, states, paths, prompts) need no escape: copy them whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `yyyy-MM-ddTHH:mm:ss.SSSZ` in UTC, milliseconds truncated as the format style does.
    private mutating func date(_ date: Date) {
        // The format style truncates the fraction of the second, not the product with 1,000
        // (they differ in the last bit: …0.235 can be written .234); matched on 300,000 stamps.
        let stamp = date.timeIntervalSince1970
        let whole = stamp.rounded(.down)
        let seconds = Int64(whole)
        let millisecond = min(999, Int64((stamp - whole) * 1_000))
        let (days, secondOfDay) = seconds.floorDivided(by: 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        bytes.append(UInt8(ascii: "\""))
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3_600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(millisecond, 3)
        bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
    }

    private mutating func digits(_ value: Int64, _ width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = (self >= 0 ? self : self - divisor + 1) / divisor
        return (quotient, self - quotient * divisor)
    }
}
