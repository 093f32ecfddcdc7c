import Foundation
import Testing

@Suite("splitctl table")
struct TableCommandTests {
    static let compute = ["--batch", "32", "--device-flops", "1e11", "--server-flops", "2e13", "--rtt", "10ms"]

    @Test("json has the documented shape, and each segment's delay is what splitctl plan predicts at rates inside it")
    func jsonMatchesPlan() throws {
        let result = try CLI.run(["table", "ops/models/googlenet.json", "--format", "json"] + Self.compute)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let conditions = try #require(object["conditions"] as? [String: Any])
        #expect(conditions["batch_size"] as? Int == 32)
        #expect(conditions["rtt_seconds"] as? Double == 0.01)
        let segments = try #require(object["segments"] as? [[String: Any]])
        #expect(segments.count >= 2)
        #expect(segments.last?["max_effective_bps"] is NSNull)
        for segment in segments {
            let low = try #require(segment["min_effective_bps"] as? Double)
            let high = segment["max_effective_bps"] as? Double ?? max(low, 1e6) * 100
            // Uplink twice the downlink, effective rate in the middle of the segment (in log),
            // within the rates the CLI accepts (1 bit/s to 10 Tbit/s).
            let rate = min(max((max(low, 1) * high).squareRoot(), 1), 3e12)
            guard rate > low && rate < high else { continue }
            let uplink = 3 * rate, downlink = 1.5 * rate
            let planned = try CLI.run(
                [
                    "plan", "ops/models/googlenet.json", "--format", "json", "--uplink", "\(uplink)bps", "--downlink",
                    "\(downlink)bps",
                ] + Self.compute)
            let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
            let fixed = try #require(segment["fixed_seconds"] as? Double), bytes = try #require(segment["transfer_bytes"] as? Double)
            let delay = fixed + 8 * bytes * (1 / uplink + 1 / downlink)
            let optimum = try #require(plan["delay_seconds"] as? Double)
            #expect(abs(delay - optimum) <= 1e-9 * optimum, "segment from \(low): \(delay) vs plan \(optimum)")
            #expect(segment["cut_layers"] as? [String] == plan["cut_layers"] as? [String])
        }
    }

    @Test("the text view lists every segment; dag gives the same breakpoints as block")
    func textAndAlgorithms() throws {
        let block = try CLI.run(["table", "ops/models/vgg16.json"] + Self.compute)
        #expect(block.status == 0, "\(block.stderr)")
        #expect(block.stdout.contains("5 segment(s)"), "\(block.stdout)")
        #expect(block.stdout.contains("features_4") && block.stdout.contains("classifier_0"))
        let dag = try CLI.run(["table", "ops/models/vgg16.json", "--algorithm", "dag", "--format", "json"] + Self.compute)
        let blockJSON = try CLI.run(["table", "ops/models/vgg16.json", "--format", "json"] + Self.compute)
        let a = try #require(try JSONSerialization.jsonObject(with: Data(dag.stdout.utf8)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(blockJSON.stdout.utf8)) as? [String: Any])
        let aSegments = try #require(a["segments"] as? [[String: Any]]), bSegments = try #require(b["segments"] as? [[String: Any]])
        #expect(aSegments.count == bSegments.count)
        for (x, y) in zip(aSegments, bSegments) {
            #expect(x["device_layers"] as? [String] == y["device_layers"] as? [String])
        }
    }

    @Test(
        "bad input exits 2 naming the problem",
        arguments: [
            (["table", "ops/models/vgg16.json", "--batch", "0"], "batch"),
            (["table", "ops/models/vgg16.json", "--device-flops", "-1"], "device-flops"),
            (["table", "ops/models/no-such-model.json"], "does not exist"),
            (["table", "ops/models/vgg16.json", "--uplink", "20M"], "uplink"),
        ])
    func badInput(arguments: [String], mentions: String) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
    }
}
