import Foundation

/// How good a video a routed job asks for: `draft` (cheap and fast), `standard`, `best`.
public enum RouteTier: String, Sendable, Hashable, Codable, CaseIterable {
    case draft, standard, best

    /// "draft, standard, best": what a message names as the tiers there are.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}

/// `Pipelines/routes.json`: for each tier, the pipelines that may make its jobs, best first,
/// and the rules that pass a candidate over (see ``PipelineRouter``).
public struct RouteTable: Sendable, Hashable, Codable {
    /// When a pipeline counts as failing: after `after` failed attempts in a row it is passed
    /// over for `forSeconds` from the latest, then tried again.
    public struct SkipFailing: Sendable, Hashable, Codable {
        public var after: Int
        public var forSeconds: Double

        public init(after: Int = 3, forSeconds: Double = 600) {
            self.after = after
            self.forSeconds = forSeconds
        }

        enum CodingKeys: String, CodingKey { case after, forSeconds }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            after = try c.decodeIfPresent(Int.self, forKey: .after) ?? 3
            forSeconds = try c.decodeIfPresent(Double.self, forKey: .forSeconds) ?? 600
        }
    }

    /// The file's name in a pipelines folder; the catalog does not read it as a pipeline.
    public static let fileName = "routes.json"

    /// Candidates per tier, in the order they are tried.
    public var tiers: [RouteTier: [String]]
    public var skipFailing: SkipFailing
    /// How far back a pipeline's measured history reaches.
    public var historyWindowSeconds: Double
    /// Videos a pipeline must have made in the window before its history is trusted over its
    /// file's `prior`.
    public var minHistory: Int

    public init(
        tiers: [RouteTier: [String]], skipFailing: SkipFailing = .init(), historyWindowSeconds: Double = 7 * 86_400, minHistory: Int = 3
    ) {
        self.tiers = tiers
        self.skipFailing = skipFailing
        self.historyWindowSeconds = historyWindowSeconds
        self.minHistory = minHistory
    }

    enum CodingKeys: String, CodingKey { case tiers, skipFailing, historyWindowSeconds, minHistory }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let named = try c.decode([String: [String]].self, forKey: .tiers)
        var tiers: [RouteTier: [String]] = [:]
        for (name, candidates) in named {
            guard let tier = RouteTier(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .tiers, in: c,
                    debugDescription: "unknown tier \"\(name)\"; tiers are \(RouteTier.names)")
            }
            tiers[tier] = candidates
        }
        self.tiers = tiers
        skipFailing = try c.decodeIfPresent(SkipFailing.self, forKey: .skipFailing) ?? .init()
        historyWindowSeconds = try c.decodeIfPresent(Double.self, forKey: .historyWindowSeconds) ?? 7 * 86_400
        minHistory = try c.decodeIfPresent(Int.self, forKey: .minHistory) ?? 3
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Dictionary(uniqueKeysWithValues: tiers.map { ($0.key.rawValue, $0.value) }), forKey: .tiers)
        try c.encode(skipFailing, forKey: .skipFailing)
        try c.encode(historyWindowSeconds, forKey: .historyWindowSeconds)
        try c.encode(minHistory, forKey: .minHistory)
    }

    /// The candidates of `tier`; none when the file leaves it out.
    public func candidates(_ tier: RouteTier) -> [String] { tiers[tier] ?? [] }

    /// The tiers with candidates, in order: those a routed job may ask for.
    public var routedTiers: [RouteTier] { RouteTier.allCases.filter { !candidates($0).isEmpty } }

    /// Problems that make the table unusable with `pipelines`; empty when it is sound.
    public func problems(pipelines: PipelineCatalog) -> [String] {
        var problems: [String] = []
        if tiers.isEmpty { problems.append("tiers must name at least one tier") }
        for tier in RouteTier.allCases {
            guard let candidates = tiers[tier] else { continue }
            if candidates.isEmpty { problems.append("tiers.\(tier.rawValue) must name at least one pipeline") }
            for name in candidates where pipelines[name] == nil {
                problems.append("tiers.\(tier.rawValue) names \"\(name)\", which is no pipeline here; known: \(pipelines.names.joined(separator: ", "))")
            }
            if Set(candidates).count != candidates.count { problems.append("tiers.\(tier.rawValue) names a pipeline twice") }
        }
        if skipFailing.after < 1 { problems.append("skipFailing.after must be at least 1") }
        if !(skipFailing.forSeconds >= 0) { problems.append("skipFailing.forSeconds must not be negative") }
        if !(historyWindowSeconds > 0) { problems.append("historyWindowSeconds must be positive") }
        if minHistory < 1 { problems.append("minHistory must be at least 1") }
        return problems
    }
}
