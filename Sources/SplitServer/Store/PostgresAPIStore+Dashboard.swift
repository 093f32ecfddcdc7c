import Foundation
import SplitStore

/// The dashboard's reads on PostgreSQL (`DashboardRepository`).
extension PostgresAPIStore {
    func fleetOverview() async throws -> FleetOverview { try await run { try DashboardRepository.overview(connection: $0) } }

    func deviceStatuses(_ filter: DeviceFilter) async throws -> [DeviceStatus] {
        try await run { try DashboardRepository.devices(filter, connection: $0) }
    }

    func linkSeries(deviceID: String, since: Date, maximumPoints: Int) async throws -> [LinkPoint] {
        try await run { try DashboardRepository.linkSeries(deviceID: deviceID, since: since, maximumPoints: maximumPoints, connection: $0) }
    }

    func deliveries(deviceID: String, limit: Int) async throws -> [DeliveryRecord] {
        try await run { try DashboardRepository.deliveries(deviceID: deviceID, limit: limit, connection: $0) }
    }

    func deliveryHealth(failureLimit: Int) async throws -> DeliveryHealth {
        try await run { try DashboardRepository.deliveryHealth(failureLimit: failureLimit, connection: $0) }
    }

    func refusedMoves(deviceID: String, limit: Int) async throws -> [RefusedMove] {
        try await run { try DashboardRepository.refusedMoves(deviceID: deviceID, limit: limit, connection: $0) }
    }

    func plan(id: Int64) async throws -> StoredPlan? { try await run { try PlanRepository.plan(id: id, connection: $0) } }
}
