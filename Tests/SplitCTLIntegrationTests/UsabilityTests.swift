import Foundation
import SplitTestSupport
import Testing

/// What a new user meets first: choices listed in errors and help, the completion script, the
/// version, progress that does not garble logs, and plan drawings.
@Suite("splitctl usability")
struct UsabilityTests {
    static let planners = ["dag", "block", "chain", "boundary", "server-only", "brute"]

    /// The version the sources declare (`SplitdVersion.current`).
    static func declaredVersion() throws -> String {
        let source = try String(contentsOf: packageRoot.appendingPathComponent("Sources/SplitCore/Version.swift"), encoding: .utf8)
        let line = try #require(source.split(separator: "\n").first { $0.contains("static let current") })
        let parts = line.split(separator: "\"")
        try #require(parts.count >= 2, "no quoted version in \(line)")
        return String(parts[1])
    }

    @Test("an unknown --algorithm exits 2 on one line listing every planner")
    func unknownAlgorithmListsChoices() throws {
        let result = try CLI.run(["plan", "ops/models/vgg16.json", "--algorithm", "foo"])
        #expect(result.status == 2, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("'foo'"), "\(result.stderr)")
        for planner in Self.planners { #expect(result.stderr.contains(planner), "\(result.stderr) lacks \(planner)") }
        #expect(result.stdout.isEmpty)
    }

    @Test("plan --help lists every planner and output format")
    func helpListsChoices() throws {
        let result = try CLI.run(["plan", "--help"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(Self.planners.joined(separator: "|")), "\(result.stdout)")
        #expect(result.stdout.contains("table|json|dot"))
    }

    @Test("the bash, zsh and fish completion scripts are generated and know the subcommands", arguments: ["bash", "zsh", "fish"])
    func completionScript(shell: String) throws {
        let result = try CLI.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderr)")
        for subcommand in ["plan", "simulate", "bench", "import"] {
            #expect(
                result.stdout.contains(subcommand),
                "\(shell) script lacks \(subcommand)")
        }
        #expect(result.stdout.contains("splitctl"))
    }

    @Test("splitctl --version prints the declared version")
    func version() throws {
        let result = try CLI.run(["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == (try Self.declaredVersion()))
    }

    @Test(
        "splitd --version prints the declared version",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: CLI.daemonBinary.path),
            "splitd is built with the whole package"))
    func daemonVersion() throws {
        let result = try CLI.run(["--version"], executable: CLI.daemonBinary)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == (try Self.declaredVersion()))
    }

    @Test("simulate with stderr on a pipe writes no carriage returns or terminal escapes")
    func progressOnAPipe() throws {
        // Re-planning at every iteration over two hours: seconds in a debug build, long enough
        // that on a terminal the progress line is drawn (with \r and an erase-line escape).
        let result = try CLI.run(
            [
                "simulate", "ops/models/densenet121.json", "--trace", "ops/traces/markov.csv", "--duration", "7200",
                "--replan-every", "0.001", "--format", "csv",
            ], standardErrorPipe: true)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("\r"), "\(result.stderr.debugDescription)")
        #expect(!result.stderr.contains("\u{1B}"), "\(result.stderr.debugDescription)")
        // Progress lines, and the note naming the FLOP/s assumed (none given).
        #expect(
            result.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("simulating densenet121: ") || $0.hasPrefix("splitctl: note: ") },
            "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == 8, "a header and seven policies")
    }

    @Test("plan --format dot draws ResNet-50 left to right with a legend, blocks collapsed, every cut layer its own node")
    func planDrawing() throws {
        let conditions = ["--uplink", "100M", "--downlink", "200M"]
        let json = try CLI.run(["plan", "ops/models/resnet50.json", "--format", "json"] + conditions)
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let cut = try #require(object["cut_layers"] as? [String])
        let layers = (object["device_layers"] as? [String] ?? []).count + (object["server_layers"] as? [String] ?? []).count
        let dot = try CLI.run(["plan", "ops/models/resnet50.json", "--format", "dot"] + conditions)
        #expect(dot.status == 0, "\(dot.stderr)")
        #expect(dot.stdout.hasPrefix("digraph \"resnet50\" {"))
        #expect(dot.stdout.contains("rankdir=LR"))
        #expect(dot.stdout.contains("subgraph cluster_legend"))
        let nodes = dot.stdout.split(separator: "\n").filter { line in
            let statement = line.trimmingCharacters(in: .whitespaces)
            return (statement.hasPrefix("\"layer:") || statement.hasPrefix("\"block:")) && !statement.contains(" -> ")
        }
        #expect(layers == 176)
        #expect(nodes.count * 4 < layers, "\(nodes.count) nodes for \(layers) layers")
        #expect(!cut.isEmpty)
        for layer in cut { #expect(nodes.contains { $0.contains("\"layer:\(layer)\" [") }, "cut layer \(layer) has no node of its own") }
    }
}
