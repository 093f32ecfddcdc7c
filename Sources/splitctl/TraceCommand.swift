import ArgumentParser
import Foundation
import SplitCore
import SplitSim

/// Where a simulation's network traces come from: files in any supported format, or a synthetic trace.
struct TraceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            Network trace: a file, a mahimahi pair (NAME.up, NAME.down or their prefix NAME) or a directory of traces; repeat for \
            several. Formats: CSV with named columns and units (splitd's time_seconds,uplink_bps,downlink_bps[,rtt_seconds]), \
            mahimahi, two-column 'time_seconds Mbit/s' (Pensieve, FCC, HSDPA; needs --uplink-ratio).
            """, valueName: "path"))
    var trace: [String] = []
    @Option(name: .customLong("trace-format"), help: "auto|csv|mahimahi|two-column (auto detects each file).")
    var traceFormat: String = "auto"
    @Option(
        name: .customLong("uplink-ratio"), parsing: .unconditional,
        help: ArgumentHelp("Uplink = RATIO x downlink for traces that measure the downlink only (two-column logs); no default.", valueName: "ratio"))
    var uplinkRatio: Double?
    @Option(
        name: .customLong("rate-scale"), parsing: .unconditional,
        help: ArgumentHelp(
            "Multiply every rate of the trace files by FACTOR (a what-if: the same fluctuations on a faster link).", valueName: "factor"))
    var rateScale: Double = 1
    @Option(help: "Synthetic trace instead of a file: random-walk|markov|steps.")
    var synthetic: String?
    @Option(help: "Seed of the synthetic trace.")
    var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp(
            "Length of the synthetic trace: 600, 10m, 1h (for --trace: cut or extend each trace's duration).",
            valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: TraceOptions.durationRange) })
    var duration: Double?

    static let durationRange = ValueRange("trace duration", unit: "s", 1e-3...1e8)

    /// The format `--trace-format` names (nil: detect).
    func format() throws -> TraceFormat? {
        guard traceFormat != "auto" else { return nil }
        guard let format = TraceFormat(name: traceFormat) else {
            throw InputError("--trace-format: unknown format '\(traceFormat)'; expected auto, csv, mahimahi or two-column")
        }
        return format
    }

    /// Checks `--uplink-ratio`.
    func checkedRatio() throws -> Double? {
        if let uplinkRatio, !(uplinkRatio.isFinite && uplinkRatio > 0) {
            throw InputError("--uplink-ratio must be a finite number > 0 (uplink = ratio x downlink), got \(uplinkRatio)")
        }
        return uplinkRatio
    }

    /// The traces to read, by name (file traces) or the synthetic one.
    func sources() throws -> [TraceSource] {
        let format = try self.format()
        var sources: [TraceSource] = []
        for path in trace { sources += try TraceFiles.sources(path, format: format) }
        if !trace.isEmpty && sources.isEmpty { throw InputError("--trace: no trace files in \(trace.joined(separator: ", "))") }
        return sources
    }

    /// Reads `source`, naming the file in errors.
    func load(_ source: TraceSource) throws -> NetworkTrace {
        guard rateScale.isFinite && rateScale > 0 else { throw InputError("--rate-scale must be a finite number > 0, got \(rateScale)") }
        let trace = try TraceFiles.load(source, uplinkRatio: try checkedRatio(), durationSeconds: duration)
        return rateScale == 1 ? trace : try trace.scaled(by: rateScale)
    }

    /// The one trace of a single-trace command, with `--uplink`/`--downlink`/`--rtt` as the synthetic base rates.
    func loadOne(base: PlanningConditions) throws -> (name: String, trace: NetworkTrace) {
        switch (trace.isEmpty, synthetic) {
        case (true, nil): throw InputError("give a trace: --trace FILE or --synthetic random-walk|markov|steps")
        case (false, .some): throw InputError("--trace and --synthetic are exclusive")
        case (false, nil):
            let sources = try self.sources()
            guard sources.count == 1 else {
                throw InputError("--trace names \(sources.count) traces; this command reads one (simulate --recommend reads several)")
            }
            return (sources[0].name, try load(sources[0]))
        case (true, let kindName?):
            return ("\(kindName) (seed \(seed))", try synthetic(kindName, base: base))
        }
    }

    /// The synthetic trace `kindName` around the base rates.
    func synthetic(_ kindName: String, base: PlanningConditions) throws -> NetworkTrace {
        guard let kind = SyntheticTrace.Kind(rawValue: kindName) else {
            throw InputError("--synthetic: unknown kind '\(kindName)'; expected random-walk, markov or steps")
        }
        guard let duration else { throw InputError("--synthetic needs --duration SECONDS") }
        do {
            return try SyntheticTrace.generate(
                kind, seed: seed, durationSeconds: duration, baseUplinkBitsPerSecond: base.uplinkBitsPerSecond,
                baseDownlinkBitsPerSecond: base.downlinkBitsPerSecond, baseRTTSeconds: base.rttSeconds)
        } catch let error as TraceError {
            throw InputError("--\(error)")
        }
    }
}

/// `splitctl trace`: synthetic traces and summaries of real ones.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Generate a synthetic network trace, or summarize a trace file.",
        subcommands: [GenerateTraceCommand.self, SummarizeTraceCommand.self, EstimatorsTraceCommand.self],
        defaultSubcommand: GenerateTraceCommand.self)
}

/// `splitctl trace generate` (the default): a synthetic trace as CSV.
struct GenerateTraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate a synthetic network trace (CSV) for simulate --trace.")

    @Option(help: "random-walk|markov|steps.")
    var synthetic: String
    @Option(help: "Seed.")
    var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp("Length: 600, 10m, 1h.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: TraceOptions.durationRange) })
    var duration: Double = 600
    @OptionGroup var conditionOptions: ConditionOptions

    func run() throws {
        let options = try TraceOptions.parse(["--synthetic", synthetic, "--seed", "\(seed)", "--duration", "\(duration)"])
        print(try options.synthetic(synthetic, base: try conditionOptions.conditions()).csv(), terminator: "")
    }
}

/// `splitctl trace summarize`: what a trace holds.
struct SummarizeTraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Summarize a trace: duration, mean and percentiles per direction, outage seconds, a sparkline (or an SVG chart).",
        discussion: """
            Percentiles are of the capacity over windows of --window (1 s by default: a mahimahi trace, one line per \
            packet opportunity, is mostly zero at its own millisecond resolution); outage seconds are the windows that \
            carried nothing.
            """)

    @Argument(help: "Trace file, mahimahi pair or prefix.")
    var file: String
    @Option(name: .customLong("trace-format"), help: "auto|csv|mahimahi|two-column.")
    var traceFormat: String = "auto"
    @Option(name: .customLong("uplink-ratio"), parsing: .unconditional, help: "Uplink = RATIO x downlink for downlink-only traces.")
    var uplinkRatio: Double?
    @Option(
        help: ArgumentHelp("Window of the percentiles and outage count: 1s, 100ms.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("window", unit: "s", 1e-3...86_400)) })
    var window: Double = 1
    @Option(help: "Write a chart of both directions over time (SVG) instead of text.")
    var svg: String?

    func run() throws {
        var options = try TraceOptions.parse([])
        options.trace = [file]
        options.traceFormat = traceFormat
        options.uplinkRatio = uplinkRatio
        let sources = try options.sources()
        guard sources.count == 1 else { throw InputError("'\(file)' holds \(sources.count) traces; summarize reads one") }
        let summary = try TraceSummary(try options.load(sources[0]), windowSeconds: window)
        if let svg {
            do {
                try Data(summary.svg(title: sources[0].name).utf8).write(to: URL(fileURLWithPath: svg))
            } catch {
                throw FailureError("cannot write '\(svg)': \(error.localizedDescription)")
            }
        } else {
            print(summary.text(name: sources[0].name), terminator: "")
        }
    }
}

/// `splitctl trace estimators`: how well each link estimator predicts transfer times on traces.
struct EstimatorsTraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimators",
        abstract: "Measure how well each link estimator predicts what a transfer will see, on traces (the daemon's estimator was chosen so).",
        discussion: """
            Every --telemetry-every the device measures the mean capacity over the interval and folds it into each estimator; at \
            every sample a transfer of each --sizes is predicted to take 8 x bytes / estimate and actually takes what the trace \
            gives from then on. Reported per estimator and size: the mean |log(predicted/actual)| and its mean (bias; > 0: the \
            estimate is too low), over both directions of every trace.
            """)

    @OptionGroup var traceOptions: TraceOptions
    @Option(help: "Comma-separated transfer sizes: 1MB,10MB,30MB.")
    var sizes: String = "1MB,10MB,30MB"
    @Option(
        name: .customLong("telemetry-every"), help: ArgumentHelp("Measurement interval: 1s.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("telemetry interval", unit: "s", 1e-3...86_400)) })
    var telemetryEvery: Double = 1

    func run() throws {
        let sizes = try self.sizes.split(separator: ",").map { text -> Double in
            do {
                return try Limits.parseSize(String(text), range: ValueRange("transfer size", unit: "bytes", 1...1e13))
            } catch {
                throw InputError("--sizes: \(error)")
            }
        }
        let sources = try traceOptions.sources()
        guard !sources.isEmpty else { throw InputError("give traces: --trace FILE or DIR (repeatable)") }
        let progress = ProgressLine(label: "measuring estimators on \(sources.count) traces")
        var traces: [NetworkTrace] = []
        for (index, source) in sources.enumerated() {
            traces.append(try traceOptions.load(source))
            progress.update(Double(index + 1) / Double(sources.count) / 2)
        }
        let rows = try EstimatorEvaluation.evaluate(traces: traces, sizesBytes: sizes, intervalSeconds: telemetryEvery)
        progress.finish()
        print(
            "\(sources.count) traces, both directions, a sample every \(String(format: "%g", telemetryEvery)) s: mean |log(predicted/actual)| (bias)")
        print("estimator".padding(toLength: 20, withPad: " ", startingAt: 0) + sizes.map { ByteQuantity.short(Int64($0)).leftPadded(22) }.joined())
        for row in rows {
            print(
                row.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + sizes.indices.map { String(format: "%.3f (%+.3f)", row.meanAbsoluteLogError[$0], row.meanLogError[$0]).leftPadded(22) }.joined()
            )
        }
    }
}
