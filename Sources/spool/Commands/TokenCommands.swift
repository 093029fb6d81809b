import ArgumentParser
import Foundation
import SpoolScheduler
import SpoolServer
import SpoolWebhooks

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
        @OptionGroup var limits: LimitOptions
        @Flag(help: "Give the tenant a webhook secret of its own, printed on a second line: its jobs' webhooks are signed with it instead of the host's.")
        var newWebhookSecret = false

        func run() throws {
            if let problem = TenantsFile.nameProblem(name) { throw ValidationError("\(name): \(problem)") }
            var tenants = FileManager.default.fileExists(atPath: file) ? try Tokens.load(file) : TenantsFile()
            let token = TenantsFile.newToken()
            if let index = tenants.tenants.firstIndex(where: { $0.name == name }) {
                tenants.tenants[index].tokens.append(TenantsFile.hash(token))
                if let role { tenants.tenants[index].role = role }
                limits.apply(to: &tenants.tenants[index])
            } else {
                var tenant = TenantsFile.Tenant(name: name, role: role ?? .user, tokens: [TenantsFile.hash(token)])
                limits.apply(to: &tenant)
                tenants.tenants.append(tenant)
            }
            let secret = newWebhookSecret ? WebhookSecret.generate().text : nil
            if let secret, let index = tenants.tenants.firstIndex(where: { $0.name == name }) { tenants.tenants[index].webhookSecret = secret }
            if let problem = tenants.problem { throw ValidationError(problem) }
            try Tokens.save(tenants, to: file)
            print(token)
            if let secret { print(secret) }
        }
    }

    /// A tenant's limits and weight: each one given replaces the tenant's, the others stay.
    struct LimitOptions: ParsableArguments {
        @Option(help: "The most jobs the tenant may have queued at once (more: HTTP 429).")
        var maxQueued: Int?
        @Option(help: "The most slots its jobs may hold at once; the next waits for one to leave its slot.")
        var maxRunning: Int?
        @Option(help: "Slot time, in seconds, its jobs may use in any 24 h; past it its jobs wait (or, with serve --over-quota refuse, are refused).")
        var gpuSecondsPerDay: Double?
        @Option(help: "The most slot time, in seconds, one of its jobs may hold.")
        var maxGpuSecondsPerJob: Double?
        @Option(help: "Its share under fair share against the others' (default 1).")
        var weight: Double?

        func apply(to tenant: inout TenantsFile.Tenant) {
            if let weight { tenant.weight = weight }
            guard maxQueued != nil || maxRunning != nil || gpuSecondsPerDay != nil || maxGpuSecondsPerJob != nil else { return }
            var limits = tenant.limits ?? TenantLimits()
            if let maxQueued { limits.maxQueued = maxQueued }
            if let maxRunning { limits.maxRunning = maxRunning }
            if let gpuSecondsPerDay { limits.gpuSecondsPerDay = gpuSecondsPerDay }
            if let maxGpuSecondsPerJob { limits.maxGpuSecondsPerJob = maxGpuSecondsPerJob }
            tenant.limits = limits
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
            var tenants = try Tokens.load(file)
            guard tenants.tenants.contains(where: { $0.name == name }) else { throw ValidationError("\(file) has no tenant \(name)") }
            tenants.tenants.removeAll { $0.name == name }
            try Tokens.save(tenants, to: file)
        }
    }

    /// The file, or a usage error naming what is wrong with it.
    static func load(_ file: String) throws -> TenantsFile {
        do {
            return try TenantsFile.load(file)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    static func save(_ tenants: TenantsFile, to file: String) throws {
        do {
            try tenants.save(file)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

extension TenantsFile.Role: ExpressibleByArgument {}
