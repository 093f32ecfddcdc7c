import Foundation
import Testing

@Suite("splitctl simulate and trace")
struct SimulateCommandTests {
    @Test("json output has the documented shape; dag and block agree; same seed, same output")
    func jsonOutput() throws {
        let arguments = [
            "simulate", "ops/models/resnet50.json", "--synthetic", "markov", "--seed", "9", "--duration", "300",
            "--uplink", "100M", "--downlink", "200M", "--format", "json",
        ]
        let first = try CLI.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try CLI.run(arguments)
        #expect(first.stdout == second.stdout)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(policies.map { $0["policy"] as? String } == ["dag", "block", "chain", "boundary", "static", "server-only", "table"])
        for policy in policies {
            for key in ["iterations", "mean_delay_seconds", "p95_delay_seconds", "plan_changes", "migration_seconds", "migration_bytes"] {
                #expect(policy[key] != nil, "missing \(key)")
            }
        }
        #expect(object["optimizer"] as? String == "adam", "the default: never underestimates what a switch moves")
        #expect(object["switch_horizon_iterations"] as? Int == 1)
        let reduction = try #require(object["reduction_percent"] as? [String: Double])
        #expect(Set(reduction.keys) == ["block", "chain", "boundary", "static", "server-only", "table"])
        #expect(abs(reduction["block"]!) < 1e-9)
        #expect(policies[0]["iterations"] as? Int == policies[1]["iterations"] as? Int)
    }

    @Test("a trace file, csv output and an SVG plot")
    func traceFileCSVAndPlot() throws {
        let plot = FileManager.default.temporaryDirectory.appendingPathComponent("splitctl-plot-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: plot) }
        let result = try CLI.run([
            "simulate", "ops/models/vgg16.json", "--trace", "ops/traces/steps.csv", "--policies", "dag,static,server-only",
            "--format", "csv", "--plot", plot.path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(
            lines.first
                == "policy,iterations,mean_delay_seconds,p95_delay_seconds,plan_changes,migration_seconds,migration_bytes,dag_reduction_percent")
        #expect(lines.count == 4)
        let svg = try String(contentsOf: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("<polyline") && svg.contains("server-only"))
    }

    @Test("--optimizer scales what a split change moves; --free-migration prices it at zero")
    func optimizerAndFreeMigration() throws {
        // A fast minute, then a slow link: ResNet-50's cut moves once, from maxpool to avgpool,
        // bringing layer1–layer4 (about 94 MB of weights) down to the device.
        let path = try CLI.temporaryFile("time_seconds,uplink_bps,downlink_bps\n0,1e9,1e9\n60,2e6,2e6\n", suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // The slow link makes the maxpool cut ~200 s per iteration against ~8 s: over 10
        // iterations that pays for the move even with Adam (3 × 94 MB at 2 Mbit/s ≈ 1,130 s).
        func run(_ optimizer: String, _ extra: [String] = []) throws -> [[String: Any]] {
            let result = try CLI.run(
                [
                    "simulate", "ops/models/resnet50.json", "--trace", path, "--duration", "3000",
                    "--policies", "dag,table", "--switch-horizon", "10", "--optimizer", optimizer, "--format", "json",
                ] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(object["optimizer"] as? String == optimizer)
            #expect(object["switch_horizon_iterations"] as? Int == 10)
            return try #require(object["policies"] as? [[String: Any]])
        }
        let sgd = try run("sgd"), adam = try run("adam"), free = try run("sgd", ["--free-migration"])
        for index in 0..<2 {
            #expect(sgd[index]["plan_changes"] as? Int == 1 && adam[index]["plan_changes"] as? Int == 1)
            let sgdBytes = try #require(sgd[index]["migration_bytes"] as? Double), adamBytes = try #require(adam[index]["migration_bytes"] as? Double)
            #expect(sgdBytes > 90e6 && sgdBytes < 102.3e6, "\(sgdBytes)")
            #expect(abs(adamBytes - 3 * sgdBytes) <= 1e-9 * adamBytes, "weights and two moments against weights only")
            #expect(free[index]["migration_seconds"] as? Double == 0)
            #expect(try #require(free[index]["mean_delay_seconds"] as? Double) < (try #require(sgd[index]["mean_delay_seconds"] as? Double)))
        }
    }

    @Test("trace generates CSV that simulate reads back")
    func traceRoundTrip() throws {
        let generated = try CLI.run(["trace", "--synthetic", "random-walk", "--seed", "4", "--duration", "120"])
        #expect(generated.status == 0)
        #expect(generated.stdout.hasPrefix("time_seconds,uplink_bps,downlink_bps,rtt_seconds\n"))
        let path = try CLI.temporaryFile(generated.stdout, suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let simulated = try CLI.run(["simulate", "ops/models/resnet18.json", "--trace", path, "--format", "json"])
        #expect(simulated.status == 0, "\(simulated.stderr)")
    }

    @Test(
        "bad traces and options exit 2 naming the problem",
        arguments: [
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n0,1e6,1e6\n", [String](), "line 3"),
            ("time_seconds,uplink_bps\n0,1e6\n", [String](), "downlink_bps"),
            ("time_seconds,uplink_bps,downlink_bps\n0,-4,1e6\n", [String](), "uplink_bps"),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n", ["--policies", "dag,psychic"], "psychic"),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n", ["--replan-every", "0"], "replan-every"),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n", ["--switch-horizon", "-1"], "switch-horizon"),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n", ["--optimizer", "rmsprop"], "optimizer"),
        ])
    func badInput(trace: String, extra: [String], mentions: String) throws {
        let path = try CLI.temporaryFile(trace, suffix: ".csv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CLI.run(["simulate", "ops/models/vgg16.json", "--trace", path] + extra)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
    }

    @Test("a missing trace source is a usage error")
    func missingTrace() throws {
        let result = try CLI.run(["simulate", "ops/models/vgg16.json"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--trace FILE or --synthetic"))
        let noDuration = try CLI.run(["simulate", "ops/models/vgg16.json", "--synthetic", "steps"])
        #expect(noDuration.status == 2)
        #expect(noDuration.stderr.contains("--duration"))
    }
}
