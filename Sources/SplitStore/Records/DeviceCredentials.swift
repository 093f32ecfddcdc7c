import Foundation

/// Credentials issued once at registration.
package struct DeviceCredentials: Sendable, Equatable {
    /// Bearer token for the device's own API calls (only its hash is stored).
    package var token: String
    /// Standard Webhooks signing secret, `whsec_<base64>`.
    package var webhookSecret: String
}

/// New credentials from a rotation: what was rotated (returned once), and until when the old
/// one stays valid (nil: it stopped at once).
package struct RotatedCredentials: Sendable, Equatable {
    package var token: String?
    package var webhookSecret: String?
    package var previousTokenValidUntil: Date?
    package var previousSecretValidUntil: Date?
}

/// The device a bearer token belongs to.
package struct DeviceTokenGrant: Sendable, Equatable {
    package var deviceID: String
    /// For a previous token in its grace period, the seconds it has left; nil for the current token.
    package var validForSeconds: Double?

    package init(deviceID: String, validForSeconds: Double? = nil) {
        self.deviceID = deviceID
        self.validForSeconds = validForSeconds
    }
}
