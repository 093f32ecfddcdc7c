import Foundation
import SplitCore

extension SplitMix64 {
    /// The planner property tests' generator: `seed`'s SplitMix64 sequence from its second
    /// value on (the sequences their seeds and recorded cases come from).
    static func property(seed: UInt64) -> SplitMix64 {
        var generator = SplitMix64(seed: seed)
        _ = generator.next()
        return generator
    }
}

enum RandomGraphs {
    /// A cost that is sometimes zero, otherwise spread over several orders of magnitude.
    static func magnitude(_ random: inout SplitMix64, scale: Double, zeroChance: Double = 0.2) -> Double {
        if Double.random(in: 0..<1, using: &random) < zeroChance { return 0 }
        return scale * Double.random(in: 0.01...10, using: &random)
    }

    /// An unstructured random DAG: several inputs, skips, fan-out, dead ends, zero-byte edges,
    /// zero-compute sinks; layers shuffled in the file. `count` layers in total.
    static func unstructured(seed: UInt64, count: Int) -> ModelGraph? {
        var random = SplitMix64.property(seed: seed)
        let inputCount = Int.random(in: 1...min(3, count - 1), using: &random)
        var layers: [Layer] = []
        for index in 0..<count {
            var inputs: [String] = []
            if index >= inputCount {
                let fanIn = Int.random(in: 1...3, using: &random)
                for _ in 0..<fanIn {
                    // Mostly recent layers (chains), sometimes far back (skips).
                    let back =
                        Bool.random(using: &random)
                        ? Int.random(in: 1...min(2, index), using: &random)
                        : Int.random(in: 1...index, using: &random)
                    inputs.append("L\(index - back)")
                }
            }
            let flops = index < inputCount ? 0 : magnitude(&random, scale: 1e8)
            layers.append(
                Layer(
                    name: "L\(index)", op: "op", inputs: inputs,
                    forwardFLOPs: flops, backwardFLOPs: flops * Double.random(in: 0...2.5, using: &random),
                    outputBytes: magnitude(&random, scale: 1e5, zeroChance: 0.15),
                    block: Bool.random(using: &random) ? "b\(index / 4)" : nil))
        }
        var outputs: [String]? = nil
        if Bool.random(using: &random) {
            // Declared outputs: the last layer plus maybe another late one; other sinks become dead ends.
            outputs = ["L\(count - 1)"]
            if count > 4 && Bool.random(using: &random) { outputs!.append("L\(count - 2)") }
        }
        layers.shuffle(using: &random)
        return try? ModelGraph(name: "random-\(seed)", layers: layers, outputs: outputs)
    }

    /// A series of random single-entry/single-exit blocks, optionally with a "mask" layer computed
    /// from the input that every block reads (as in GPT-2), and zero-compute assertion sinks.
    static func blockStructured(seed: UInt64, blocks: Int, blockSize: ClosedRange<Int>) -> ModelGraph? {
        var random = SplitMix64.property(seed: seed)
        var layers: [Layer] = [Layer(name: "x", op: "input", outputBytes: magnitude(&random, scale: 6e5, zeroChance: 0))]
        func add(_ name: String, _ inputs: [String], block: String?, flopsScale: Double = 1e8) {
            let flops = magnitude(&random, scale: flopsScale, zeroChance: 0.1)
            layers.append(
                Layer(
                    name: name, inputs: inputs, forwardFLOPs: flops, backwardFLOPs: 2 * flops,
                    outputBytes: magnitude(&random, scale: 2e5, zeroChance: 0.05), block: block))
        }
        add("stem", ["x"], block: nil)
        let hasMask = Bool.random(using: &random)
        if hasMask {
            add("mask_a", ["x"], block: nil, flopsScale: 1e3)
            add("mask", ["mask_a"], block: nil, flopsScale: 1e3)
            layers.append(Layer(name: "mask_assert", inputs: ["mask"], outputBytes: 0))
        }
        var entry = "stem"
        for block in 0..<blocks {
            let label = "blk\(block)"
            let size = Int.random(in: blockSize, using: &random)
            var names: [String] = []
            for index in 0..<size {
                let name = "\(label)_\(index)"
                var inputs = [names.isEmpty ? entry : names[Int.random(in: max(0, names.count - 2)..<names.count, using: &random)]]
                if !names.isEmpty && Bool.random(using: &random) {
                    inputs.append(Bool.random(using: &random) ? entry : names.randomElement(using: &random)!)
                }
                if hasMask && index == size / 2 { inputs.append("mask") }
                add(name, inputs, block: label)
                names.append(name)
            }
            // The exit joins every layer nobody reads yet, so the block has a single exit.
            let read = Set(layers.flatMap(\.inputs))
            let open = names.filter { !read.contains($0) }
            add("\(label)_out", open + (Bool.random(using: &random) ? [entry] : []), block: label)
            if Bool.random(using: &random) { layers.append(Layer(name: "\(label)_assert", inputs: ["\(label)_out"])) }
            entry = "\(label)_out"
        }
        add("head", [entry], block: nil)
        layers.shuffle(using: &random)
        return try? ModelGraph(name: "blocks-\(seed)", layers: layers, outputs: ["head"])
    }

