import Foundation
import SplitFuzzSupport
import Testing

@Suite("splitctl import")
struct ImportCommandTests {
    static let fixtures = "Tests/SplitImportTests/Fixtures"

    @Test("an ONNX file imports to splitgraph/1 on stdout that plan accepts, with a summary on stderr")
    func importsAndPlans() throws {
        let result = try CLI.run(["import", "\(Self.fixtures)/resnet50.ts.onnx"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "splitgraph/1" && object["name"] as? String == "resnet50")
        #expect((object["layers"] as? [Any])?.count == 123)
        #expect(result.stderr.contains("123 layers, 16 blocks") && result.stderr.contains("GFLOPs per sample"))
        #expect(result.stderr.contains("approximate FLOPs") && result.stderr.contains("not counted (zero FLOPs): none"))

        let graphPath = try CLI.temporaryFile("")
        defer { try? FileManager.default.removeItem(atPath: graphPath) }
        let written = try CLI.run([
            "import", "\(Self.fixtures)/vit_b_16.dynamo.onnx", "--output", graphPath, "--name", "vit", "--input",
            "x=2x3x224x224",
        ])
        #expect(written.status == 0 && written.stdout.isEmpty, "\(written.stderr)")
        #expect(written.stderr.contains("batch 2 divided out"))
        let plan = try CLI.run(["plan", graphPath, "--format", "json", "--uplink", "100M", "--downlink", "100M"])
        #expect(plan.status == 0, "\(plan.stderr)")
    }

    @Test("plan, table, evaluate, simulate and validate read an ONNX model as 'splitctl import' imports it, and say so on stderr")
    func onnxWhereAGraphIsExpected() throws {
        let onnx = "\(Self.fixtures)/resnet18.ts.onnx"
        let graphPath = try CLI.temporaryFile("")
        defer { try? FileManager.default.removeItem(atPath: graphPath) }
        let imported = try CLI.run(["import", onnx, "--output", graphPath])
        #expect(imported.status == 0, "\(imported.stderr)")
        let conditions = ["--uplink", "10M", "--downlink", "10M", "--device-flops", "100G", "--server-flops", "20T", "--rtt", "10ms"]
        let direct = try CLI.run(["plan", onnx, "--format", "json"] + conditions)
        let saved = try CLI.run(["plan", graphPath, "--format", "json"] + conditions)
        #expect(direct.status == 0 && saved.status == 0, "\(direct.stderr)")
        let directPlan = try #require(try JSONSerialization.jsonObject(with: Data(direct.stdout.utf8)) as? [String: Any])
        let savedPlan = try #require(try JSONSerialization.jsonObject(with: Data(saved.stdout.utf8)) as? [String: Any])
        // The same graph, hence the same plan (everything but the solve time).
        for key in ["model", "device_layers", "cut_layers", "delay_seconds", "transfer_bytes", "device_memory_bytes"] {
            #expect("\(directPlan[key] ?? "missing")" == "\(savedPlan[key] ?? "missing")", "\(key)")
        }
        #expect(directPlan["model"] as? String == "resnet18")
        let note = "splitctl: note: \(onnx) is an ONNX model: imported it as 'resnet18' (50 layers) with the defaults of 'splitctl import'"
        #expect(direct.stderr.contains(note), "\(direct.stderr)")
        #expect(direct.stderr.contains("'splitctl import \(onnx) --output resnet18.json'"), "\(direct.stderr)")
        #expect(direct.stderr.split(separator: "\n").count == 1, "\(direct.stderr)")
        #expect(!saved.stderr.contains("ONNX"), "\(saved.stderr)")

        let deviceLayers = try #require(directPlan["device_layers"] as? [String]).joined(separator: ",")
        for arguments in [
            ["table", onnx], ["evaluate", onnx, "--device-layers", deviceLayers] + conditions, ["validate", onnx],
            ["simulate", onnx, "--synthetic", "steps", "--duration", "60", "--policies", "static", "--format", "csv"] + conditions,
        ] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0, "\(arguments[0]): \(result.stderr)")
            #expect(result.stderr.contains(note), "\(arguments[0]): \(result.stderr)")
            #expect(!result.stdout.isEmpty, "\(arguments[0])")
        }
    }

    @Test(
        "an ONNX model the defaults cannot import exits 2 on one line saying how to import it with options; a broken one says why it was read as ONNX"
    )
    func onnxThatNeedsImportOptions() throws {
        // A small CNN whose first activation is an operator without a FLOP formula: refused by
        // default, imported with --unknown-ops zero (its shape from value_info).
        var builder = ONNXTestBuilder.smallCNN()
        builder.nodes[1].op = "Mystery"
        builder.valueInfo = [("/stem/relu/Relu_out", [1, 16, 32, 32])]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("splitctl-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("mystery.onnx").path
        try builder.encoded().write(to: URL(fileURLWithPath: path))
        let link = ["--uplink", "10M", "--downlink", "10M"]
        let refused = try CLI.run(["plan", path] + link)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("splitctl: error: \(path): ") && refused.stderr.contains("Mystery"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "(it was imported as ONNX with the defaults of 'splitctl import'; to give --input or --unknown-ops, run 'splitctl import \(path) "
                    + "--output mystery.json' with them and use mystery.json)"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stdout.isEmpty, "\(refused.stderr)")
        // The way out the error names works.
        let graphPath = directory.appendingPathComponent("mystery.json").path
        let imported = try CLI.run(["import", path, "--unknown-ops", "zero", "--output", graphPath])
        #expect(imported.status == 0, "\(imported.stderr)")
        let planned = try CLI.run(["plan", graphPath] + link)
        #expect(planned.status == 0, "\(planned.stderr)")

        // Not ONNX at all, but named .onnx: the error says why it was read as ONNX, not "invalid JSON".
        let broken = directory.appendingPathComponent("broken.onnx").path
        try Data([0x08, 0x07, 0x12, 0x40, 0x01]).write(to: URL(fileURLWithPath: broken))
        let result = try CLI.run(["plan", broken] + link)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("splitctl: error: \(broken): "), "\(result.stderr)")
        #expect(result.stderr.contains("read as an ONNX model because its name ends in .onnx or its first byte is 0x08"), "\(result.stderr)")
        #expect(!result.stderr.contains("invalid JSON"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(result.stderr)")
    }

    @Test(
        "bad input exits 2 with one line naming the file and what is wrong",
        arguments: [
            (["import", "README.md"], "README.md:"),
            (["import", "does-not-exist.onnx"], "does not exist"),
            (["import", "\(fixtures)/resnet18.ts.onnx", "--input", "nope=1x3x8x8"], "no input 'nope'"),
            (["import", "\(fixtures)/resnet18.ts.onnx", "--input", "1x3"], "NAME=1x3x224x224"),
            (["import", "\(fixtures)/resnet18.ts.onnx", "--unknown-ops", "maybe"], "unknown-ops"),
            (["import", "\(fixtures)/pipedream-graph.txt", "--from", "pipedream"], "--batch"),
        ])
    func badInput(arguments: [String], expected: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("a PipeDream graph.txt imports to a graph and a splitprofile/1 that plan accepts together")
    func pipeDream() throws {
        let profilePath = try CLI.temporaryFile("")
        let graphPath = try CLI.temporaryFile("")
        defer {
            try? FileManager.default.removeItem(atPath: profilePath)
            try? FileManager.default.removeItem(atPath: graphPath)
        }
        let result = try CLI.run([
            "import", "\(Self.fixtures)/pipedream-graph.txt", "--from", "pipedream", "--batch", "32",
            "--profile-output", profilePath, "--output", graphPath,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let profile = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: profilePath))) as? [String: Any])
        #expect(profile["format"] as? String == "splitprofile/1" && profile["batch_size"] as? Int == 32)
        let plan = try CLI.run(["plan", graphPath, "--device-profile", profilePath, "--server-profile", profilePath, "--format", "json"])
        #expect(plan.status == 0, "\(plan.stderr)")
    }

    /// The importer's folding budget, end to end: 2,000 `ConstantOfShape([65536])` nodes (57 KB)
    /// asked ~1 GB before; `splitctl import` now peaks well under 256 MB (its maximum resident set,
    /// measured by the kernel for the child alone).
    @Test("a 57 KB constant bomb imports within 256 MB of resident memory")
    func constantBombMemory() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bomb-\(UUID().uuidString).onnx")
        try ONNXTestBuilder.constantBomb(nodes: 2_000).encoded().write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let measure = """
            import resource, subprocess, sys
            done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        let result = try CLI.run(
            ["python3", "-c", measure, CLI.binary.path, "import", path.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        let fields = result.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(fields.count == 2 && fields[0] == 0, "\(result.stdout) \(result.stderr)")
        let peakKiB = try #require(fields.last)
        #expect(peakKiB < 256 * 1024, "peak resident set \(peakKiB / 1024) MiB")
    }
}
