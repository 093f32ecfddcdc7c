/// Comparisons whose time does not depend on where the inputs differ (for secrets and digests).
package enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes; only their lengths leak through timing.
    @inlinable
    package static func equal<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    /// Whether two strings are equal as UTF-8 bytes.
    package static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }
}
