import Foundation
import SplitCore

/// A stored model graph version.
public struct StoredModel: Sendable, Equatable {
    public var name: String
    public var version: Int
    /// The canonical splitgraph/1 JSON as stored.
    public var graphJSON: String
    public var layerCount: Int
    public var blockCount: Int
    public var sha256: String
    public var createdAt: Date
}

/// An edge server of the fleet.
public struct EdgeServer: Sendable, Equatable {
    public var id: String
    public var computeFLOPs: Double
    public var createdAt: Date
    public var updatedAt: Date
}

/// A device as registered.
public struct Device: Sendable, Equatable {
    public var id: String
    public var modelName: String
    /// Pinned model version, or nil to follow the latest.
    public var modelVersion: Int?
    public var edgeServerID: String
    public var batchSize: Int
    public var computeFLOPs: Double
    public var memoryBytes: Int64?
    public var allowRawUpload: Bool
    public var callbackURL: String?
    /// The optimizer it trains with (its training memory; what moves when its split changes).
    public var optimizer: Optimizer
    /// What it wants pushed: a table per compute-side change, or each split change.
    public var pushMode: PushMode
    public var webhookEnabled: Bool
    public var active: Bool
    public var createdAt: Date
    public var updatedAt: Date
}

/// What an operator sends to register or change a device.
public struct DeviceSettings: Sendable, Equatable {
    public var modelName: String
    public var modelVersion: Int?
    public var edgeServerID: String
    public var batchSize: Int
    public var computeFLOPs: Double
    public var memoryBytes: Int64?
    public var allowRawUpload: Bool
    public var callbackURL: String?
    public var optimizer: Optimizer
    public var pushMode: PushMode

    public init(modelName: String, modelVersion: Int? = nil, edgeServerID: String, batchSize: Int, computeFLOPs: Double,
                memoryBytes: Int64? = nil, allowRawUpload: Bool = false, callbackURL: String? = nil,
                optimizer: Optimizer = .adam, pushMode: PushMode = .table) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.edgeServerID = edgeServerID
        self.batchSize = batchSize
        self.computeFLOPs = computeFLOPs
        self.memoryBytes = memoryBytes
        self.allowRawUpload = allowRawUpload
        self.callbackURL = callbackURL
        self.optimizer = optimizer
        self.pushMode = pushMode
    }
}

/// Credentials issued once at registration.
public struct DeviceCredentials: Sendable, Equatable {
    /// Bearer token for the device's own API calls (only its hash is stored).
    public var token: String
    /// Standard Webhooks signing secret, `whsec_<base64>`.
    public var webhookSecret: String
}

/// New credentials from a rotation: what was rotated (returned once), and until when the old
/// one stays valid (nil: it stopped at once).
public struct RotatedCredentials: Sendable, Equatable {
    public var token: String?
    public var webhookSecret: String?
    public var previousTokenValidUntil: Date?
    public var previousSecretValidUntil: Date?
}

/// A plan row of the history.
public struct StoredPlan: Sendable, Equatable {
    public var id: Int64
    public var deviceID: String
    public var modelName: String
    public var modelVersion: Int
    public var computedAt: Date
    public var algorithm: String
    public var uplinkBitsPerSecond: Double
    public var downlinkBitsPerSecond: Double
    public var rttSeconds: Double
    public var deviceFLOPs: Double
    public var serverFLOPs: Double
    public var batchSize: Int
    public var deviceLayers: [String]
    public var cutLayers: [String]
    public var predictedDelaySeconds: Double
    /// Bytes per iteration, one direction.
    public var transferBytes: Double
    /// The predicted delay's parts.
    public var breakdown: DelayBreakdown
    public var solveMicroseconds: Double
    public var supersededAt: Date?
    public var reason: String
    /// The optimizer, memory limit and device memory it was planned with.
    public var optimizer: Optimizer?
    public var memoryLimitBytes: Int64?
    public var deviceMemoryBytes: Int64?
    public var memoryBound: Bool
    /// The plan table it came from (a `PlanTableReport` document), when it has one.
    public var tableJSON: String?
}

/// A plan about to be stored.
public struct NewPlan: Sendable {
    public var deviceID: String
    public var modelName: String
    public var modelVersion: Int
    public var algorithm: String
    public var conditions: PlanningConditions
    public var deviceLayers: [String]
    public var cutLayers: [String]
    /// `SplitFingerprint` of the split: plans of one batch with the same fingerprint
    /// share one `splits` row, found without comparing layer lists.
    public var splitFingerprint: String
    public var predictedDelaySeconds: Double
    public var transferBytes: Double
    public var breakdown: DelayBreakdown
    public var solveMicroseconds: Double
    public var reason: PlanReason
    /// Whether to enqueue a webhook delivery for it.
    public var deliver: Bool
    /// The table it came from: its document (`PlanTableReport` JSON) and that document's digest.
    public var table: (document: String, digest: String)?
    /// The device memory of its split, and whether the limit made it slower than the optimum.
    public var deviceMemoryBytes: Int64?
    public var memoryBound = false

    public init(deviceID: String, modelName: String, modelVersion: Int, algorithm: String, conditions: PlanningConditions,
                deviceLayers: [String], cutLayers: [String], splitFingerprint: String, predictedDelaySeconds: Double, transferBytes: Double,
                breakdown: DelayBreakdown, solveMicroseconds: Double, reason: PlanReason, deliver: Bool) {
        self.deviceID = deviceID
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.algorithm = algorithm
        self.conditions = conditions
        self.deviceLayers = deviceLayers
        self.cutLayers = cutLayers
        self.splitFingerprint = splitFingerprint
        self.predictedDelaySeconds = predictedDelaySeconds
        self.transferBytes = transferBytes
        self.breakdown = breakdown
        self.solveMicroseconds = solveMicroseconds
        self.reason = reason
        self.deliver = deliver
    }
}

/// A store-level refusal: the request names something that does not exist or already does.
/// The device a bearer token belongs to.
public struct DeviceTokenGrant: Sendable, Equatable {
    public var deviceID: String
    /// For a previous token in its grace period, the seconds it has left; nil for the current token.
    public var validForSeconds: Double?

    public init(deviceID: String, validForSeconds: Double? = nil) {
        self.deviceID = deviceID
        self.validForSeconds = validForSeconds
    }
}

/// One request's telemetry, stored all-or-nothing; several may be stored in one transaction.
public struct TelemetryBatch: Sendable {
    /// The samples, in the order they were sent.
    public var samples: [TelemetrySample]
    /// With a device's token: its SHA-256 (hex), checked again in the transaction that stores the
    /// batch, so a token revoked meanwhile (on any replica) stores nothing.
    public var tokenHash: String?

    public init(samples: [TelemetrySample], tokenHash: String? = nil) {
        self.samples = samples
        self.tokenHash = tokenHash
    }
}

/// What became of one batch of a group.
public enum TelemetryBatchOutcome: Sendable, Equatable {
    /// Every sample was stored (the count).
    case stored(Int)
    /// Nothing was stored: a sample names an unknown or inactive device (the field says which).
    case refused(StoreError)
    /// Nothing was stored: the batch's token no longer belongs to its device, or the device was deactivated.
    case tokenRevoked
}

public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case notFound, conflict, invalid }
    public let kind: Kind
    public let field: String?
    public let message: String

    public init(_ kind: Kind, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
