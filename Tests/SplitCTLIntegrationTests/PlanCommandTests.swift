import Foundation
import SplitTestSupport
import Testing

@Suite("splitctl plan")
struct PlanCommandTests {
    static let conditions = [
        "--batch", "32", "--device-flops", "1e11", "--server-flops", "20T", "--uplink", "20M", "--downlink", "40e6", "--rtt",
        "10ms",
    ]

    @Test("json output is exactly one object with the documented fields, and dag equals block")
    func jsonOutput() throws {
        var delays: [String: Double] = [:]
        for algorithm in ["dag", "block", "chain", "boundary", "server-only"] {
            let result = try CLI.run(["plan", "ops/models/resnet50.json", "--format", "json", "--algorithm", algorithm] + Self.conditions)
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(object["algorithm"] as? String == algorithm)
            let device = try #require(object["device_layers"] as? [String])
            let server = try #require(object["server_layers"] as? [String])
            let cut = try #require(object["cut_layers"] as? [String])
            #expect(device.count + server.count == 176)
            #expect(device.first == "x")
            #expect(server.contains("fc"))
            #expect(Set(cut).isSubset(of: Set(device)))
            let breakdown = try #require(object["breakdown"] as? [String: Double])
            for key in ["device_compute_seconds", "server_compute_seconds", "uplink_seconds", "downlink_seconds", "rtt_seconds"] {
                #expect(breakdown[key] != nil, "missing \(key)")
            }
            #expect(breakdown["rtt_seconds"] == 0.01)
            let delay = try #require(object["delay_seconds"] as? Double)
            #expect(abs(delay - breakdown.values.reduce(0, +)) <= 1e-12 * delay)
            #expect((object["transfer_bytes"] as? Double ?? -1) >= 0)
            #expect((object["solve_microseconds"] as? Double ?? -1) > 0)
            delays[algorithm] = delay
        }
        #expect(abs(delays["dag"]! - delays["block"]!) <= 1e-9 * delays["dag"]!)
        for baseline in ["chain", "boundary", "server-only"] { #expect(delays[baseline]! >= delays["dag"]! * (1 - 1e-9)) }
    }

    @Test("defaults not given are named on stderr, once, with the values used; --help shows them")
    func assumedDefaults() throws {
        let link = ["--uplink", "10M", "--downlink", "10M"]
        let assumed = try CLI.run(["plan", "ops/models/vgg16.json", "--format", "json"] + link)
        #expect(assumed.status == 0, "\(assumed.stderr)")
        #expect(
            assumed.stderr
                == """
                splitctl: note: not given, so assumed: --device-flops 100G (device FLOP/s), --server-flops 20T (server FLOP/s), --rtt 10ms \
                (round-trip time); pass them to describe your device, server and link

                """, "\(assumed.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(assumed.stdout.utf8)) as? [String: Any])
        let conditions = try #require(object["conditions"] as? [String: Any])
        #expect(conditions["device_flops"] as? Double == 1e11 && conditions["server_flops"] as? Double == 2e13)
        #expect(conditions["rtt_seconds"] as? Double == 0.01)
        // Giving the same values explicitly: the same plan, and nothing on stderr.
        let given = try CLI.run(
            ["plan", "ops/models/vgg16.json", "--format", "json", "--device-flops", "100G", "--server-flops", "20T", "--rtt", "10ms"] + link)
        #expect(given.status == 0 && given.stderr.isEmpty, "\(given.stderr)")
        let givenObject = try #require(try JSONSerialization.jsonObject(with: Data(given.stdout.utf8)) as? [String: Any])
        #expect(givenObject["delay_seconds"] as? Double == object["delay_seconds"] as? Double)
        #expect(givenObject["device_layers"] as? [String] == object["device_layers"] as? [String])
        // Without a link, the link defaults too.
        let bare = try CLI.run(["plan", "ops/models/vgg16.json"])
        #expect(bare.status == 0)
        #expect(bare.stderr.contains("--uplink 20M (uplink bit/s), --downlink 40M (downlink bit/s)"), "\(bare.stderr)")
        // table plans for every link rate: only the compute side is assumed.
        let table = try CLI.run(["table", "ops/models/vgg16.json", "--device-flops", "1T"])
        #expect(table.status == 0)
        #expect(
            table.stderr.contains("assumed: --server-flops 20T (server FLOP/s), --rtt 10ms") && !table.stderr.contains("--uplink"), "\(table.stderr)")
        // simulate over a trace file: the trace gives the link and the rtt.
        let simulate = try CLI.run([
            "simulate", "ops/models/vgg16.json", "--trace", "ops/traces/steps.csv", "--policies", "static", "--format", "csv",
        ])
        #expect(simulate.status == 0)
        #expect(simulate.stderr.contains("assumed: --device-flops 100G (device FLOP/s), --server-flops 20T (server FLOP/s);"), "\(simulate.stderr)")
        #expect(!simulate.stderr.contains("--uplink") && !simulate.stderr.contains("--rtt"), "\(simulate.stderr)")
        for help in [try CLI.run(["plan", "--help"]), try CLI.run(["simulate", "--help"])] {
            let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for (flag, value) in [
                ("--device-flops", "100G"), ("--server-flops", "20T"), ("--rtt", "10ms"), ("--uplink", "20M"), ("--downlink", "40M"),
            ] {
                let entry = try #require(text.range(of: "\(flag) <"), "\(flag) missing from help")
                let next = text[entry.upperBound...].range(of: " --")?.lowerBound ?? text.endIndex
                #expect(text[entry.upperBound..<next].contains("(default: \(value))"), "\(flag): \(text[entry.upperBound..<next])")
            }
        }
    }

