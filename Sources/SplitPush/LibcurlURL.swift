import CCurl
import Foundation

/// libcurl's own reading of a URL (its URL API, the parser `CURLOPT_URL` uses), so `CallbackURL`
/// can check that curl reads a URL exactly as splitd does before accepting it.
enum LibcurlURL {
    /// What curl makes of a URL: scheme, host (IPv6 in brackets) and port.
    struct Parts: Equatable {
        var scheme: String
        var host: String
        var port: Int
    }

    /// Why curl refuses a URL, in its words.
    struct Refusal: Error {
        var reason: String
    }

    /// curl's reading of `url`, or curl's reason for refusing it.
    static func parts(_ url: String) -> Result<Parts, Refusal> {
        guard let handle = curl_url() else { return .failure(Refusal(reason: "libcurl cannot allocate a URL handle")) }
        defer { curl_url_cleanup(handle) }
        let status = curl_url_set(handle, CURLUPART_URL, url, 0)
        guard status == CURLUE_OK else { return .failure(Refusal(reason: String(cString: curl_url_strerror(status)))) }
        func part(_ what: CURLUPart, _ flags: Int32 = 0) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, what, &value, UInt32(flags)) == CURLUE_OK, let value else { return nil }
            defer { curl_free(value) }
            return String(cString: value)
        }
        guard let scheme = part(CURLUPART_SCHEME), let host = part(CURLUPART_HOST),
            let port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT).flatMap({ Int($0) })
        else { return .failure(Refusal(reason: "libcurl reads no scheme, host or port in it")) }
        return .success(Parts(scheme: scheme.lowercased(), host: host, port: port))
    }
}
