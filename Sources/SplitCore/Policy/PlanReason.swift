/// Why a plan was made (stored in `plans.reason`, shown by `split_history`).
public enum PlanReason: String, Sendable, CaseIterable {
    // (the raw values are the stored vocabulary; migrations/0001 checks them)
    case newDevice = "new device"
    case deviceChanged = "device changed"
    case newProfile = "new profile"
    case telemetryChange = "telemetry change"
    case modelChange = "model change"
    case memoryChange = "memory change"
    case requested
}
