import Foundation

/// The Python environment the tests run Python tools and workers in: `$SPOOL_PYTHON` (set by
/// `scripts/test.sh` to `.venv/bin/python`, which `scripts/setup-python.sh` makes), else the
/// repository's `.venv` if it exists.
public enum PythonTools {
    /// `$SPOOL_REQUIRE_PYTHON=1` (CI sets it): a missing environment fails those tests instead of skipping them.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["SPOOL_REQUIRE_PYTHON"] == "1" }

    /// The environment's `python`, or nil when there is none.
    public static var python: String? {
        if let explicit = ProcessInfo.processInfo.environment["SPOOL_PYTHON"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        let local = Repository.root + "/.venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: local) ? local : nil
    }

    /// A program installed in the environment (`schemathesis`), or nil.
    public static func program(_ name: String) -> String? {
        guard let python else { return nil }
        let path = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent(name).path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// Whether tests needing `program` (or, when nil, the environment itself) run; prints why not when they are skipped.
    public static func isAvailable(_ program: String? = nil) -> Bool {
        let found = program.map { self.program($0) != nil } ?? (python != nil)
        if found || isRequired { return true }
        print("note: tests needing \(program ?? "the Python environment") skipped: run scripts/setup-python.sh (scripts/test.sh does)")
        return false
    }
}

/// Where the source checkout is: the folder of `Package.swift` above the built executables.
public enum Repository {
    public static let root: String = {
        var folder = URL(fileURLWithPath: DaemonProcess.binary).deletingLastPathComponent()
        for _ in 0..<8 {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder.path }
            folder.deleteLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// `Pipelines/`, as shipped.
    public static var pipelines: String { root + "/Pipelines" }
}
