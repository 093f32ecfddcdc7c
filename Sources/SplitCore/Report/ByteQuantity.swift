/// Byte counts as operators write them, and as reports print them.
///
/// Units: `k`/`K`, `M`, `G`, `T`, `P` are powers of 1000 (as every other number splitctl reads:
/// `20M` bit/s is 20·10^6), with or without a trailing `B` (`2G` = `2GB` = 2·10^9 bytes);
/// `Ki`, `Mi`, `Gi`, `Ti`, `Pi` are powers of 1024, with or without `B` (`2Gi` = `2GiB` = 2·2^30).
/// A plain number is bytes. Anything else (`2m`, `2Gb`, `2 gigs`) is refused with the list of
/// units: lower-case `m` is milli everywhere else, and `b` reads as bits.
public enum ByteQuantity {
    /// Multipliers by unit.
    static let units: [String: Double] = [
        "": 1, "B": 1,
        "k": 1e3, "K": 1e3, "kB": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
        "T": 1e12, "TB": 1e12, "P": 1e15, "PB": 1e15,
        "Ki": 1024, "KiB": 1024, "Mi": 1_048_576, "MiB": 1_048_576, "Gi": 1_073_741_824, "GiB": 1_073_741_824,
        "Ti": 1_099_511_627_776, "TiB": 1_099_511_627_776, "Pi": 1_125_899_906_842_624, "PiB": 1_125_899_906_842_624,
    ]

    /// The units as `--help` and error messages describe them, with two examples whose byte
    /// counts are this parser's own results (so the text cannot disagree with it): `2G = 2GB =
    /// 2000000000 bytes; 2Gi = 2GiB = 2 x 2^30 = 2147483648 bytes`.
    public static var unitsDescription: String {
        func bytes(_ text: String) -> String { (try? parse(text)).map { "\($0)" } ?? "?" }
        return """
            k M G T P are powers of 1000 and Ki Mi Gi Ti Pi powers of 1024, B optional (2G = 2GB = \(bytes("2GB")) bytes; \
            2Gi = 2GiB = 2 x 2^30 = \(bytes("2GiB")) bytes)
            """
    }

    /// The number of bytes `text` stands for: a whole number from 1 to 2^53 (9 PB).
    public static func parse(_ text: String) throws(ByteQuantityError) -> Int64 {
        let bytes: Double
        do {
            bytes = try Quantity.parse(text, as: .size).value
        } catch let error as QuantityError {
            throw ByteQuantityError(text: text, reason: error.reason)
        } catch {
            throw ByteQuantityError(text: text, reason: "\(error)")
        }
        guard bytes >= 1 else { throw ByteQuantityError(text: text, reason: "must be at least 1 byte") }
        guard bytes <= Double(DeviceMemoryTerms.maximumTotalBytes) else {
            throw ByteQuantityError(text: text, reason: "must be at most 2^53 bytes (9 PB)")
        }
        let whole = bytes.rounded()
        guard abs(bytes - whole) <= max(1e-9 * bytes, 1e-6) else {
            throw ByteQuantityError(text: text, reason: "is not a whole number of bytes")
        }
        return Int64(whole)
    }

    /// `2.35 GB (2345678901 bytes)`: decimal units, three significant digits, and the exact count.
    public static func describe(_ bytes: Int64) -> String {
        "\(short(bytes)) (\(bytes) bytes)"
    }

    /// `2.35 GB`, `650 kB`, `12 B`: decimal units, three significant digits.
    public static func short(_ bytes: Int64) -> String {
        let names = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes), unit = 0
        while abs(value) >= 1000 && unit < names.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let digits = abs(value) >= 100 ? 0 : abs(value) >= 10 ? 1 : 2
        return "\(fixed(value, digits)) \(names[unit])"
    }

    /// `value` with `digits` decimals, without Foundation's formatters.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let integer = scaled / Int64(scale), fraction = scaled % Int64(scale)
        var text = (value < 0 ? "-" : "") + "\(integer)"
        if digits > 0 {
            let fractionText = "\(fraction)"
            text += "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
        }
        return text
    }
}

/// Why a byte count was refused.
public struct ByteQuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given.
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "'\(text)': \(reason)" }
}
