import Foundation
import SplitCore
import SplitStore

/// Prepared models shared by the API and the planning workers, loaded from the store on first
/// use. A model version never changes, so parsed graphs are kept; prepared variants (raw-upload
/// rule, device and server profiles) are keyed by the profiles' update times, so a new profile
/// simply yields a new entry. The least recently used variants are dropped beyond `capacity`.
package final class ModelCache: @unchecked Sendable {
    struct Key: Hashable {
        var model: String
        var version: Int
        var allowRawUpload: Bool
        /// Device id and profile update time, when the device has a profile.
        var deviceProfile: String?
        /// Edge server and profile update time, when the server has a profile for this model.
        var serverProfile: String?
    }

    private struct GraphKey: Hashable {
        var name: String
        var version: Int
    }

    private let lock = NSLock()
    private var graphs: [GraphKey: ModelGraph] = [:]
    private var prepared: [Key: (model: PreparedModel, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacity: Int

    package init(capacity: Int = 1024) { self.capacity = capacity }

    /// The prepared model for a planning candidate.
    func prepared(for candidate: PlanningCandidate, connection: PostgresConnection) throws -> PreparedModel {
        let key = Key(
            model: candidate.modelName, version: candidate.modelVersion, allowRawUpload: candidate.allowRawUpload,
            deviceProfile: candidate.deviceProfileVersion.map { "\(candidate.deviceID)@\($0.timeIntervalSince1970)" },
            serverProfile: candidate.serverProfileVersion.map { "\(candidate.edgeServerID)@\($0.timeIntervalSince1970)" })
        return try prepared(key, connection: connection) {
            (
                try candidate.deviceProfileVersion.flatMap { _ in
                    try ProfileRepository.deviceProfile(
                        deviceID: candidate.deviceID,
                        connection: connection)
                },
                try candidate.serverProfileVersion.flatMap { _ in
                    try ProfileRepository.serverProfile(edgeServerID: candidate.edgeServerID, modelName: candidate.modelName, connection: connection)
                }
            )
        }
    }

    /// The prepared model for `key`, loading the graph and the profiles (JSON) when missing.
    func prepared(
        _ key: Key, connection: PostgresConnection,
        profiles: () throws -> (device: String?, server: String?) = { (nil, nil) }
    ) throws -> PreparedModel {
        lock.lock()
        clock += 1
        if let entry = prepared[key] {
            prepared[key]?.lastUse = clock
            lock.unlock()
            return entry.model
        }
        let cachedGraph = graphs[GraphKey(name: key.model, version: key.version)]
        lock.unlock()
        let graph = try cachedGraph ?? loadGraph(name: key.model, version: key.version, connection: connection)
        let (deviceJSON, serverJSON) = try profiles()
        let model = try PreparedModel(
            graph: graph, deviceProfile: try deviceJSON.map { try LayerProfile(json: Data($0.utf8)) },
            serverProfile: try serverJSON.map { try LayerProfile(json: Data($0.utf8)) }, allowRawUpload: key.allowRawUpload)
        lock.lock()
        defer { lock.unlock() }
        graphs[GraphKey(name: key.model, version: key.version)] = graph
        prepared[key] = (model, clock)
        if prepared.count > capacity {
            // Drop the least recently used quarter.
            let victims = prepared.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(capacity / 4).map(\.key)
            for victim in victims { prepared[victim] = nil }
        }
        return model
    }

    private func loadGraph(name: String, version: Int, connection: PostgresConnection) throws -> ModelGraph {
        guard let stored = try ModelRepository.find(name: name, version: version, connection: connection) else {
            throw StoreError(.notFound, field: "model", "model '\(name)' version \(version) does not exist")
        }
        return try ModelGraph(json: Data(stored.graphJSON.utf8))
    }
}
