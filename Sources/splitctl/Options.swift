import ArgumentParser
import Foundation
import SplitCore

/// A number on the command line that accepts SI suffixes (`20M`, `1.5T`).
struct SINumber: ExpressibleByArgument {
    let value: Double
    init(_ value: Double) { self.value = value }
    init?(argument: String) {
        guard let value = SIQuantity.parse(argument) else { return nil }
        self.value = value
    }
    var defaultValueDescription: String { "\(value)" }
}

/// Compute-side options (everything but the link rates), shared by `table` and, through
/// `ConditionOptions`, by `plan`, `evaluate`, `bench` and `simulate`.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Samples per training iteration.")
    var batch: Int = 32
    @Option(name: .customLong("device-flops"), help: "Device throughput, FLOP/s (SI suffixes allowed: 100G).")
    var deviceFLOPs: SINumber = SINumber(1e11)
    @Option(name: .customLong("server-flops"), help: "Edge-server throughput, FLOP/s.")
    var serverFLOPs: SINumber = SINumber(2e13)
    @Option(help: "Round-trip time, seconds (10m = 10 ms).")
    var rtt: SINumber = SINumber(0.01)

    /// The compute-side conditions, validated.
    func conditions() throws -> ComputeConditions {
        let conditions = ComputeConditions(batchSize: batch, deviceFLOPsPerSecond: deviceFLOPs.value,
                                           serverFLOPsPerSecond: serverFLOPs.value, rttSeconds: rtt.value)
        do {
            try conditions.validate()
        } catch let error as PlanningError {
            throw InputError("--\(error.description)")
        }
        return conditions
    }
}

/// Hardware and network options shared by `plan`, `evaluate`, `bench` and `simulate`.
struct ConditionOptions: ParsableArguments {
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Uplink rate, bit/s (device to server).")
    var uplink: SINumber = SINumber(20e6)
    @Option(help: "Downlink rate, bit/s (server to device).")
    var downlink: SINumber = SINumber(40e6)

    /// The conditions, validated.
    func conditions() throws -> PlanningConditions {
        let conditions = try compute.conditions().conditions(uplinkBitsPerSecond: uplink.value, downlinkBitsPerSecond: downlink.value)
        do {
            try conditions.validate()
        } catch let error as PlanningError {
            throw InputError("--\(error.description)")
        }
        return conditions
    }
}

/// Model options: profiles and the raw-upload rule.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("device-profile"), help: "Measured device times (splitprofile/1 JSON).")
    var deviceProfile: String?
    @Option(name: .customLong("server-profile"), help: "Measured server times (splitprofile/1 JSON).")
    var serverProfile: String?
    @Flag(name: .customLong("allow-raw-upload"), help: "Let layers that read model inputs run on the server.")
    var allowRawUpload = false

    /// Loads `path` and prepares it with these options.
    func prepare(graphPath path: String) throws -> PreparedModel {
        let graph = try InputFiles.graph(at: path)
        return try PreparedModel(
            graph: graph, deviceProfile: try deviceProfile.map { try InputFiles.profile(at: $0, for: graph) },
            serverProfile: try serverProfile.map { try InputFiles.profile(at: $0, for: graph) },
            allowRawUpload: allowRawUpload)
    }
}

/// Reading the files users name, with errors that say which file.
enum InputFiles {
    static func read(_ path: String, what: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                throw InputError("\(what) '\(path)' is \(isDirectory.boolValue ? "a directory" : "not readable")")
            }
            throw InputError("\(what) '\(path)' does not exist")
        }
        return data
    }

    static func graph(at path: String) throws -> ModelGraph {
        let data = try read(path, what: "graph file")
        do {
            return try ModelGraph(json: data)
        } catch let error as GraphError {
            throw InputError("\(path): \(error)")
        }
    }

    static func profile(at path: String, for graph: ModelGraph) throws -> LayerProfile {
        let data = try read(path, what: "profile file")
        do {
            let profile = try LayerProfile(json: data)
            let unknown = profile.unknownLayers(in: graph)
            if !unknown.isEmpty {
                let sample = unknown.prefix(3).joined(separator: ", ")
                FileHandle.standardError.write(Data("splitctl: warning: \(path): \(unknown.count) profiled layer(s) not in graph '\(graph.name)' (\(sample)\(unknown.count > 3 ? ", ..." : ""))\n".utf8))
            }
            return profile
        } catch let error as ProfileError {
            throw InputError("\(path): \(error)")
        }
    }
}

extension PlanningAlgorithm: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}

extension Optimizer: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}
