import Foundation
import SplitCore

@testable import SplitStore

/// Small fleets for store tests.
enum Fixtures {
    static let hostileName = "x'); DROP TABLE devices; --\"\\ 🚀"

    /// The key store tests encrypt webhook secrets with.
    static let secrets = try! SecretBox(keyBytes: Array(0..<32))

    static func graph(name: String = "tiny") throws -> ModelGraph {
        try ModelGraph(
            name: name,
            layers: [
                Layer(name: "x", outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500, block: "b0"),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10),
            ])
    }

    /// A model, an edge server and `count` devices; returns the device ids.
    @discardableResult
    static func fleet(
        _ connection: PostgresConnection, devices count: Int, model: String = "tiny",
        callback: String? = "http://127.0.0.1:9/hook"
    ) throws -> [String] {
        _ = try ModelRepository.store(try graph(name: model), connection: connection)
        if try EdgeServerRepository.find(id: "edge-1", connection: connection) == nil {
            _ = try EdgeServerRepository.create(id: "edge-1", computeFLOPs: 2e13, connection: connection)
        }
        return try (0..<count).map { index in
            let id = "dev-\(model)-\(index)"
            _ = try DeviceRepository.register(
                id: id,
                settings: DeviceSettings(
                    modelName: model, edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11, callbackURL: callback),
                secrets: Fixtures.secrets, connection: connection)
            return id
        }
    }

    static func plan(for device: String, model: String = "tiny", uplink: Double = 1e7, deliver: Bool = true) -> NewPlan {
        NewPlan(
            deviceID: device, modelName: model, modelVersion: 1, algorithm: "block",
            conditions: PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2e7, rttSeconds: 0.01),
            deviceLayers: ["x", "a"], cutLayers: ["a"], splitFingerprint: "\(model)-x-a", predictedDelaySeconds: 1.5, transferBytes: 16000,
            breakdown: DelayBreakdown(
                deviceComputeSeconds: 1, serverComputeSeconds: 0.1, uplinkSeconds: 0.2, downlinkSeconds: 0.19,
                rttSeconds: 0.01),
            solveMicroseconds: 2.5, reason: .newDevice, deliver: deliver)
    }
}
