/// What a device wants pushed to its webhook.
public enum PushMode: String, Sendable, CaseIterable, Codable, Hashable {
    /// A push when its plan table changes (the compute side or model changed); between pushes
    /// the device switches splits itself by its measured rates (`PlanTable`, `SwitchingRule`).
    case table
    /// A push whenever its split changes, as before tables existed.
    case split
}
