import Foundation

/// The OpenAPI 3.1 description of the API, `Sources/SpoolServer/openapi.json` in the repo.
enum OpenAPIDocument {
    static let data: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else { return Data("{}".utf8) }
        return data
    }()
}
