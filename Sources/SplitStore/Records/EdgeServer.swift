import Foundation

/// An edge server of the fleet.
package struct EdgeServer: Sendable, Equatable {
    package var id: String
    package var computeFLOPs: Double
    package var createdAt: Date
    package var updatedAt: Date
}
