extension DecodingError {
    /// What is wrong with a JSON document, in words a person can act on:
    /// `missing field "prompt"`, `wrong type at "labels.team"`.
    public var humanDescription: String {
        func path(_ context: Context) -> String { context.codingPath.map(\.stringValue).joined(separator: ".") }
        switch self {
        case .keyNotFound(let key, let context):
            let at = path(context)
            return "missing field \"\(key.stringValue)\"" + (at.isEmpty ? "" : " at \"\(at)\"")
        case .typeMismatch(let type, let context):
            return "wrong type at \"\(path(context))\": expected \(type)"
        case .valueNotFound(let type, let context):
            return "missing value at \"\(path(context))\": expected \(type)"
        case .dataCorrupted(let context):
            let at = path(context)
            return at.isEmpty ? "not valid JSON" : "invalid value at \"\(at)\": \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}
