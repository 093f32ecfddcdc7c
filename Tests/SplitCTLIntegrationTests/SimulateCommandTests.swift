import Foundation
import Testing

@Suite("splitctl simulate and trace")
struct SimulateCommandTests {
    @Test("json output has the documented shape; dag and block agree; same seed, same output")
    func jsonOutput() throws {
        let arguments = [
            "simulate", "ops/models/resnet50.json", "--synthetic", "markov", "--seed", "9", "--duration", "300",
            "--uplink", "100M", "--downlink", "200M", "--format", "json", "--policies", "dag,block,chain,boundary,static,server-only,table",
        ]
        let first = try CLI.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try CLI.run(arguments)
        #expect(first.stdout == second.stdout)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(
            policies.map { $0["policy"] as? String } == [
                "dag", "block", "chain", "boundary", "static", "server-only", "table", "hindsight", "best-fixed",
            ])
        for policy in policies {
            for key in [
                "iterations", "mean_delay_seconds", "p95_delay_seconds", "plan_changes", "migration_seconds", "migration_bytes", "ratio_to_hindsight",
            ] {
                #expect(policy[key] != nil, "missing \(key)")
            }
            #expect((policy["ratio_to_hindsight"] as? Double ?? 0) >= 1 - 1e-9, "hindsight is a lower bound")
        }
        #expect(object["optimizer"] as? String == "adam", "the default: never underestimates what a switch moves")
        #expect(object["switch_horizon_iterations"] as? Int == 1)
        #expect(object["physics"] as? String == "integrated")
        let switching = try #require(object["daemon_switching"] as? [String: Any])
        #expect(switching["rule"] as? String == "payback" && switching["payback_factor"] as? Double == 1)
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
                == """
                policy,iterations,mean_delay_seconds,p95_delay_seconds,plan_changes,migration_seconds,migration_bytes,ratio_to_hindsight,\
                refused_moves,dag_reduction_percent
                """)
        // The three policies asked for, then the two bounds every simulation reports.
        #expect(lines.count == 6 && lines[4].hasPrefix("hindsight,") && lines[5].hasPrefix("best-fixed,"))
        let svg = try String(contentsOf: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("<polyline") && svg.contains("server-only"))
    }

    @Test("a short run warns that it has too few iterations for a p95, saying how many, and prints no p95 for none")
    func tooFewIterationsForP95() throws {
        // VGG-16 over two minutes at 10 Mbit/s: three iterations of ~31 s; server-only finishes none.
        let arguments = [
            "simulate", "ops/models/vgg16.json", "--synthetic", "steps", "--duration", "120", "--uplink", "10M", "--downlink", "10M",
            "--device-flops", "100G", "--server-flops", "20T", "--rtt", "10ms", "--policies", "static,server-only",
        ]
        let result = try CLI.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let warning = try #require(result.stderr.split(separator: "\n").first { $0.contains("too few iterations") }, "\(result.stderr)")
        #expect(
            warning
                == """
                splitctl: warning: too few iterations for a p95: static 3, server-only 0, hindsight 3, best-fixed 3 completed, a p95 \
                needs at least 20 (with fewer it is the slowest iteration, '-' with none); simulate a longer trace (--duration)
                """)
        let serverOnly = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("server-only ") })
        let columns = serverOnly.split(separator: " ")
        #expect(columns[1] == "0" && columns[4] == "-", "no p95 without an iteration: \(serverOnly)")
        // Enough iterations: no warning.
        let long = try CLI.run(arguments.map { ["120": "1200", "10M": "1G"][$0] ?? $0 })
        #expect(long.status == 0 && !long.stderr.contains("too few iterations"), "\(long.stderr)")
    }

    @Test("the iteration unfinished at the trace's end, slower than all the others, is warned about and drawn inside the plot")
    func unfinishedIterationInThePlot() throws {
        // 20 s of a fast link, then 2 Mbit/s: ResNet-50's 30th iteration, which starts just
        // before the drop, takes minutes, and the trace ends while it runs.
        let trace = try CLI.temporaryFile("time_seconds,uplink_bps,downlink_bps\n0,1e9,1e9\n20,2e6,2e6\n", suffix: ".csv")
        let plot = FileManager.default.temporaryDirectory.appendingPathComponent("splitctl-plot-\(UUID().uuidString).svg")
        defer {
            try? FileManager.default.removeItem(atPath: trace)
            try? FileManager.default.removeItem(at: plot)
        }
        let result = try CLI.run([
            "simulate", "ops/models/resnet50.json", "--trace", trace, "--duration", "40", "--policies", "static",
            "--device-flops", "100G", "--server-flops", "20T", "--format", "json", "--plot", plot.path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let staticResult = try #require((object["policies"] as? [[String: Any]])?.first { $0["policy"] as? String == "static" })
        let mean = try #require(staticResult["mean_delay_seconds"] as? Double), p95 = try #require(staticResult["p95_delay_seconds"] as? Double)
        #expect((staticResult["iterations"] as? Int ?? 0) >= 20 && mean > p95, "the case the warning is for: \(staticResult)")
        #expect(
            result.stderr.contains("splitctl: warning: the iteration still running when the trace ends is slower than every completed one (static "),
            "\(result.stderr)")
        #expect(result.stderr.contains("the mean counts it by the fraction inside the trace"), "\(result.stderr)")

        let svg = try String(contentsOf: plot, encoding: .utf8)
        func attribute(_ name: String, of element: Substring) -> String? {
            guard let range = element.range(of: " \(name)=\"") else { return nil }
            return String(element[range.upperBound...].prefix { $0 != "\"" })
        }
        let frameElement = try #require(
            svg.split(separator: "\n").flatMap { $0.split(separator: "<") }.first { $0.hasPrefix("rect ") && $0.contains("stroke=\"#333\"") })
        let top = try #require(attribute("y", of: frameElement).flatMap(Double.init))
        let height = try #require(attribute("height", of: frameElement).flatMap(Double.init))
        let left = try #require(attribute("x", of: frameElement).flatMap(Double.init))
        let width = try #require(attribute("width", of: frameElement).flatMap(Double.init))
        let polylines = svg.split(separator: "<").filter { $0.hasPrefix("polyline ") }
        let unfinished = try #require(polylines.first { $0.contains("class=\"unfinished\"") }, "no unfinished iteration drawn")
        #expect(unfinished.contains("stroke-dasharray=\"2,3\""))
        for polyline in polylines {
            let points = (attribute("points", of: polyline) ?? "").split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
            #expect(!points.isEmpty)
            for point in points {
                #expect(point.count == 2 && point[0] >= left - 0.1 && point[0] <= left + width + 0.1, "\(point) outside the plot")
                #expect(point.count == 2 && point[1] >= top - 0.1 && point[1] <= top + height + 0.1, "\(point) clipped: above the plot")
            }
        }
        // The unfinished iteration is the largest delay: the axis is scaled to it (5% headroom).
        let highest = (attribute("points", of: unfinished) ?? "").split(separator: " ").compactMap {
            $0.split(separator: ",").last.flatMap { Double($0) }
        }.min()
        #expect(abs((try #require(highest)) - (top + height * 0.05 / 1.05)) < 1, "the unfinished iteration sets the scale")
        #expect(svg.contains("static (mean ") && svg.contains("; unfinished at the end: "), "the legend names it")
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

@Suite("splitctl simulate on real traces, and splitctl trace summarize")
struct RealTraceCommandTests {
    static let shared = "../shared/traces"

    @Test("the default policies are the daemon and the alternatives, each against hindsight; a mahimahi trace by its prefix")
    func defaultsOnMahimahi() throws {
        let result = try CLI.run([
            "simulate", "ops/models/mobilenet_v2.json", "--trace", "\(Self.shared)/mahimahi/TMobile-LTE-short", "--device-flops", "3e10", "--format",
            "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(policies.map { $0["policy"] as? String } == ["daemon", "dag", "static", "table", "server-only", "hindsight", "best-fixed"])
        #expect(policies.allSatisfy { ($0["ratio_to_hindsight"] as? Double ?? 0) >= 1 - 1e-9 })
        #expect(policies[0]["refused_moves"] != nil)
    }

    @Test("several traces: one csv row per trace and policy; a table with each trace's ratios and their median, p90 and max")
    func severalTraces() throws {
        let csv = try CLI.run([
            "simulate", "ops/models/googlenet.json", "--trace", "\(Self.shared)/mahimahi", "--format", "csv", "--policies", "daemon,static",
        ])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("trace,policy,") == true)
        #expect(lines.count == 1 + 4 * 4, "4 mahimahi traces x (2 policies + 2 bounds)")
        let table = try CLI.run([
            "simulate", "ops/models/googlenet.json", "--trace", "\(Self.shared)/mahimahi/Verizon-LTE-short.up", "--trace",
            "\(Self.shared)/pensieve/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log", "--uplink-ratio", "0.5", "--policies", "daemon",
        ])
        #expect(table.status == 0, "\(table.stderr)")
        for word in ["Verizon-LTE-short", "bus.ljansbakken", "median", "p90", "max", "hindsight"] { #expect(table.stdout.contains(word), "\(word)") }
    }

    @Test("--recommend prints the daemon settings to deploy and what they cost against hindsight")
    func recommend() throws {
        let result = try CLI.run([
            "simulate", "ops/models/mobilenet_v2.json", "--synthetic", "steps", "--seed", "4", "--duration", "300", "--uplink", "30M",
            "--downlink", "60M", "--device-flops", "3e10", "--recommend",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("deploy:") && result.stdout.contains("--estimator") && result.stdout.contains("of hindsight"))
        let json = try CLI.run([
            "simulate", "ops/models/mobilenet_v2.json", "--synthetic", "steps", "--seed", "4", "--duration", "300", "--uplink", "30M",
            "--downlink", "60M", "--device-flops", "3e10", "--recommend", "--format", "json",
        ])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 40)
        let means = rows.compactMap { $0["geometric_mean_ratio"] as? Double }
        #expect(means == means.sorted() && means.allSatisfy { $0 >= 1 - 1e-9 }, "best first, none better than hindsight")
    }

    @Test("start-rate physics is there for comparison, and named in the report")
    func startRate() throws {
        let result = try CLI.run([
            "simulate", "ops/models/googlenet.json", "--trace", "\(Self.shared)/mahimahi/ATT-LTE-driving", "--physics", "start-rate", "--policies",
            "static",
            "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["physics"] as? String == "start-rate")
    }

    @Test("trace summarize: text with both directions, outages and a sparkline, or an SVG")
    func summarize() throws {
        let text = try CLI.run(["trace", "summarize", "\(Self.shared)/mahimahi/TMobile-UMTS-driving"])
        #expect(text.status == 0, "\(text.stderr)")
        for word in ["TMobile-UMTS-driving", "uplink", "downlink", "mean", "p50", "outage", "|"] { #expect(text.stdout.contains(word), "\(word)") }
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("summary-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: svg) }
        let drawn = try CLI.run([
            "trace", "summarize", "\(Self.shared)/pensieve/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log", "--uplink-ratio", "1", "--svg",
            svg.path,
        ])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(try String(contentsOf: svg, encoding: .utf8).hasPrefix("<svg"))
    }

    @Test(
        "bad trace options exit 2 naming the flag or the file",
        arguments: [
            (["trace", "summarize", "../shared/traces/pensieve/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log"], "--uplink-ratio"),
            (["trace", "summarize", "../shared/traces/mahimahi/ATT-LTE-driving", "--trace-format", "pcap"], "--trace-format"),
            (["simulate", "ops/models/vgg16.json", "--trace", "../shared/traces/mahimahi/nowhere"], "nowhere"),
            (["simulate", "ops/models/vgg16.json", "--trace", "../shared/traces/mahimahi/ATT-LTE-driving", "--switching", "psychic"], "--switching"),
            (["simulate", "ops/models/vgg16.json", "--trace", "../shared/traces/mahimahi/ATT-LTE-driving", "--payback", "-1"], "--payback"),
            (["simulate", "ops/models/vgg16.json", "--trace", "../shared/traces/pensieve", "--uplink-ratio", "-2"], "--uplink-ratio"),
            (["simulate", "ops/models/vgg16.json", "--trace", "../shared/traces/mahimahi", "--plot", "x.svg"], "--plot"),
        ])
    func badOptions(arguments: [String], mentions: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
    }
}
