import Foundation

/// The pipelines a host knows, by name.
public struct PipelineCatalog: Sendable {
    /// A pipeline file that could not be used, and why.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var problems: [(file: String, reason: String)]
        public var description: String {
            "bad pipeline definitions:\n" + problems.map { "  \($0.file): \($0.reason)" }.joined(separator: "\n")
        }
    }

    public private(set) var definitions: [String: PipelineDefinition]
    /// The folder each pipeline was loaded from, for `{pipelines}` in commands.
    public private(set) var folders: [String: String]
    /// The tiers a job naming `"pipeline": "auto"` is routed by (`routes.json` beside the
    /// pipeline files); nil: this host routes no job.
    public var routes: RouteTable?

    public init(_ definitions: [PipelineDefinition] = [], folder: String = ".") {
        self.definitions = Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.folders = Dictionary(definitions.map { ($0.name, folder) }, uniquingKeysWith: { _, last in last })
    }

    public subscript(name: String) -> PipelineDefinition? { definitions[name] }

    public var names: [String] { definitions.keys.sorted() }

    /// Adds or replaces a pipeline.
    public mutating func add(_ definition: PipelineDefinition, folder: String = ".") {
        definitions[definition.name] = definition
        folders[definition.name] = folder
    }

    /// Loads every `*.json` file in `folder` (`routes.json` as the route table, the others as
    /// pipelines), and fails listing every bad file at once: a daemon should not start with
    /// half its pipelines silently missing, or routing to one it does not know.
    public static func load(folder: String) throws -> PipelineCatalog {
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: folder)
                .filter { $0.hasSuffix(".json") && $0 != RouteTable.fileName }.sorted()
        } catch {
            throw LoadError(problems: [(folder, "cannot read the folder: \(error.localizedDescription)")])
        }
        var catalog = PipelineCatalog()
        var problems: [(file: String, reason: String)] = []
        /// The file at `path` decoded, or nil with why not among the problems.
        func read<T: Decodable>(_ type: T.Type, _ path: String) -> T? {
            do {
                return try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch let error as DecodingError {
                problems.append((path, error.humanDescription))
            } catch {
                problems.append((path, error.localizedDescription))
            }
            return nil
        }
        for file in files {
            let path = url.appendingPathComponent(file).path
            guard let definition = read(PipelineDefinition.self, path) else { continue }
            let found = definition.problems()
            if !found.isEmpty {
                problems.append((path, found.joined(separator: "; ")))
            } else if catalog[definition.name] != nil {
                problems.append((path, "a second pipeline named \"\(definition.name)\""))
            } else {
                catalog.add(definition, folder: url.path)
            }
        }
        let routesPath = url.appendingPathComponent(RouteTable.fileName).path
        if FileManager.default.fileExists(atPath: routesPath), let table = read(RouteTable.self, routesPath) {
            let found = table.problems(pipelines: catalog)
            if found.isEmpty { catalog.routes = table } else { problems.append((routesPath, found.joined(separator: "; "))) }
        }
        if !problems.isEmpty { throw LoadError(problems: problems) }
        return catalog
    }
}
