import Foundation
import SplitTestSupport
import Testing

@Suite("splitctl under a device memory limit")
struct MemoryCommandTests {
    /// ResNet-50 at 20 Mbit/s: the fastest split keeps almost the whole network on the device.
    static let slowLink = ["--batch", "32", "--device-flops", "1e11", "--uplink", "20M", "--downlink", "20M", "--rtt", "10ms"]

    static func json(_ arguments: [String]) throws -> (status: Int32, object: [String: Any], stderr: String) {
        let result = try CLI.run(arguments + ["--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        return (result.status, object, result.stderr)
    }

    @Test("the limit binds below the fastest split's memory and not above; dag equals block; 2G = 2GB, 2GiB = 2^31")
    func bindingAndUnits() throws {
        let free = try Self.json(["plan", "ops/models/resnet50.json"] + Self.slowLink)
        #expect(free.status == 0)
        let fastestBytes = try #require(free.object["device_memory_bytes"] as? Int64)
        let fastestDelay = try #require(free.object["delay_seconds"] as? Double)
        #expect(free.object["memory_bound"] == nil && fastestBytes > 4_000_000_000)
        var delays: [String: Double] = [:]
        for (algorithm, limit) in [("dag", "2G"), ("block", "2GB"), ("dag", "2000000000"), ("block", "2GiB"), ("dag", "2147483648")] {
            let capped = try Self.json(["plan", "ops/models/resnet50.json", "--device-memory", limit, "--algorithm", algorithm] + Self.slowLink)
            #expect(capped.status == 0, "\(capped.stderr)")
            let bytes = try #require(capped.object["device_memory_bytes"] as? Int64)
            let conditions = try #require(capped.object["conditions"] as? [String: Any])
            let limitBytes = try #require(conditions["device_memory_limit_bytes"] as? Int64)
            #expect(limitBytes == (limit.contains("i") || limit == "2147483648" ? 2_147_483_648 : 2_000_000_000), "\(limit)")
            #expect(conditions["optimizer"] as? String == "adam")
            #expect(bytes <= limitBytes)
            #expect(capped.object["memory_bound"] as? Bool == true)
            #expect(capped.object["status"] as? String == "planned")
            let delay = try #require(capped.object["delay_seconds"] as? Double)
            #expect(delay > fastestDelay)
            if let other = delays[limit.contains("i") || limit == "2147483648" ? "binary" : "decimal"] {
                #expect(abs(other - delay) <= 1e-9 * delay, "\(algorithm) \(limit)")
            }
            delays[limit.contains("i") || limit == "2147483648" ? "binary" : "decimal"] = delay
        }
        let loose = try Self.json(["plan", "ops/models/resnet50.json", "--device-memory", "\(fastestBytes)"] + Self.slowLink)
        #expect(loose.status == 0 && loose.object["memory_bound"] == nil)
        #expect(loose.object["delay_seconds"] as? Double == fastestDelay)
    }

    @Test(
        "--device-memory 2Gi and 2GiB are 2 x 2^30 bytes, 2G and 2GB 2 x 10^9, as --help says",
        arguments: [("2Gi", 2_147_483_648), ("2GiB", 2_147_483_648), ("2G", 2_000_000_000), ("2GB", 2_000_000_000)] as [(String, Int64)])
    func byteUnits(text: String, bytes: Int64) throws {
        let planned = try Self.json(["plan", "ops/models/vgg16.json", "--device-memory", text] + Self.slowLink)
        #expect(planned.status == 0, "\(planned.stderr)")
        let conditions = try #require(planned.object["conditions"] as? [String: Any])
        #expect(conditions["device_memory_limit_bytes"] as? Int64 == bytes)
        let help = try CLI.run(["plan", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("2G = 2GB = 2000000000 bytes; 2Gi = 2GiB = 2 x 2^30 = 2147483648 bytes"), "\(text)")
        #expect(!text.contains("(2^30)") && !text.contains("(10^9)"), "\(text)")
    }

    @Test("SGD needs less memory than Adam for the same split")
    func optimizerMatters() throws {
        let adam = try Self.json(["plan", "ops/models/vgg16.json", "--optimizer", "adam"] + Self.slowLink)
        let sgd = try Self.json(["plan", "ops/models/vgg16.json", "--optimizer", "sgd"] + Self.slowLink)
        #expect(adam.object["device_layers"] as? [String] == sgd.object["device_layers"] as? [String])
        let difference = (adam.object["device_memory_bytes"] as? Int64 ?? 0) - (sgd.object["device_memory_bytes"] as? Int64 ?? 0)
        // Two more copies of every device layer's weights.
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/vgg16.json"))
        let graph = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let layers = try #require(graph["layers"] as? [[String: Any]])
        let device = Set(adam.object["device_layers"] as? [String] ?? [])
        let weights = layers.filter { device.contains($0["name"] as? String ?? "") }.reduce(0.0) { $0 + ($1["param_bytes"] as? Double ?? 0) }
        #expect(difference == Int64(2 * weights))
        #expect(weights > 0)
    }

    @Test("nothing fits: exit 1, one line with the least memory any split needs, and an infeasible JSON status")
    func infeasible() throws {
        // ResNet-50's smallest device part is the input and conv1 (it reads the raw input):
        // x kept (32 × its output), conv1's weights × 4 (Adam) + 32 × its output, and conv1's received gradient.
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet50.json"))
        let graph = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let layers = try #require(graph["layers"] as? [[String: Any]])
        func field(_ name: String, _ key: String) -> Double { layers.first { $0["name"] as? String == name }?[key] as? Double ?? .nan }
        let expected = Int64(32 * field("x", "output_bytes") + 4 * field("conv1", "param_bytes") + 64 * field("conv1", "output_bytes"))
        let table = try CLI.run(["plan", "ops/models/resnet50.json", "--device-memory", "100M"])
        #expect(table.status == 1)
        #expect(table.stdout.isEmpty)
        // One line: no note of the defaults assumed, which qualifies results, not errors.
        #expect(table.stderr.split(separator: "\n").count == 1, "\(table.stderr)")
        #expect(table.stderr.contains("smallest valid split needs") && table.stderr.contains("(\(expected) bytes)"), "\(table.stderr)")
        let json = try Self.json(["plan", "ops/models/resnet50.json", "--device-memory", "100M", "--algorithm", "block"])
        #expect(json.status == 1)
        #expect(json.object["status"] as? String == "infeasible")
        #expect(json.object["required_device_memory_bytes"] as? Int64 == expected)
        #expect(json.object["device_memory_limit_bytes"] as? Int64 == 100_000_000)
        // Exactly the least memory fits.
        let tight = try Self.json(["plan", "ops/models/resnet50.json", "--device-memory", "\(expected)"])
        #expect(tight.status == 0 && tight.object["device_memory_bytes"] as? Int64 == expected)
    }

    @Test("evaluate reports a split's memory and refuses one over the limit")
    func evaluate() throws {
        let fits = try Self.json(["evaluate", "ops/models/resnet18.json", "--device-layers", "x,conv1,bn1,relu,maxpool", "--optimizer", "sgd"])
        #expect(fits.status == 0)
        let bytes = try #require(fits.object["device_memory_bytes"] as? Int64)
        let over = try CLI.run([
            "evaluate", "ops/models/resnet18.json", "--device-layers", "x,conv1,bn1,relu,maxpool",
            "--optimizer", "sgd", "--device-memory", "\(bytes - 1)",
        ])
        #expect(over.status == 1)
        #expect(over.stderr.contains("more than the limit"), "\(over.stderr)")
    }

    @Test("simulate plans every policy under the limit; dag and block agree")
    func simulate() throws {
        let arguments = [
            "simulate", "ops/models/resnet50.json", "--synthetic", "markov", "--seed", "3", "--duration", "120",
            "--uplink", "20M", "--downlink", "20M", "--policies", "dag,block,static", "--format", "json",
        ]
        let free = try CLI.run(arguments)
        let capped = try CLI.run(arguments + ["--device-memory", "2G"])
        #expect(free.status == 0 && capped.status == 0, "\(capped.stderr)")
        func means(_ output: String) throws -> [Double] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            // The policies asked for, without the bounds every report adds.
            return (object["policies"] as? [[String: Any]] ?? []).filter { ["dag", "block", "static"].contains($0["policy"] as? String) }
                .compactMap { $0["mean_delay_seconds"] as? Double }
        }
        let (freeMeans, cappedMeans) = (try means(free.stdout), try means(capped.stdout))
        #expect(cappedMeans.count == 3 && abs(cappedMeans[0] - cappedMeans[1]) <= 1e-9 * cappedMeans[0])
        #expect(cappedMeans[0] > freeMeans[0])
    }

    @Test(
        "nonsense limits and optimizers exit 2 naming the option",
        arguments: [
            (["--device-memory", "0"], "--device-memory"), (["--device-memory", "2m"], "unknown unit"),
            (["--device-memory", "lots"], "--device-memory"), (["--device-memory", "-1G"], "--device-memory"),
            (["--device-memory", "1e30"], "at most"), (["--optimizer", "rmsprop"], "optimizer"),
        ])
    func badInput(extra: [String], mentions: String) throws {
        let result = try CLI.run(["plan", "ops/models/vgg16.json"] + extra)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
