import Foundation

/// Returns freed heap to the system: glibc keeps freed arenas mapped, so without this one big
/// request body (a model registration, an ONNX upload) would keep the process's memory high for good.
enum HeapTrim {
    /// Trims the heap after a body of `bytes` bytes, when it was large (over 8 MiB).
    static func afterBody(of bytes: Int) {
        guard bytes > 8 << 20, let trim = mallocTrim else { return }
        _ = trim(0)
    }

    /// glibc's `malloc_trim`, looked up at run time (it is not in Swift's Glibc module).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}
