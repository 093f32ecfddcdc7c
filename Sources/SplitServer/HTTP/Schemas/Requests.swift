import Foundation
import SplitCore
import SplitStore

/// Request bodies of the HTTP API. Each reads its fields with the shared rules (`Limits`,
/// `Check`) and refuses unknown fields, so a misspelt field is an error, never silently ignored.
enum Requests {
    /// `POST /v1/edge-servers`, `PUT /v1/edge-servers/{id}`.
    struct EdgeServer: JSONRequest {
        var id: String?
        var computeFLOPs: Double

        init(json: JSONObject) throws {
            try json.refuseUnknown(["id", "compute_flops"])
            id = try Check.identifier(json, "id")
            computeFLOPs = try json.requiredNumber("compute_flops", within: Limits.computeThroughput)
        }
    }

    /// The `push` field of a device body.
    static func pushModeField(_ json: JSONObject) throws -> PushMode {
        guard let name = try json.string("push", maximumLength: 16) else { return .table }
        guard let mode = PushMode(rawValue: name) else {
            throw JSONFieldError(
                field: json.field("push"),
                """
                must be \"table\" (a push per table; the device switches by itself) or \"split\" (a push per split change), got \
                '\(name)'
                """)
        }
        return mode
    }

    /// The optional `switching` object of a device body: the device's own switching rule
    /// (`SwitchingPolicy`), `{"rule": "payback", "payback_factor": 1, "minimum_relative_gain": 0}`
    /// or `{"rule": "horizon", "horizon_iterations": 1000, "minimum_relative_gain": 0}`; absent or
    /// null: the daemon's (`SPLITD_SWITCHING`). A parameter the rule does not have is refused.
    static func switchingField(_ json: JSONObject) throws -> SwitchingPolicy? {
        guard let object = try json.object("switching") else { return nil }
        let rule = try object.requiredString("rule", maximumLength: 16)
        let gain = try object.number("minimum_relative_gain", within: Limits.minimumGain) ?? 0
        switch rule {
        case "payback":
            try object.refuseUnknown(["rule", "payback_factor", "minimum_relative_gain"])
            let factor = try object.number("payback_factor", within: Limits.paybackFactor) ?? PaybackRule.defaultPaybackFactor
            return .payback(PaybackRule(paybackFactor: factor, minimumRelativeGain: gain))
        case "horizon":
            try object.refuseUnknown(["rule", "horizon_iterations", "minimum_relative_gain"])
            let horizon = try object.integer("horizon_iterations", within: Limits.horizonIterations) ?? SwitchingRule.defaultHorizonIterations
            return .horizon(SwitchingRule(horizonIterations: horizon, minimumRelativeGain: gain))
        default:
            throw JSONFieldError(field: object.field("rule"), "must be \"payback\" or \"horizon\", got '\(rule)'")
        }
    }

    /// A link measurement: the shape shared by a registration's first `link` and each telemetry sample.
    struct Link {
        static let keys: Set<String> = ["uplink_bps", "downlink_bps", "rtt_seconds"]
        var uplinkBitsPerSecond: Double
        var downlinkBitsPerSecond: Double
        var rttSeconds: Double?

        init(json: JSONObject, rttRequired: Bool) throws {
            uplinkBitsPerSecond = try json.requiredNumber("uplink_bps", within: Limits.linkRate)
            downlinkBitsPerSecond = try json.requiredNumber("downlink_bps", within: Limits.linkRate)
            rttSeconds = rttRequired ? try json.requiredNumber("rtt_seconds", within: Limits.rtt) : try json.number("rtt_seconds", within: Limits.rtt)
        }
    }

    /// `POST /v1/devices`, `PUT /v1/devices/{id}`.
    struct Device: JSONRequest {
        var id: String?
        var settings: DeviceSettings
        /// Optional first link measurement, so the device can be planned before telemetry arrives.
        var link: Link?

        init(json: JSONObject) throws {
            try json.refuseUnknown([
                "id", "model", "model_version", "edge_server", "batch_size", "compute_flops", "callback_url",
                "memory_bytes", "allow_raw_upload", "link", "optimizer", "push", "switching",
            ])
            id = try Check.identifier(json, "id")
            let memory = try json.number("memory_bytes", within: Limits.deviceMemory)
            settings = DeviceSettings(
                modelName: try Check.requiredIdentifier(json, "model"),
                modelVersion: try json.integer("model_version", within: 1...Int(Int32.max)),
                edgeServerID: try Check.requiredIdentifier(json, "edge_server"),
                batchSize: try json.requiredInteger("batch_size", within: 1...Int(Limits.batchSize.bounds.upperBound)),
                computeFLOPs: try json.requiredNumber("compute_flops", within: Limits.computeThroughput),
                memoryBytes: memory.map { Int64($0) },
                allowRawUpload: try json.bool("allow_raw_upload") ?? false,
                callbackURL: try json.string("callback_url", maximumLength: 2048, allowEmpty: false),
                optimizer: try PlanningConditions.optimizer(json),
                pushMode: try Requests.pushModeField(json), switching: try Requests.switchingField(json))
            if let object = try json.object("link") {
                try object.refuseUnknown(Link.keys)
                link = try Link(json: object, rttRequired: false)
            }
        }
    }

