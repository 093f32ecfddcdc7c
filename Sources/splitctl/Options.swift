import ArgumentParser
import Foundation
import SplitCore

/// Compute-side options (everything but the link rates), shared by `table` and, through
/// `ConditionOptions`, by `plan`, `evaluate`, `bench` and `simulate`.
///
/// Every quantity goes through `Limits` (SplitCore): the units people write (`20Mbps`, `10ms`,
/// `100G`), refused when ambiguous (`100m`) or outside the physical range, with the reason.
/// Values may start with '-' (so `--uplink -5M` is refused as negative, not as a missing value).
struct ComputeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Samples per training iteration (1...1000000).")
    var batch: Int = 32
    @Option(
        name: .customLong("device-flops"), parsing: .unconditional,
        help: ArgumentHelp("Device throughput, FLOP/s: 100G, 1.5T, 1e11.", valueName: "flop/s"),
        transform: Limits.parseThroughput)
    var deviceFLOPs: Double = 1e11
    @Option(
        name: .customLong("server-flops"), parsing: .unconditional,
        help: ArgumentHelp("Edge-server throughput, FLOP/s.", valueName: "flop/s"), transform: Limits.parseThroughput)
    var serverFLOPs: Double = 2e13
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Round-trip time: 10ms, 0.01 (seconds), 250us.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: Limits.rtt) })
    var rtt: Double = 0.01
    @OptionGroup var memory: MemoryOptions

    /// The compute-side conditions, validated (without the memory limit when `memoryLimit` is
    /// false: `bench` reads `--device-memory` as a list or a sweep itself).
    func conditions(memoryLimit: Bool = true) throws -> ComputeConditions {
        var conditions = ComputeConditions(batchSize: batch, deviceFLOPsPerSecond: deviceFLOPs, serverFLOPsPerSecond: serverFLOPs, rttSeconds: rtt)
        conditions.optimizer = memory.optimizer
        conditions.deviceMemoryLimitBytes = memoryLimit ? try memory.limitBytes() : nil
        try ConditionOptions.validated { try conditions.validate() }
        return conditions
    }
}

/// Hardware and network options shared by `plan`, `evaluate`, `bench` and `simulate`.
struct ConditionOptions: ParsableArguments {
    @OptionGroup var compute: ComputeOptions
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Uplink rate (device to server), bit/s: 20M, 20Mbps, 20 Mbit/s, 500kbps.", valueName: "rate"),
        transform: Limits.parseRate)
    var uplink: Double = 20e6
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Downlink rate (server to device), bit/s.", valueName: "rate"),
        transform: Limits.parseRate)
    var downlink: Double = 40e6

    /// The conditions, validated.
    func conditions(memoryLimit: Bool = true) throws -> PlanningConditions {
        let conditions = try compute.conditions(memoryLimit: memoryLimit).conditions(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
        try Self.validated { try conditions.validate() }
        return conditions
    }

    /// Runs `check`, turning a core `invalidParameter` into a usage error naming the flag.
    static func validated(_ check: () throws -> Void) throws {
        do {
            try check()
        } catch PlanningError.invalidParameter(let parameter, let reason) {
            throw InputError("\(flag(for: parameter)): \(reason)")
        }
    }

    /// The flag that sets `parameter`.
    static func flag(for parameter: PlanningParameter) -> String {
        switch parameter {
        case .batchSize: return "--batch"
        case .deviceFLOPs: return "--device-flops"
        case .serverFLOPs: return "--server-flops"
        case .uplink: return "--uplink"
        case .downlink: return "--downlink"
        case .rtt: return "--rtt"
        case .replanInterval: return "--replan-every"
        case .deviceMemory: return "--device-memory"
        case .switchHorizon: return "--switch-horizon"
        case .minimumGain: return "--min-gain"
        case .paybackFactor: return "--payback"
        case .smoothing: return "--smoothing"
        case .telemetryInterval: return "--telemetry-every"
        }
    }
}

/// The device's memory limit and optimizer, part of the compute side of every command.
struct MemoryOptions: ParsableArguments {
    @Option(
        name: .customLong("device-memory"),
        help: """
            Device memory available for training: bytes, or 2G / 2GB (10^9), 2Gi / 2GiB (2^30); units k M G T P, Ki Mi Gi Ti Pi. Plans never \
            exceed it.
            """)
    var deviceMemory: String?
    @Option(
        help: "Optimizer on the device: sgd|momentum|adam (0, 1, 2 state values per weight); sets its training memory and what a split change moves.")
    var optimizer: Optimizer = .adam

    /// The limit in bytes, if one was given.
    func limitBytes() throws -> Int64? {
        try deviceMemory.map { try Self.bytes($0, option: "--device-memory") }
    }

    /// A byte count given to `option`, or a usage error naming it.
    /// A device memory size: the units of `ByteQuantity`, within `Limits.deviceMemory` (as in the API).
    static func bytes(_ text: String, option: String) throws -> Int64 {
        let bytes: Int64
        do {
            bytes = try ByteQuantity.parse(text)
        } catch {
            throw InputError("\(option) \(error)")
        }
        if let violation = Limits.deviceMemory.violation(Double(bytes)) {
            throw InputError("\(option) '\(text)' \(violation)")
        }
        return bytes
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
    @Flag(name: .customLong("force-profile"), help: "Use a profile even though its 'model' names another model.")
    var forceProfile = false

    /// Loads `path` and prepares it with these options.
    func prepare(graphPath path: String) throws -> PreparedModel {
        let graph = try InputFiles.graph(at: path)
        return try PreparedModel(
            graph: graph, deviceProfile: try deviceProfile.map { try InputFiles.profile(at: $0, for: graph, force: forceProfile) },
            serverProfile: try serverProfile.map { try InputFiles.profile(at: $0, for: graph, force: forceProfile) },
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

    static func profile(at path: String, for graph: ModelGraph, force: Bool) throws -> LayerProfile {
        let data = try read(path, what: "profile file")
        do {
            let profile = try LayerProfile(json: data)
            if let mismatch = profile.modelMismatch(with: graph) {
                guard force else { throw InputError("\(path): \(mismatch) (use --force-profile to use it anyway)") }
                warn("\(path): \(mismatch); used anyway (--force-profile)")
            }
            let unknown = profile.unknownLayers(in: graph)
            if !unknown.isEmpty {
                let sample = unknown.prefix(3).joined(separator: ", ")
                warn("\(path): \(unknown.count) profiled layer(s) not in graph '\(graph.name)' (\(sample)\(unknown.count > 3 ? ", ..." : ""))")
            }
            return profile
        } catch let error as ProfileError {
            throw InputError("\(path): \(error)")
        }
    }
}

extension PlanningAlgorithm: ExpressibleByArgument {}

/// A warning line on stderr.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("splitctl: warning: \(message)\n".utf8))
}

extension Optimizer: ExpressibleByArgument {}
