/// Spool's version, reported by the CLI, the HTTP API and the worker protocol handshake.
public enum Spool {
    public static let version = "0.1.0"
}