    /// `POST /v1/telemetry`: a batch of samples.
    struct Telemetry: JSONRequest {
        struct Sample {
            var device: String
            var measuredAt: Date
            var link: Link
            var computeFLOPs: Double?
            var memoryBytes: Double?
        }

        /// The most samples one request may carry.
        static let maximumSamples = 10_000
        var samples: [Sample]

        init(json: JSONObject) throws {
            try json.refuseUnknown(["samples"])
            guard let objects = try json.objects("samples") else { throw JSONFieldError(field: "samples", "is required") }
            guard !objects.isEmpty else { throw JSONFieldError(field: "samples", "must hold at least one sample") }
            guard objects.count <= Self.maximumSamples else {
                throw APIError.tooLarge("at most \(Self.maximumSamples) samples per request, got \(objects.count)")
            }
            samples = try objects.map { sample in
                try sample.refuseUnknown(Link.keys.union(["device", "measured_at", "compute_flops", "memory_bytes"]))
                let text = try sample.requiredString("measured_at", maximumLength: 64)
                guard let measuredAt = parseISO8601(text) else {
                    throw JSONFieldError(field: sample.field("measured_at"), "must be an RFC 3339 timestamp like 2026-11-27T06:00:00Z")
                }
                return Sample(
                    device: try Check.requiredIdentifier(sample, "device"), measuredAt: measuredAt,
                    link: try Link(json: sample, rttRequired: true),
                    computeFLOPs: try sample.number("compute_flops", within: Limits.computeThroughput),
                    memoryBytes: try sample.number("memory_bytes", within: Limits.deviceMemory))
            }
        }
    }

    /// `POST /v1/plan`: an inline `graph` or a registered `model`, and the conditions.
    struct Plan: JSONRequest {
        enum Source {
            case inline(JSONObject)
            case registered(name: String, version: Int?)
        }
        var source: Source
        var conditions: PlanningConditions
        var algorithm: PlanningAlgorithm
        var allowRawUpload: Bool

        init(json: JSONObject) throws {
            try json.refuseUnknown(PlanningConditions.jsonKeys.union(["model", "model_version", "graph", "algorithm", "allow_raw_upload"]))
            switch (try Check.identifier(json, "model"), try json.object("graph")) {
            case let (name?, nil): source = .registered(name: name, version: try json.integer("model_version", within: 1...Int(Int32.max)))
            case let (nil, graph?): source = .inline(graph)
            case (.some, .some): throw JSONFieldError(field: "graph", "give either an inline 'graph' or a registered 'model', not both")
            case (nil, nil): throw JSONFieldError(field: "graph", "give an inline 'graph' (splitgraph/1) or a registered 'model'")
            }
            conditions = try PlanningConditions(json: json)
            let name = try json.string("algorithm", maximumLength: 32) ?? PlanningAlgorithm.dag.rawValue
            guard let algorithm = PlanningAlgorithm(rawValue: name) else {
                throw JSONFieldError(
                    field: "algorithm",
                    "must be one of \(PlanningAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
            }
            self.algorithm = algorithm
            allowRawUpload = try json.bool("allow_raw_upload") ?? false
        }
    }

    /// `POST /v1/devices/{id}/credentials`.
    struct Credentials: JSONRequest {
        /// Longest grace or overlap an operator may ask for.
        static let maximumWindowSeconds = 30.0 * 86_400
        /// Default overlap of the old and new webhook secrets: receivers have a day to switch.
        static let defaultSecretOverlapSeconds = 86_400.0
        var rotation: CredentialRotation

        init(json: JSONObject) throws {
            try json.refuseUnknown(["token", "webhook_secret", "token_grace_seconds", "secret_overlap_seconds"])
            let window = ValueRange("window", unit: "s", 0...Self.maximumWindowSeconds, allowsZero: true)
            rotation = CredentialRotation(
                token: try json.bool("token") ?? false, webhookSecret: try json.bool("webhook_secret") ?? false,
                tokenGraceSeconds: try json.number("token_grace_seconds", within: window) ?? 0,
                secretOverlapSeconds: try json.number("secret_overlap_seconds", within: window) ?? Self.defaultSecretOverlapSeconds)
            guard rotation.token || rotation.webhookSecret else {
                throw JSONFieldError(field: "token", "ask for at least one of \"token\": true or \"webhook_secret\": true")
            }
        }
    }
}
