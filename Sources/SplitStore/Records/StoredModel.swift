import Foundation

/// A stored model graph version.
package struct StoredModel: Sendable, Equatable {
    package var name: String
    package var version: Int
    /// The canonical splitgraph/1 JSON as stored.
    package var graphJSON: String
    package var layerCount: Int
    package var blockCount: Int
    package var sha256: String
    package var createdAt: Date
}