    /// Random but plausible conditions: slow-to-fast devices and links.
    static func conditions(seed: UInt64) -> PlanningConditions {
        var random = SplitMix64.property(seed: seed ^ 0xC0FFEE)
        return PlanningConditions(
            batchSize: Int.random(in: 1...64, using: &random),
            deviceFLOPsPerSecond: pow10(Double.random(in: 9...12, using: &random)),
            serverFLOPsPerSecond: pow10(Double.random(in: 11...14, using: &random)),
            uplinkBitsPerSecond: pow10(Double.random(in: 5...10, using: &random)),
            downlinkBitsPerSecond: pow10(Double.random(in: 5...10, using: &random)),
            rttSeconds: Double.random(in: 0...0.1, using: &random))
    }

    static func pow10(_ exponent: Double) -> Double { pow(10, exponent) }
}

extension RandomGraphs {
    /// A NASNet-style graph: a stem, then `cells` cells that each read the outputs of the previous
    /// two cells. A cell adjusts both inputs with short chains, combines pairs of hidden states
    /// through random branches (chains of 0–`branchLength` layers; 0 is the identity) into adds,
    /// and concatenates the hidden states nobody inside the cell read. Adds and concats cost no
    /// compute, as in traced NAS models; sizes are random over orders of magnitude. Sometimes an
    /// auxiliary head (a chain to a second declared output) leaves a middle cell, and a
    /// zero-compute guard hangs off a cell output.
    static func nasnetLike(seed: UInt64, cells: Int, combines: ClosedRange<Int> = 2...5, branchLength: Int = 4) -> ModelGraph? {
        var random = SplitMix64.property(seed: seed)
        var layers: [Layer] = [Layer(name: "x", op: "input", outputBytes: magnitude(&random, scale: 6e5, zeroChance: 0))]
        var counter = 0
        @discardableResult
        func add(_ inputs: [String], op: String = "conv", compute: Bool = true) -> String {
            counter += 1
            let name = "n\(counter)"
            let flops = compute ? magnitude(&random, scale: 1e8, zeroChance: 0.1) : 0
            layers.append(
                Layer(
                    name: name, op: op, inputs: inputs, forwardFLOPs: flops,
                    backwardFLOPs: flops
                        * Double.random(
                            in: 0...2.5,
                            using: &random),
                    outputBytes: magnitude(&random, scale: 2e5, zeroChance: 0.05)))
            return name
        }
        func chain(from input: String, length: Int) -> String {
            var last = input
            for _ in 0..<length { last = add([last]) }
            return last
        }
        let stem = add(["x"])
        var previous = stem, current = add([stem])
        var outputs: [String] = []
        let auxiliaryCell = Bool.random(using: &random) ? Int.random(in: 0..<max(1, cells), using: &random) : -1
        for cell in 0..<cells {
            var hidden = [
                chain(from: previous, length: Int.random(in: 1...3, using: &random)),
                chain(from: current, length: Int.random(in: 1...3, using: &random)),
            ]
            var read = Set<String>()
            for _ in 0..<Int.random(in: combines, using: &random) {
                let left = hidden.randomElement(using: &random)!, right = hidden.randomElement(using: &random)!
                read.formUnion([left, right])
                let leftBranch = chain(from: left, length: Int.random(in: 0...branchLength, using: &random))
                let rightBranch = chain(from: right, length: Int.random(in: 0...branchLength, using: &random))
                hidden.append(add([leftBranch, rightBranch], op: "add", compute: false))
            }
            let unread = hidden.filter { !read.contains($0) }
            let output = add(unread.isEmpty ? [hidden[hidden.count - 1]] : unread, op: "concat", compute: false)
            if cell == auxiliaryCell {
                outputs.append(chain(from: output, length: Int.random(in: 1...4, using: &random)))
            }
            if Bool.random(using: &random) {
                layers.append(Layer(name: "guard\(cell)", op: "assert", inputs: [output]))
            }
            previous = current
            current = output
        }
        outputs.append(add([chain(from: current, length: Int.random(in: 0...2, using: &random))], op: "linear"))
        layers.shuffle(using: &random)
        return try? ModelGraph(name: "nasnet-\(seed)", layers: layers, outputs: outputs)
    }

    /// A profile measuring a random third of `graph`'s layers (milliseconds over orders of magnitude).
    static func profile(seed: UInt64, graph: ModelGraph) -> LayerProfile? {
        var random = SplitMix64.property(seed: seed ^ 0xBEEF)
        var milliseconds: [String: (forward: Double, backward: Double)] = [:]
        for layer in graph.layers where Double.random(in: 0..<1, using: &random) < 0.33 {
            milliseconds[layer.name] = (magnitude(&random, scale: 1), magnitude(&random, scale: 2))
        }
        return try? LayerProfile(batchSize: 8, milliseconds: milliseconds)
    }
}
