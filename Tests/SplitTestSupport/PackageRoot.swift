import Foundation

/// The repository root, located from this file's path so that no test depends on the working
/// directory: the sample models and profiles in `ops/`, the fixtures under `Tests/`, the docs,
/// the migrations and the built binaries.
package let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
