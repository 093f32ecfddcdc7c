import Foundation
import SplitCore

/// Reading and checking measured profiles sent to the API.
enum Profiles {
    static func parse(_ body: Data) throws -> LayerProfile {
        do {
            return try LayerProfile(json: body)
        } catch let error as ProfileError {
            throw APIError(.unprocessableContent, "invalid_profile", error.description, field: error.field)
        }
    }

    /// A profile must be for `model` (unless forced) and name only layers it has.
    static func check(_ profile: LayerProfile, model: String, force: Bool, _ api: APIDependencies) async throws {
        guard let (stored, _) = try await api.store.model(name: model, version: nil) else {
            throw APIError.invalid("model", "model '\(model)' does not exist")
        }
        let graph = try ModelGraph(json: Data(stored.graphJSON.utf8))
        if let mismatch = profile.modelMismatch(with: graph), !force {
            throw APIError.invalid("model", "\(mismatch); add ?force=true to use it anyway")
        }
        let unknown = profile.unknownLayers(in: graph)
        if !unknown.isEmpty {
            throw APIError.invalid(
                "layers",
                "\(unknown.count) profiled layer(s) are not in model '\(model)': \(unknown.prefix(5).joined(separator: ", "))")
        }
    }
}
