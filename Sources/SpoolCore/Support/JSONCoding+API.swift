import Foundation

/// Built once: constructing the format style costs more than formatting with it.
private let iso8601WithMilliseconds = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

extension JSONEncoder {
    /// How the HTTP API writes JSON: ISO 8601 dates with milliseconds, stable key order.
    public static var spoolAPI: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(iso8601WithMilliseconds))
        }
        return encoder
    }
}

extension JSONDecoder {
    /// Reads what ``JSONEncoder/spoolAPI`` writes.
    public static var spoolAPI: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? Date(text, strategy: iso8601WithMilliseconds) {
                return date
            }
            if let date = try? Date(text, strategy: .iso8601) { return date }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)"))
        }
        return decoder
    }
}
