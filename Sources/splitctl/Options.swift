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
        help: ArgumentHelp("Device throughput, FLOP/s: 100G, 1.5T, 1e11 \(AssumedDefault.deviceFLOPs.helpText).", valueName: "flop/s"),
        transform: Limits.parseThroughput)
    var givenDeviceFLOPs: Double?
    @Option(
        name: .customLong("server-flops"), parsing: .unconditional,
        help: ArgumentHelp("Edge-server throughput, FLOP/s \(AssumedDefault.serverFLOPs.helpText).", valueName: "flop/s"),
        transform: Limits.parseThroughput)
    var givenServerFLOPs: Double?
    @Option(
        name: .customLong("rtt"), parsing: .unconditional,
        help: ArgumentHelp("Round-trip time: 10ms, 0.01 (seconds), 250us \(AssumedDefault.rtt.helpText).", valueName: "duration"),
        transform: AssumedDefault.rtt.parse)
    var givenRTT: Double?
    @OptionGroup var memory: MemoryOptions

    var deviceFLOPs: Double { givenDeviceFLOPs ?? AssumedDefault.deviceFLOPs.value }
    var serverFLOPs: Double { givenServerFLOPs ?? AssumedDefault.serverFLOPs.value }
    var rtt: Double { givenRTT ?? AssumedDefault.rtt.value }

    /// The compute-side conditions, validated (without the memory limit when `memoryLimit` is
    /// false: `bench` reads `--device-memory` as a list or a sweep itself).
    func conditions(memoryLimit: Bool = true) throws -> ComputeConditions {
        var conditions = ComputeConditions(batchSize: batch, deviceFLOPsPerSecond: deviceFLOPs, serverFLOPsPerSecond: serverFLOPs, rttSeconds: rtt)
        conditions.optimizer = memory.optimizer
        conditions.deviceMemoryLimitBytes = memoryLimit ? try memory.limitBytes() : nil
        try ConditionOptions.validated { try conditions.validate() }
        return conditions
    }

    /// The defaults this command run relies on because their option was not given: the FLOP/s
    /// (the device's only without a device profile, whose measured times replace it) and, when
    /// `rtt` is true, the round-trip time.
    func assumed(model: ModelOptions, rtt usesRTT: Bool = true) -> [AssumedDefault] {
        var assumed: [AssumedDefault] = []
        if givenDeviceFLOPs == nil && model.deviceProfile == nil { assumed.append(.deviceFLOPs) }
        if givenServerFLOPs == nil && model.serverProfile == nil { assumed.append(.serverFLOPs) }
        if givenRTT == nil && usesRTT { assumed.append(.rtt) }
        return assumed
    }
}

/// Hardware and network options shared by `plan`, `evaluate`, `bench` and `simulate`.
struct ConditionOptions: ParsableArguments {
    @OptionGroup var compute: ComputeOptions
    @Option(
        name: .customLong("uplink"), parsing: .unconditional,
        help: ArgumentHelp(
            "Uplink rate (device to server), bit/s: 20M, 20Mbps, 20 Mbit/s, 500kbps \(AssumedDefault.uplink.helpText).", valueName: "rate"),
        transform: Limits.parseRate)
    var givenUplink: Double?
    @Option(
        name: .customLong("downlink"), parsing: .unconditional,
        help: ArgumentHelp("Downlink rate (server to device), bit/s \(AssumedDefault.downlink.helpText).", valueName: "rate"),
        transform: Limits.parseRate)
    var givenDownlink: Double?

    var uplink: Double { givenUplink ?? AssumedDefault.uplink.value }
    var downlink: Double { givenDownlink ?? AssumedDefault.downlink.value }

    /// The conditions, validated.
    func conditions(memoryLimit: Bool = true) throws -> PlanningConditions {
        let conditions = try compute.conditions(memoryLimit: memoryLimit).conditions(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
        try Self.validated { try conditions.validate() }
        return conditions
    }

    /// The defaults this command run relies on because their option was not given; `link` is
    /// false when the link comes from elsewhere (a trace file), which also sets the rtt.
    func assumed(model: ModelOptions, link: Bool = true) -> [AssumedDefault] {
        var assumed = compute.assumed(model: model, rtt: link)
        if link {
            if givenUplink == nil { assumed.append(.uplink) }
            if givenDownlink == nil { assumed.append(.downlink) }
        }
        return assumed
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
        case .deviceFLOPs: return AssumedDefault.deviceFLOPs.flag
        case .serverFLOPs: return AssumedDefault.serverFLOPs.flag
        case .uplink: return AssumedDefault.uplink.flag
        case .downlink: return AssumedDefault.downlink.flag
        case .rtt: return AssumedDefault.rtt.flag
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
            Device memory available for training: bytes, or a number with a unit; \(ByteQuantity.unitsDescription). Plans never exceed it.
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
    /// The help of a command's graph argument.
    static let graphHelp = ArgumentHelp(
        "Model graph file: splitgraph/1 JSON, or an ONNX model (imported on the fly with the defaults of 'splitctl import').")
    /// The help of `bench`'s graph arguments.
    static let graphsHelp = ArgumentHelp("Model graph files: splitgraph/1 JSON, or ONNX models (imported as by 'splitctl import').")

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

    /// `path` mapped rather than read (an ONNX export with inline weights can be hundreds of MB,
    /// and the importer skips tensor payloads without touching their pages), or read when it
    /// cannot be mapped.
    static func mapped(_ path: String, what: String) throws -> Data {
        try (try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) ?? read(path, what: what)
    }

    /// The graph in `path`: splitgraph/1 JSON, or an ONNX model imported on the fly (`ONNXInput`).
    static func graph(at path: String) throws -> ModelGraph {
        let data = try mapped(path, what: "graph file")
        if ONNXInput.isONNX(data, path: path) { return try ONNXInput.graph(data: data, path: path) }
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

/// A note on stderr: something the user did not ask for but should know (a default assumed, a
/// file imported on the fly).
func note(_ message: String) {
    FileHandle.standardError.write(Data("splitctl: note: \(message)\n".utf8))
}

extension Optimizer: ExpressibleByArgument {}
