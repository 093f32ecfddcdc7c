import Foundation
import Testing

@testable import SplitCore

@Suite("Device memory model")
struct MemoryModelTests {
    /// x (input, 1000 B/sample) → a (4000 B of weights, 500 B/sample) → b (100 B of weights, 10 B, output).
    static func threeLayers() throws -> ModelGraph {
        try ModelGraph(
            name: "three",
            layers: [
                Layer(name: "x", inputs: [], outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500, parameterBytes: 4000),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10, parameterBytes: 100),
            ])
    }

    static func conditions(batch: Int = 4, optimizer: Optimizer = .adam, limit: Int64? = nil) -> PlanningConditions {
        PlanningConditions(
            batchSize: batch, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02,
            optimizer: optimizer, deviceMemoryLimitBytes: limit)
    }

    @Test("M(D) is the formula worked out by hand, for each optimizer")
    func handComputed() throws {
        let model = try PreparedModel(graph: try Self.threeLayers())
        // D = {x, a}, batch 4. x: resident 4·1000 = 4000 (no weights), not a cut layer (a reads it on the device).
        // a: resident 4000·(2+s) + 4·500, cut layer (b is on the server): gradient 4·500 = 2000.
        let split = [true, true, false]
        for (optimizer, expected) in [
            (Optimizer.sgd, 4000 + 8000 + 2000 + 2000), (.momentum, 4000 + 12000 + 2000 + 2000),
            (.adam, 4000 + 16000 + 2000 + 2000),
        ] {
            let bytes = try model.deviceMemoryBytes(onDevice: split, batchSize: 4, optimizer: optimizer)
            #expect(bytes == Int64(expected), "\(optimizer)")
            let plan = try model.plan(forSplit: split, conditions: Self.conditions(optimizer: optimizer))
            #expect(plan.deviceMemoryBytes == Int64(expected))
        }
        // The planner reports the same number for the plan it makes (a must stay: it reads x).
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: Self.conditions())
        #expect(plan.deviceLayers == [0, 1])
        #expect(plan.deviceMemoryBytes == 24000)
        #expect(!plan.memoryBound)
    }

    @Test("a cut layer feeding several server layers receives one gradient; a layer feeding only device layers none")
    func gradientOncePerCutLayer() throws {
        let graph = try ModelGraph(
            name: "fan",
            layers: [
                Layer(name: "x", outputBytes: 10),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1, outputBytes: 100, parameterBytes: 7),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 3),
                Layer(name: "c", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 5),
                Layer(name: "d", inputs: ["b", "c"], outputBytes: 1),
            ])
        let model = try PreparedModel(graph: graph)
        // D = {x, a} at batch 2, SGD: x 20; a 7·2 + 200 = 214 and one gradient of 200 for b and c together.
        #expect(try model.deviceMemoryBytes(onDevice: [true, true, false, false, false], batchSize: 2, optimizer: .sgd) == 20 + 214 + 200)
        // D = {x, a, b}: a still feeds c on the server (one gradient), b adds 2·3 resident and 2·3 gradient.
        #expect(try model.deviceMemoryBytes(onDevice: [true, true, true, false, false], batchSize: 2, optimizer: .sgd) == 20 + 214 + 200 + 6 + 6)
        // D = {x, a, b, c}: a is no longer a cut layer; b and c are.
        #expect(try model.deviceMemoryBytes(onDevice: [true, true, true, true, false], batchSize: 2, optimizer: .sgd) == 20 + 214 + 6 + 6 + 10 + 10)
    }

    @Test("a layer that reaches no output keeps no activations (it never takes part in backward)")
    func deadEndsKeepNothing() throws {
        let graph = try ModelGraph(
            name: "guarded",
            layers: [
                Layer(name: "x", outputBytes: 10),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1, outputBytes: 100),
                Layer(name: "size", inputs: ["a"], outputBytes: 8),
                Layer(name: "check", inputs: ["size"], outputBytes: 8),
                Layer(name: "out", inputs: ["a"], forwardFLOPs: 1, outputBytes: 1),
            ], outputs: ["out"])
        let model = try PreparedModel(graph: graph)
        let terms = try model.memoryTerms(batchSize: 3, optimizer: .sgd)
        let names = ["x", "a", "size", "check", "out"]
        let index = names.map { graph.index(of: $0)! }
        #expect(index.map { terms.residentBytes[$0] } == [30, 300, 0, 0, 3])
        #expect(index.map { terms.gradientBytes[$0] } == [30, 300, 24, 24, 3])
        // {x, a, size, check}: a is cut (out on the server); the guards cost nothing.
        var split = [Bool](repeating: true, count: 5)
        split[graph.index(of: "out")!] = false
        #expect(terms.bytes(onDevice: split, graph: graph) == 30 + 300 + 300)
        // They are followers of a: the block planner places them with it.
        #expect(index.map { model.decomposition.isFollower[$0] } == [false, false, true, true, false])
    }

    @Test("terms are rounded up to whole bytes")
    func roundsUp() throws {
        let graph = try ModelGraph(
            name: "tiny",
            layers: [
                Layer(name: "x", outputBytes: 0.3),
                Layer(name: "y", inputs: ["x"], forwardFLOPs: 1, outputBytes: 1, parameterBytes: 0.2),
            ])
        let model = try PreparedModel(graph: graph, allowRawUpload: true)
        let terms = try model.memoryTerms(batchSize: 5, optimizer: .sgd)
        #expect(terms.residentBytes == [2, 6])  // ⌈5·0.3⌉, ⌈0.2·2 + 5·1⌉
        #expect(terms.gradientBytes == [2, 5])
        #expect(terms.bytes(onDevice: [true, false], graph: graph) == 4)
    }

    @Test("a measured memory_bytes replaces the activation estimate, scaled from the profile's batch")
    func profileOverride() throws {
        let json = """
            {"format": "splitprofile/1", "batch_size": 8, "layers": {
              "a": {"forward_ms": 1, "backward_ms": 2, "memory_bytes": 800} }}
            """
        let profile = try LayerProfile(json: Data(json.utf8))
        #expect(profile.memoryBytesPerSample["a"] == 100)
        let model = try PreparedModel(graph: try Self.threeLayers(), deviceProfile: profile)
        // a keeps 100 B per sample instead of 500: resident 4000·4 + 4·100 = 16400; its gradient
        // to the server is still its output, 4·500 = 2000.
        #expect(try model.deviceMemoryBytes(onDevice: [true, true, false], batchSize: 4, optimizer: .adam) == 4000 + 16400 + 2000)
        // The server profile's memory never counts.
        let serverSide = try PreparedModel(graph: try Self.threeLayers(), serverProfile: profile)
        #expect(try serverSide.deviceMemoryBytes(onDevice: [true, true, false], batchSize: 4, optimizer: .adam) == 24000)
    }

    @Test("memory_bytes out of range is refused naming layer and field", arguments: ["-1", "1e16", "\"lots\"", "null"])
    func profileRangeChecks(value: String) throws {
        let json = """
            {"format": "splitprofile/1", "batch_size": 8, "layers": {"a": {"forward_ms": 1, "backward_ms": 2, "memory_bytes": \(value)}}}
            """
        do {
            let profile = try LayerProfile(json: Data(json.utf8))
            #expect(value == "null" && profile.memoryBytesPerSample.isEmpty, "null means no measurement")
        } catch let error as ProfileError {
            #expect(error.description.contains("memory_bytes"), "\(error)")
            if value != "\"lots\"" { #expect(error.layer == "a") }
        }
    }

    /// x (input, huge) → a (small output) → b → out. With raw upload allowed every layer but x
    /// and out is free, and the least memory is not the smallest device part.
    static func wideInput() throws -> ModelGraph {
        try ModelGraph(
            name: "wide",
            layers: [
                Layer(name: "x", outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e6, backwardFLOPs: 1e6, outputBytes: 10, parameterBytes: 50),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e6, backwardFLOPs: 1e6, outputBytes: 20, parameterBytes: 200),
                Layer(name: "out", inputs: ["b"], forwardFLOPs: 1e6, outputBytes: 1),
            ])
    }

    @Test("a limit picks the fastest split that fits; below the least memory the error gives that least memory")
    func limitChoosesAndRefuses() throws {
        let model = try PreparedModel(graph: try Self.wideInput(), allowRawUpload: true)
        // Batch 1, SGD. Splits and memory: {x}: 1000 + 1000 = 2000; {x,a}: 1000 + (100+10) + 10 = 1120;
        // {x,a,b}: 1000 + 110 + (400+20) + 20 = 1550. Least: 1120, not the smallest device part.
        // Delays (device 1e9 FLOP/s, server 1e12, 8000 bit/s both ways: 2 ms per byte):
        // {x}: 3 µs server + 2 s transfer; {x,a}: 2 ms + ... + 20 ms; {x,a,b}: 4 ms + ... + 40 ms.
        var conditions = PlanningConditions(
            batchSize: 1, deviceFLOPsPerSecond: 1e9, serverFLOPsPerSecond: 1e12,
            uplinkBitsPerSecond: 8e3, downlinkBitsPerSecond: 8e3, optimizer: .sgd)
        let planner = SplitPlanner(model: model)
        let free = try planner.plan(.dag, conditions: conditions)
        #expect(free.deviceLayers == [0, 1])
        #expect(free.deviceMemoryBytes == 1120)
        for algorithm in [PlanningAlgorithm.dag, .block, .brute] {
            conditions.deviceMemoryLimitBytes = 1120
            let plan = try planner.plan(algorithm, conditions: conditions)
            #expect(plan.deviceLayers == [0, 1] && !plan.memoryBound, "\(algorithm)")
            conditions.deviceMemoryLimitBytes = 1119
            #expect(throws: PlanningError.deviceMemoryExceeded(requiredBytes: 1120, limitBytes: 1119)) {
                try planner.plan(algorithm, conditions: conditions)
            }
        }
        // A limit that excludes the fastest split: make b cheap on the device and its output tiny
        // on the link, so {x,a,b} is fastest unconstrained, then cap below its 1550 bytes.
        let graph = try ModelGraph(
            name: "wide2",
            layers: [
                Layer(name: "x", outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e6, backwardFLOPs: 1e6, outputBytes: 10, parameterBytes: 50),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e6, backwardFLOPs: 1e6, outputBytes: 1, parameterBytes: 200),
                Layer(name: "out", inputs: ["b"], forwardFLOPs: 1e6, outputBytes: 1),
            ])
        let second = SplitPlanner(model: try PreparedModel(graph: graph, allowRawUpload: true))
        conditions.deviceMemoryLimitBytes = nil
        let fastest = try second.plan(.dag, conditions: conditions)
        // {x,a,b}: 4 ms device + 2 ms transfer of 1 B beats {x,a}: 2 ms + 20 ms; memory 1000 + 110 + 401 + 1.
        #expect(fastest.deviceLayers == [0, 1, 2] && fastest.deviceMemoryBytes == 1512)
        for algorithm in [PlanningAlgorithm.dag, .block, .brute, .chain] {
            conditions.deviceMemoryLimitBytes = 1511
            let plan = try second.plan(algorithm, conditions: conditions)
            #expect(plan.deviceLayers == [0, 1] && plan.deviceMemoryBytes == 1120 && plan.memoryBound, "\(algorithm)")
            #expect(abs(plan.delaySeconds - (0.002 + 0.000003 + 0.010 + 0.010)) < 1e-12, "\(algorithm): \(plan.delaySeconds)")
        }
    }

    @Test("a split over the limit is refused when evaluated; absurd sizes are an error, not a trap")
    func evaluateAndOverflow() throws {
        let model = try PreparedModel(graph: try Self.threeLayers())
        #expect(throws: PlanningError.splitExceedsDeviceMemory(neededBytes: 24000, limitBytes: 23999)) {
            try model.plan(forSplit: [true, true, false], conditions: Self.conditions(limit: 23999))
        }
        #expect(throws: GraphError.self) {
            try ModelGraph(
                name: "absurd",
                layers: [
                    Layer(name: "x", outputBytes: 1),
                    Layer(
                        name: "y", inputs: ["x"], outputBytes: 1,
                        parameterBytes: 1e300),
                ])
        }
        // The largest accepted sizes at the largest batch exceed 9 PB: without a limit the memory
        // is reported saturated (never a trap); with a limit planning says why.
        let most = Limits.layerBytes.bounds.upperBound
        let huge = try ModelGraph(
            name: "huge",
            layers: [
                Layer(name: "x", outputBytes: most), Layer(name: "y", inputs: ["x"], forwardFLOPs: 1, outputBytes: most, parameterBytes: most),
                Layer(name: "z", inputs: ["y"], forwardFLOPs: 1, outputBytes: 1),
            ])
        var conditions = Self.conditions()
        conditions.batchSize = 1_000_000
        let planner = SplitPlanner(model: try PreparedModel(graph: huge))
        let unlimited = try planner.plan(.dag, conditions: conditions)
        #expect(unlimited.deviceMemoryBytes == DeviceMemoryTerms.maximumTotalBytes)
        conditions.deviceMemoryLimitBytes = 1 << 40
        #expect(throws: PlanningError.self) { try planner.plan(.dag, conditions: conditions) }
        #expect(throws: PlanningError.self) { try Self.conditions(limit: 0).validate() }
    }

    @Test("byte counts: powers of 1000 and of 1024, with or without B; nonsense refused")
    func byteQuantities() throws {
        let accepted: [(String, Int64)] = [
            ("2G", 2_000_000_000), ("2GB", 2_000_000_000), ("2Gi", 2_147_483_648), ("2GiB", 2_147_483_648),
            ("512Mi", 536_870_912), ("1.5G", 1_500_000_000), ("1500000000", 1_500_000_000), ("2e9", 2_000_000_000),
            (" 4 GiB ", 4_294_967_296), ("750k", 750_000), ("1T", 1_000_000_000_000), ("64B", 64),
        ]
        for (text, bytes) in accepted { #expect(try ByteQuantity.parse(text) == bytes, "\(text)") }
        for text in ["2m", "2Gb", "2gigs", "-1G", "0", "abc", "1.5", "1e20", "", "G"] {
            #expect(throws: ByteQuantityError.self, "\(text)") { try ByteQuantity.parse(text) }
        }
        #expect(ByteQuantity.describe(2_345_678_901) == "2.35 GB (2345678901 bytes)")
        #expect(ByteQuantity.short(999) == "999 B" && ByteQuantity.short(123_456_789) == "123 MB")
    }
}
