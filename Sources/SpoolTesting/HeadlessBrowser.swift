import Foundation

/// Debian's Chromium and its chromedriver, which browser tests drive through Selenium
/// (installed by `scripts/setup-system.sh`; Selenium by `scripts/setup-python.sh`).
public enum HeadlessBrowser {
    public static let chromium = ProcessInfo.processInfo.environment["SPOOL_CHROMIUM"] ?? "/usr/bin/chromium"
    public static let chromedriver = ProcessInfo.processInfo.environment["SPOOL_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"

    /// Whether browser tests run: the browser, its driver and the Python environment are here.
    /// Where tests are required to run (`SPOOL_REQUIRE_PYTHON=1`, as CI sets), a missing browser
    /// fails them instead of skipping them.
    public static var isAvailable: Bool {
        guard PythonTools.isAvailable("python") || PythonTools.isRequired else { return false }
        let found = FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
        if found || PythonTools.isRequired { return true }
        print("note: browser tests skipped: install chromium and chromium-driver (scripts/setup-system.sh does)")
        return false
    }
}
