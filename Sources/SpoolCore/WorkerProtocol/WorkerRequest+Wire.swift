import Foundation

/// How Spool writes to a worker's stdin, for both protocols: one JSON object a line, keys in
/// snake_case, sorted (see `Pipelines/README.md`).
extension WorkerRequest {
    /// The request as one line of JSON, without its newline.
    public var wireLine: Data { WorkerWire.encode(self) }
}

extension WorkerCancel {
    /// The cancel as one line of JSON, without its newline.
    public var wireLine: Data { WorkerWire.encode(self) }
}

enum WorkerWire {
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        // Strings, numbers and dictionaries of strings: nothing here can fail to encode.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
