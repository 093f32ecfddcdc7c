/// A fixed-size heap buffer with unchecked element access, for the planners' hot loops.
///
/// Reads and writes go straight to memory: no bounds, uniqueness or exclusivity checks. Buffers
/// owned by immutable values (`PreparedModel`) are only read after construction, which is what
/// makes the `@unchecked Sendable` sound; buffers that are written belong to one `SplitPlanner`.
final class FlatBuffer<Element>: @unchecked Sendable {
    /// Number of elements.
    let count: Int
    /// First element.
    let base: UnsafeMutablePointer<Element>

    /// Copies `array`.
    init(_ array: [Element]) {
        count = array.count
        base = .allocate(capacity: max(count, 1))
        base.initialize(from: array, count: count)
    }

    /// `count` copies of `value`.
    init(repeating value: Element, count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    @inline(__always)
    subscript(index: Int) -> Element {
        get { base[index] }
        set { base[index] = newValue }
    }

    @inline(__always)
    subscript(index: Int32) -> Element {
        get { base[Int(index)] }
        set { base[Int(index)] = newValue }
    }

    /// Elements `start..<end` (Int32 indices, as stored in CSR offsets).
    @inline(__always)
    func range(_ start: Int32, _ end: Int32) -> UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: base + Int(start), count: Int(end - start))
    }

    /// All elements.
    var all: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: base, count: count) }
}
