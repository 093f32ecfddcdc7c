import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitServer

/// Seeded corruptions of `POST /v1/telemetry` bodies through the API's own reader: every case must
/// decode to samples within the limits, or be refused with 400 naming the JSON position or 422
/// naming the field; never trap or answer 500.
@Suite("Fuzzing the telemetry request body")
struct TelemetryFuzzTests {
    static let body = Array(
        """
        {"samples":[
         {"device":"dev-1","measured_at":"2026-11-27T06:00:00Z","uplink_bps":2e7,"downlink_bps":4e7,"rtt_seconds":0.01},
         {"device":"dev-2","measured_at":"2026-11-27T06:00:01.250Z","uplink_bps":1e6,"downlink_bps":3e6,"rtt_seconds":0,
          "compute_flops":1e11,"memory_bytes":4e9}]}
        """.utf8)

    /// Decodes one case as the route does. Returns whether it decoded.
    static func check(_ fuzz: FuzzCase) -> Bool {
        do {
            let object = try RequestBody.object(from: Data(fuzz.bytes))
            let telemetry = try RequestBody.decode(Requests.Telemetry.self, from: object)
            #expect(!telemetry.samples.isEmpty && telemetry.samples.count <= Requests.Telemetry.maximumSamples, "\(fuzz.label)")
            for sample in telemetry.samples {
                #expect((try? Check.identifier(sample.device, "device")) != nil, "\(fuzz.label): device \(sample.device.debugDescription)")
                #expect(sample.measuredAt.timeIntervalSince1970.isFinite, "\(fuzz.label)")
                #expect(Limits.linkRate.violation(sample.link.uplinkBitsPerSecond) == nil, "\(fuzz.label)")
                #expect(Limits.linkRate.violation(sample.link.downlinkBitsPerSecond) == nil, "\(fuzz.label)")
                #expect(sample.link.rttSeconds.map { Limits.rtt.violation($0) == nil } == true, "\(fuzz.label): rtt is required")
                #expect(sample.computeFLOPs.map { Limits.computeThroughput.violation($0) == nil } ?? true, "\(fuzz.label)")
                #expect(sample.memoryBytes.map { Limits.deviceMemory.violation($0) == nil } ?? true, "\(fuzz.label)")
            }
            return true
        } catch let error as APIError {
            switch error.status.code {
            case 400:
                #expect(
                    error.detail.contains("line ") && error.detail.contains("column ") || error.detail.contains("request body"),
                    "\(fuzz.label): \(error.detail)")
            case 422:
                // The field's path, or the unknown member itself (a misspelt "samples").
                #expect(
                    error.field.map { $0.hasPrefix("samples") || error.detail.contains("is not a known field") } == true,
                    "\(fuzz.label): \(error.detail) names no field")
            default:
                Issue.record("\(fuzz.label): status \(error.status.code): \(error.detail)")
            }
            return false
        } catch {
            Issue.record("\(fuzz.label): untyped error \(type(of: error)): \(error)")
            return false
        }
    }

    @Test("3,100 corruptions of a telemetry body: samples within limits, or 400 naming the position or 422 naming the field")
    func corruptions() throws {
        let parsed = try JSONValue.parse(Self.body)
        let cases =
            ByteMutations.truncations(of: Self.body, every: 1) + ByteMutations.bitFlips(of: Self.body, count: 600, seed: 7)
            + ByteMutations.corruptions(of: Self.body, count: 600, seed: 7) + JSONMutations.cases(of: parsed, count: 1_300, seed: 7)
            + JSONMutations.insertions(into: Self.body, count: 300, seed: 7)
        let decoded = cases.filter(Self.check).count
        #expect(cases.count >= 3_000)
        #expect(decoded > 20 && decoded < cases.count / 2, "\(decoded) decoded")
    }
}
