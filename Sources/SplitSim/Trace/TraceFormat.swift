import Foundation

/// The trace formats `splitctl simulate --trace` reads, detected from the files or named.
public enum TraceFormat: String, Sendable, CaseIterable {
    /// CSV with named columns and units; splitd's `time_seconds,uplink_bps,downlink_bps[,rtt_seconds]` is one.
    case csv
    /// mahimahi delivery opportunities: `NAME.up` and `NAME.down`.
    case mahimahi
    /// `time_seconds throughput_Mbit_per_s` per line (Pensieve's FCC and Norway HSDPA logs), downlink only.
    case twoColumn = "two-column"

    /// The format a name given by the user means (`splitd` and `pensieve` are accepted aliases).
    public init?(name: String) {
        switch name.lowercased() {
        case "csv", "splitd": self = .csv
        case "mahimahi": self = .mahimahi
        case "two-column", "pensieve", "fcc", "hsdpa": self = .twoColumn
        default: return nil
        }
    }

    /// Detects the format of a single file from its first line that is neither blank nor a `#`
    /// comment: a header (some field is not a number) is CSV, one integer is a mahimahi file (which
    /// needs its pair), two numbers are a two-column log. Returns nil when it cannot tell.
    public static func detect(text: Substring) -> TraceFormat? {
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).prefix(1_000) {
            let content = rawLine.trimmingCharacters(in: .whitespaces)
            if content.isEmpty || content.hasPrefix("#") { continue }
            let fields = content.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == "\t" || $0 == " " })
            if fields.contains(where: { Double($0) == nil }) { return .csv }
            switch fields.count {
            case 1: return .mahimahi
            case 2: return .twoColumn
            default: return nil
            }
        }
        return nil
    }
}

/// One trace to read: its display name, format and file(s).
public struct TraceSource: Sendable, Equatable {
    /// Name shown in reports: the file name, or a mahimahi pair's common prefix.
    public var name: String
    public var format: TraceFormat
    /// The file, or for mahimahi the `.up` and `.down` files.
    public var files: [String]
}

/// Finding and reading trace files.
public enum TraceFiles {
    /// The traces `path` names: a file; a mahimahi pair by either file or their common prefix; or
    /// a directory, read recursively (hidden files, `README*` and `*.md` skipped; `X.up` with
    /// `X.down` make one mahimahi trace). `format` overrides detection.
    public static func sources(_ path: String, format: TraceFormat? = nil) throws -> [TraceSource] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = manager.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue { return try directorySources(path, format: format) }
        if (path.hasSuffix(".up") || path.hasSuffix(".down")) && (format == nil || format == .mahimahi) {
            return [try mahimahiPair(prefix: String(path[..<path.lastIndex(of: ".")!]), asked: path)]
        }
        if !exists {
            if (format == nil || format == .mahimahi) && manager.fileExists(atPath: path + ".up") && manager.fileExists(atPath: path + ".down") {
                return [try mahimahiPair(prefix: path, asked: path)]
            }
            throw TraceError(file: path, line: nil, "does not exist (nor do \(path).up and \(path).down)")
        }
        let name = (path as NSString).lastPathComponent
        if let format {
            if format == .mahimahi {
                throw TraceError(file: path, line: nil, "a mahimahi trace is a pair: give NAME.up, NAME.down or their common prefix NAME")
            }
            return [TraceSource(name: name, format: format, files: [path])]
        }
        let detected = try detect(path)
        if detected == .mahimahi {
            throw TraceError(
                file: path, line: nil,
                "looks like one file of a mahimahi pair (one integer per line): give NAME.up and NAME.down, or their common prefix NAME")
        }
        return [TraceSource(name: name, format: detected, files: [path])]
    }

    /// Reads `source`; `uplinkRatio` derives the uplink of downlink-only traces; `duration` cuts
    /// or extends the trace. Errors name the file.
    public static func load(_ source: TraceSource, uplinkRatio: Double?, durationSeconds: Double? = nil) throws -> NetworkTrace {
        do {
            let trace: NetworkTrace
            switch source.format {
            case .mahimahi:
                trace = try NetworkTrace(
                    mahimahiUplink: try bytes(source.files[0]), downlink: try bytes(source.files[1]), uplinkFile: source.files[0],
                    downlinkFile: source.files[1])
                return try durationSeconds.map { try trace.with(durationSeconds: $0) } ?? trace
            case .csv:
                return try NetworkTrace(csv: try text(source.files[0]), durationSeconds: durationSeconds, uplinkRatio: uplinkRatio)
            case .twoColumn:
                return try NetworkTrace(twoColumn: try text(source.files[0]), uplinkRatio: uplinkRatio, durationSeconds: durationSeconds)
            }
        } catch let error as TraceError {
            throw source.files.count == 1 ? error.naming(file: source.files[0]) : error
        }
    }

    static func mahimahiPair(prefix: String, asked: String) throws -> TraceSource {
        let up = prefix + ".up", down = prefix + ".down"
        for file in [up, down] where !FileManager.default.fileExists(atPath: file) {
            throw TraceError(file: asked, line: nil, "a mahimahi trace is a pair, and \(file) does not exist")
        }
        return TraceSource(name: (prefix as NSString).lastPathComponent, format: .mahimahi, files: [up, down])
    }

    static func directorySources(_ path: String, format: TraceFormat?) throws -> [TraceSource] {
        let manager = FileManager.default
        let names = try manager.contentsOfDirectory(atPath: path).sorted()
        var sources: [TraceSource] = []
        var pairedPrefixes = Set<String>()
        for name in names where !name.hasPrefix(".") && !name.hasPrefix("README") && !name.hasSuffix(".md") {
            let full = (path as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: full, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                sources += try directorySources(full, format: format)
            } else if name.hasSuffix(".up") || name.hasSuffix(".down") {
                let prefix = String(full[..<full.lastIndex(of: ".")!])
                if pairedPrefixes.insert(prefix).inserted { sources.append(try mahimahiPair(prefix: prefix, asked: full)) }
            } else {
                sources += try self.sources(full, format: format)
            }
        }
        return sources
    }

    static func detect(_ path: String) throws -> TraceFormat {
        let head = try bytes(path, limit: 64 * 1024)
        guard let format = TraceFormat.detect(text: Substring(String(decoding: head, as: UTF8.self))) else {
            throw TraceError(
                file: path, line: nil, "cannot tell the trace format (CSV with a header, mahimahi or two-column); name it with --trace-format")
        }
        return format
    }

    static func bytes(_ path: String, limit: Int? = nil) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TraceError(file: path, line: nil, "cannot be read") }
        defer { try? handle.close() }
        let data: Data?
        if let limit { data = try? handle.read(upToCount: limit) } else { data = try? handle.readToEnd() }
        return [UInt8](data ?? Data())
    }

    static func text(_ path: String) throws -> String { String(decoding: try bytes(path), as: UTF8.self) }
}