    @Test("table output names the model, the delay and the cut layers")
    func tableOutput() throws {
        let result = try CLI.run(["plan", "ops/models/vgg16.json"] + Self.conditions)
        #expect(result.status == 0)
        #expect(result.stdout.contains("model      vgg16"))
        #expect(result.stdout.contains("cut layers"))
        #expect(result.stdout.contains("breakdown"))
    }

    @Test("dot output is a Graphviz digraph with coloured sides, a red cut and a legend")
    func dotOutput() throws {
        let result = try CLI.run(["plan", "ops/models/resnet18.json", "--format", "dot"] + Self.conditions)
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("digraph \"resnet18\" {"))
        #expect(result.stdout.contains("subgraph cluster_legend"))
        #expect(result.stdout.contains("#9ecae1"))
        #expect(result.stdout.contains("#fdae6b"))
        #expect(result.stdout.contains("color=\"#d62728\""))
    }

    @Test("profiles are accepted and move the plan's compute times")
    func profiles() throws {
        let plain = try CLI.run(["plan", "ops/models/resnet50.json", "--format", "json"] + Self.conditions)
        let profiled = try CLI.run(
            [
                "plan", "ops/models/resnet50.json", "--format", "json", "--server-profile", "ops/profiles/resnet50.h200.json",
                "--device-profile", "ops/profiles/resnet50.cpu2.json",
            ] + Self.conditions)
        #expect(profiled.status == 0, "\(profiled.stderr)")
        let a = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(profiled.stdout.utf8)) as? [String: Any])
        #expect((a["delay_seconds"] as! Double) != (b["delay_seconds"] as! Double))
    }

    @Test(
        "bad input exits 2 with one clear line and no stack trace",
        arguments: [
            (["plan", "ops/models/missing.json"], "does not exist"),
            (["plan", "ops/models/vgg16.json", "--uplink", "fast"], "uplink"),
            (["plan", "ops/models/vgg16.json", "--uplink", "-5"], "uplink"),
            (["plan", "ops/models/vgg16.json", "--batch", "0"], "batch"),
            (["plan", "ops/models/vgg16.json", "--algorithm", "magic"], "algorithm"),
            (["plan", "ops/models/vgg16.json", "--format", "xml"], "format"),
            (["plan", "ops/models/vgg16.json", "--device-profile", "ops/models/vgg16.json"], "profile"),
            (["plan", "ops/models/vgg16.json", "--algorithm", "brute"], "brute force refuses"),
            (["frobnicate"], "frobnicate"),
        ])
    func badInput(arguments: [String], mentions: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "status \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
        #expect(result.stderr.hasPrefix("splitctl: error:") || result.stderr.hasPrefix("Error:"), "\(result.stderr)")
        #expect(!result.stderr.contains("Stack dump"))
        #expect(result.stdout.isEmpty)
    }

    @Test("invalid graph files exit 2 naming the file, layer and field")
    func invalidGraphFile() throws {
        let path = try CLI.temporaryFile(
            """
            {"format": "splitgraph/1", "layers": [
              {"name": "x", "inputs": [], "forward_flops": 0, "backward_flops": 0, "output_bytes": 4},
              {"name": "y", "inputs": ["x"], "forward_flops": -3, "backward_flops": 0, "output_bytes": 4}]}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CLI.run(["plan", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains(path))
        #expect(result.stderr.contains("layer 'y'"))
        #expect(result.stderr.contains("forward_flops"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("conflicting constraints exit 2 and suggest --allow-raw-upload")
    func conflict() throws {
        let path = try CLI.temporaryFile(
            """
            {"format": "splitgraph/1", "layers": [
              {"name": "x", "inputs": [], "forward_flops": 0, "backward_flops": 0, "output_bytes": 4},
              {"name": "y", "inputs": ["x"], "forward_flops": 3, "backward_flops": 0, "output_bytes": 4}]}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let refused = try CLI.run(["plan", path])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--allow-raw-upload"))
        let allowed = try CLI.run(["plan", path, "--allow-raw-upload", "--format", "json"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }
}

@Suite("splitctl bench and validate")
struct BenchCommandTests {
    @Test("bench prints one JSON line per graph and planner with median and p99")
    func benchJSONLines() throws {
        let result = try CLI.run([
            "bench", "ops/models/vgg16.json", "ops/models/resnet18.json", "--algorithm", "dag,block", "--iterations", "50",
            "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(["vgg16", "resnet18"].contains(object["graph"] as? String ?? ""))
            #expect(["dag", "block"].contains(object["algorithm"] as? String ?? ""))
            #expect((object["layers"] as? Int ?? 0) > 0)
            let median = try #require(object["median_us"] as? Double)
            let p99 = try #require(object["p99_us"] as? Double)
            #expect(median > 0 && p99 >= median)
        }
    }

    @Test("bench rejects unknown planners with exit 2")
    func benchBadAlgorithm() throws {
        let result = try CLI.run(["bench", "ops/models/vgg16.json", "--algorithm", "dag,nope"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("nope"))
    }

    @Test("validate describes a graph's structure")
    func validate() throws {
        let result = try CLI.run(["validate", "ops/models/gpt2.json"])
        #expect(result.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("ops/models/gpt2.json")))
        let layers = try #require((document as? [String: Any])?["layers"] as? [Any]).count
        #expect(result.stdout.contains("gpt2: \(layers) layers"))
        #expect(result.stdout.contains("boundary layers"))
    }
}

@Suite("splitctl evaluate")
struct EvaluateCommandTests {
    @Test("a plan's own split evaluates to the plan's delay; invalid splits exit 2")
    func evaluatesSplits() throws {
        let planned = try CLI.run(["plan", "ops/models/googlenet.json", "--format", "json", "--uplink", "100M", "--downlink", "100M"])
        let path = try CLI.temporaryFile(planned.stdout)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let evaluated = try CLI.run([
            "evaluate", "ops/models/googlenet.json", "--plan", path, "--format", "json", "--uplink", "100M", "--downlink",
            "100M",
        ])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let a = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any])
        #expect(a["delay_seconds"] as? Double == b["delay_seconds"] as? Double)
        #expect(b["algorithm"] as? String == "given")

        let invalid = try CLI.run(["evaluate", "ops/models/resnet18.json", "--device-layers", "x,conv1,relu"])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("server layer 'bn1' feeds device layer 'relu'"))
        let unknown = try CLI.run(["evaluate", "ops/models/resnet18.json", "--device-layers", "x,ghost"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("'ghost'"))
    }
}

@Suite("splitctl input footguns")
struct InputFootgunTests {
    @Test(
        "units people write are accepted, and mean what they say",
        arguments: [
            (["--uplink", "20Mbps", "--downlink", "40 Mbit/s", "--rtt", "10ms"], 20e6, 0.01),
            (["--uplink", "20M", "--downlink", "40e6", "--rtt", "0.01"], 20e6, 0.01),
            (["--uplink", "2.5MB/s", "--downlink", "40M", "--rtt", "250us"], 20e6, 250e-6),
        ])
    func unitsAccepted(arguments: [String], uplink: Double, rtt: Double) throws {
        let result = try CLI.run(["plan", "ops/models/resnet18.json", "--format", "json"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let conditions = try #require(object["conditions"] as? [String: Any])
        #expect(conditions["uplink_bps"] as? Double == uplink)
        #expect(abs((conditions["rtt_seconds"] as? Double ?? -1) - rtt) < 1e-15)
    }

    @Test(
        "ambiguous, absurd and negative values exit 2 with the reason, never a trap or a silent plan",
        arguments: [
            (["--uplink", "100m"], "ambiguous"), (["--uplink", "100"], "under 1 kbit/s"), (["--uplink", "-5M"], "negative"),
            (["--device-flops", "1e-300"], "--device-flops"), (["--rtt", "10m"], "'ms' for milliseconds"), (["--batch", "0"], "--batch"),
            (["--uplink", "fast"], "not a number"),
        ])
    func badValues(arguments: [String], mentions: String) throws {
        let result = try CLI.run(["plan", "ops/models/resnet18.json"] + arguments)
        #expect(result.status == 2, "\(arguments): \(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(arguments): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    }

    @Test("a profile for another model is refused unless forced")
    func profileMismatch() throws {
        let refused = try CLI.run(["plan", "ops/models/resnet50.json", "--device-profile", "ops/profiles/mobilenet_v2.cpu2.json"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("profile is for model 'mobilenet_v2', not 'resnet50'") && refused.stderr.contains("--force-profile"))
        let forced = try CLI.run(["plan", "ops/models/resnet50.json", "--device-profile", "ops/profiles/mobilenet_v2.cpu2.json", "--force-profile"])
        #expect(forced.status == 0)
        #expect(forced.stderr.contains("warning") && forced.stderr.contains("used anyway"))
        let matching = try CLI.run(["plan", "ops/models/resnet50.json", "--device-profile", "ops/profiles/resnet50.cpu2.json"])
        #expect(matching.status == 0 && !matching.stderr.contains("warning"), "\(matching.stderr)")
        // The device profile replaces the device FLOP/s: only the others are assumed.
        #expect(matching.stderr.hasPrefix("splitctl: note: not given, so assumed: --server-flops 20T"), "\(matching.stderr)")
    }

    @Test("invalid JSON in a graph file names the file, line and column")
    func invalidJSON() throws {
        let path = try CLI.temporaryFile("{\n  \"format\": \"splitgraph/1\",\n  \"layers\": [1,,]\n}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CLI.run(["plan", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains(path) && result.stderr.contains("line 3, column"), "\(result.stderr)")
    }
}
