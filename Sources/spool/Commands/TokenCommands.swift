import ArgumentParser
import Foundation
import SpoolScheduler
import SpoolServer

/// `spool tokens`: the tenants file a host reads with `--tokens`.
struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage tenants and their tokens (the file `spool serve --tokens` reads).",
        subcommands: [Add.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token for a tenant (created if new), print it once, and store its hash in the file.",
            discussion: "A running host reads the file again on SIGHUP (kill -HUP <pid>).")

        @Argument(help: "The tenant's name: 1-64 of a-z, 0-9, '.', '_' and '-'.")
        var name: String
        @Option(help: "admin (sees and acts on every job) or user (only its own); a new tenant's role, or a change to an existing one's.")
        var role: TenantsFile.Role?
        @Option(name: .customLong("tokens"), help: "The tenants file; created if it does not exist.")
        var file: String
        @Option(help: "The most jobs the tenant may have queued at once.")
        var maxQueued: Int?
        @Option(help: "The most slot time, in seconds, one of its jobs may hold.")
        var maxGpuSecondsPerJob: Double?

        func run() throws {
            if let problem = TenantsFile.nameProblem(name) { throw ValidationError("\(name): \(problem)") }
            var tenants = FileManager.default.fileExists(atPath: file) ? try load() : TenantsFile()
            let token = TenantsFile.newToken()
            if let index = tenants.tenants.firstIndex(where: { $0.name == name }) {
                tenants.tenants[index].tokens.append(TenantsFile.hash(token))
                if let role { tenants.tenants[index].role = role }
                if maxQueued != nil || maxGpuSecondsPerJob != nil { tenants.tenants[index].limits = limits(over: tenants.tenants[index].limits) }
            } else {
                tenants.tenants.append(TenantsFile.Tenant(
                    name: name, role: role ?? .user, tokens: [TenantsFile.hash(token)],
                    limits: maxQueued == nil && maxGpuSecondsPerJob == nil ? nil : limits(over: nil)))
            }
            if let problem = tenants.problem { throw ValidationError(problem) }
            do {
                try tenants.save(file)
            } catch {
                throw ValidationError("\(error)")
            }
            print(token)
        }

        func limits(over old: TenantLimits?) -> TenantLimits {
            var limits = old ?? TenantLimits()
            if let maxQueued { limits.maxQueued = maxQueued }
            if let maxGpuSecondsPerJob { limits.maxGpuSecondsPerJob = maxGpuSecondsPerJob }
            return limits
        }

        func load() throws -> TenantsFile {
            do {
                return try TenantsFile.load(file)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a tenant and all its tokens from the file.",
            discussion: "A running host refuses them from its next SIGHUP on; the tenant's running jobs finish.")

        @Argument(help: "The tenant's name.")
        var name: String
        @Option(name: .customLong("tokens"), help: "The tenants file.")
        var file: String

        func run() throws {
            var tenants: TenantsFile
            do {
                tenants = try TenantsFile.load(file)
            } catch {
                throw ValidationError("\(error)")
            }
            guard tenants.tenants.contains(where: { $0.name == name }) else { throw ValidationError("\(file) has no tenant \(name)") }
            tenants.tenants.removeAll { $0.name == name }
            do {
                try tenants.save(file)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}

extension TenantsFile.Role: ExpressibleByArgument {}
