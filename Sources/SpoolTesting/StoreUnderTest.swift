import Foundation
import SpoolCore
import SpoolPostgres
import SpoolSQLite
import Synchronization

/// Which ``JobStore`` a conformance test runs against.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    /// SQLite always; PostgreSQL when a test server is configured.
    public static var available: [StoreKind] { PostgresTestServer.isAvailable ? [.sqlite, .postgres] : [.sqlite] }

    public var description: String { rawValue }
}

/// A fresh, empty store of one kind, a manual clock, and more stores on the same data
/// (standing in for other processes or hosts).
public final class StoreUnderTest: Sendable {
    public let kind: StoreKind
    public let store: any JobStore
    public let clock = ManualWallClock()
    private let location: Location
    private let others = Mutex<[any JobStore]>([])
    /// The pools of the PostgreSQL stores opened, each running in a task of its own.
    private let pools = Mutex<[Task<Void, Never>]>([])

    private enum Location: Sendable {
        case file(TemporaryDirectory, String)
        case database(PostgresStoreAddress)
    }

    static let connectionWait = 30.0

    init(kind: StoreKind) async throws {
        self.kind = kind
        switch kind {
        case .sqlite:
            let dir = try TemporaryDirectory("store")
            let path = dir.file("spool.sqlite")
            location = .file(dir, path)
            store = try SQLiteJobStore(path: path)
        case .postgres:
            let address = try await PostgresTestServer.createDatabase()
            location = .database(address)
            // A deadline only for a hang: a loaded 2-core machine can take seconds to fork a
            // backend, and these suites test the store's rules, not its 5 s connection wait.
            let store = try await PostgresJobStore.connect(address, connectionWait: Self.connectionWait)
            self.store = store
            pools.withLock { $0.append(Task.immediate { await store.run() }) }
        }
    }

    /// Another store on the same file or database, as a second process would open it.
    public func openAnother() async throws -> any JobStore {
        let other: any JobStore
        switch location {
        case .file(_, let path):
            other = try SQLiteJobStore(path: path)
        case .database(let address):
            let store = try await PostgresJobStore.connect(address, connectionWait: Self.connectionWait)
            pools.withLock { $0.append(Task.immediate { await store.run() }) }
            other = store
        }
        others.withLock { $0.append(other) }
        return other
    }

    /// The store's address as `spool serve --store` takes it, for daemons started as processes.
    public var storeArgument: String {
        switch location {
        case .file: "sqlite"
        case .database(let address): address.url
        }
    }

    /// Runs one statement against the store's tables, whichever store it is.
    public func execute(_ sql: String) async throws {
        switch store {
        case let sqlite as SQLiteJobStore: try await sqlite.execute(sql)
        case let postgres as PostgresJobStore: try await postgres.execute(sql)
        default: throw ProbeError(message: "no raw statements on \(type(of: store))")
        }
    }

    /// Claims on `gpu` at the clock's time with a 30 s lease.
    public func claim(
        _ gpu: String = "gpu0", host: String = "h1", pipelines: Set<String> = ["synthetic"], tenantOrder: [String] = [],
        held: [String] = [], from store: (any JobStore)? = nil
    ) async throws -> Job? {
        try await (store ?? self.store).claimNext(ClaimRequest(
            host: host, gpu: gpu, pipelines: pipelines, now: clock.now(), leaseUntil: clock.now().addingTimeInterval(30),
            tenantOrder: tenantOrder, heldTenants: held))
    }

    func tearDown() async {
        for pool in pools.withLock({ $0 }) {
            pool.cancel()
            await pool.value
        }
        switch location {
        case .file(let dir, _): dir.remove()
        case .database(let address): await PostgresTestServer.dropDatabase(address)
        }
    }
}

/// Runs `body` against a fresh store of `kind`, then removes it.
public func withStore(_ kind: StoreKind, _ body: (StoreUnderTest) async throws -> Void) async throws {
    let subject = try await StoreUnderTest(kind: kind)
    do {
        try await body(subject)
    } catch {
        await subject.tearDown()
        throw error
    }
    await subject.tearDown()
}
