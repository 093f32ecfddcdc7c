import Testing

@testable import SplitCore

@Suite("Quantities as users type them, and the physical limits")
struct QuantityTests {
    @Test(
        "rates: SI prefixes with and without bit units, byte rates, bare bit/s",
        arguments: [
            ("20M", 20e6), ("20Mbps", 20e6), ("20 Mbit/s", 20e6), ("20Mb/s", 20e6), ("1.5G", 1.5e9), ("1.5Gbps", 1.5e9),
            ("500kbps", 500e3), ("500K", 500e3), ("64000bps", 64_000), ("40e6", 40e6), ("2.5MB/s", 20e6), ("1GBps", 8e9),
            ("1Tbit/s", 1e12), (" 100M ", 100e6), ("1000", 1000), ("100bps", 100),
        ])
    func rates(text: String, bitsPerSecond: Double) throws {
        #expect(try Limits.parseRate(text) == bitsPerSecond)
    }

    @Test(
        "rates: ambiguous, absurd, negative and unknown forms are refused with the reason",
        arguments: [
            ("100m", "ambiguous"), ("100mbps", "ambiguous"), ("100", "under 1 kbit/s"), ("0.5", "under 1 kbit/s"), ("-5M", "negative"),
            ("5e-324", "under 1 kbit/s"), ("0", "between"), ("1e30", "between"), ("20 furlongs", "unknown unit"), ("fast", "not a number"),
            ("", "empty"), ("1e999", "not a number"), ("nan", "not a number"), ("20Mbpsx", "unknown unit"),
        ])
    func badRates(text: String, reason: String) {
        do {
            let value = try Limits.parseRate(text)
            Issue.record("'\(text)' accepted as \(value)")
        } catch let error as QuantityError {
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.kind == .rate)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(
        "durations: ms, s, us, ns, minutes, hours, days; bare numbers are seconds",
        arguments: [
            ("10ms", 0.01), ("0.01", 0.01), ("250us", 250e-6), ("250µs", 250e-6), ("100ns", 100e-9), ("2m", 120), ("2min", 120), ("1h", 3600),
            ("1.5s", 1.5), ("0", 0), ("1d", 86_400), ("0.5d", 43_200), ("1 D", 86_400),
        ])
    func durations(text: String, seconds: Double) throws {
        let parsed = try Limits.parseDuration(text)
        #expect(abs(parsed - seconds) <= 1e-12 * max(1, seconds))
    }

    @Test("an RTT of 10m is ten minutes, refused with a hint; a sub-µs bare RTT needs a unit")
    func rttForms() throws {
        #expect(try Limits.parseDuration("10ms", range: Limits.rtt) == 0.01)
        #expect(abs(try Limits.parseDuration("500ns", range: Limits.rtt) - 500e-9) < 1e-20)
        #expect(throws: QuantityError.self) { try Limits.parseDuration("10m", range: Limits.rtt) }
        do { _ = try Limits.parseDuration("10m", range: Limits.rtt) } catch let error as QuantityError {
            #expect(error.reason.contains("'ms' for milliseconds"))
        }
        do { _ = try Limits.parseDuration("1e-9", range: Limits.rtt) } catch let error as QuantityError {
            #expect(error.reason.contains("under 1 µs"))
        }
        #expect(throws: QuantityError.self) { try Limits.parseDuration("-1s") }
    }

    @Test("throughput and sizes")
    func throughputAndSizes() throws {
        #expect(try Limits.parseThroughput("100G") == 1e11)
        #expect(try Limits.parseThroughput("1.5TFLOPS") == 1.5e12)
        #expect(try Limits.parseThroughput("20 TFLOP/s") == 2e13)
        #expect(throws: QuantityError.self) { try Limits.parseThroughput("100m") }
        #expect(throws: QuantityError.self) { try Limits.parseThroughput("1e-300") }
        #expect(try Limits.parseSize("2G", range: Limits.deviceMemory) == 2e9)
        #expect(try Limits.parseSize("2GB", range: Limits.deviceMemory) == 2e9)
        #expect(try Limits.parseSize("2GiB", range: Limits.deviceMemory) == 2_147_483_648)
        #expect(try Limits.parseSize("512MiB", range: Limits.deviceMemory) == 536_870_912)
        #expect(try Limits.parseSize("1.5Gi", range: Limits.deviceMemory) == 1.5 * 1_073_741_824)
        #expect(throws: QuantityError.self) { try Limits.parseSize("2Gb", range: Limits.deviceMemory) }
        #expect(throws: QuantityError.self) { try Limits.parseSize("2m", range: Limits.deviceMemory) }
        #expect(throws: QuantityError.self) { try Limits.parseSize("2 apples", range: Limits.deviceMemory) }
        #expect(throws: QuantityError.self) { try Limits.parseSize("12", range: Limits.deviceMemory) }
    }

    @Test("a range names what it expects, accepts its bounds and zero only where allowed")
    func ranges() {
        #expect(Limits.linkRate.violation(1) == nil)
        #expect(Limits.linkRate.violation(1e13) == nil)
        #expect(Limits.linkRate.violation(0)?.contains("link rate between 1 bit/s and 10000000000000 bit/s") == true)
        #expect(Limits.rtt.violation(0) == nil)
        #expect(Limits.rtt.violation(.nan) != nil)
        #expect(Limits.layerFLOPs.violation(0) == nil)
        #expect(Limits.layerFLOPs.violation(1.7e308) != nil)
    }
}
