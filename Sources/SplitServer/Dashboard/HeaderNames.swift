import Hummingbird

/// Header names the dashboard reads or sets that HTTPTypes does not name.
extension HTTPFields.Element.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let frameOptions = Self("X-Frame-Options")!
    static let crossOriginOpenerPolicy = Self("Cross-Origin-Opener-Policy")!
    static let forwardedProto = Self("X-Forwarded-Proto")!
    static let forwarded = Self("Forwarded")!
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
