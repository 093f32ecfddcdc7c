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
