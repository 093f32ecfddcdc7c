import CCurl
import CCurlShim
import Foundation

/// One webhook POST to make.
public struct WebhookRequest: Sendable {
    /// The vetted target (URL and pinned address).
    public var target: TargetPolicy.Target
    public var body: Data
    public var headers: [String: String]

    public init(target: TargetPolicy.Target, body: Data, headers: [String: String]) {
        self.target = target
        self.body = body
        self.headers = headers
    }
}

/// What happened to one request.
public struct WebhookOutcome: Sendable, Equatable {
    /// HTTP status, or nil when no response arrived (connection refused, timeout, ...).
    public var statusCode: Int?
    /// Transport error text, when there was one.
    public var error: String?
    /// The receiver's `Retry-After`, seconds.
    public var retryAfter: TimeInterval?
    /// Wall time of the request.
    public var seconds: Double

    /// Only 2xx counts as delivered.
    public var delivered: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
}

/// Sends webhook batches concurrently with the libcurl multi interface.
///
/// One multi handle is kept for the client's lifetime, so connections to the same receivers are
/// reused across batches. Redirects are never followed, only http(s) is spoken, every request has
/// a total timeout, and the address vetted by `TargetPolicy` is pinned (`CURLOPT_RESOLVE`).
/// Batches run one at a time on the client's own thread, never on Swift's cooperative pool.
public final class WebhookClient: @unchecked Sendable {
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private let multi: UnsafeMutableRawPointer
    private let queue = DispatchQueue(label: "splitd.webhooks", qos: .userInitiated)
    private let timeoutMilliseconds: Int
    /// Value of the User-Agent header.
    public let userAgent: String

    /// - Parameters:
    ///   - timeoutSeconds: total time allowed per request (connect included).
    ///   - maximumConnections: open connections at once across all hosts.
    public init(timeoutSeconds: Double = 10, maximumConnections: Int = 256, userAgent: String = "splitd-webhooks/1") {
        _ = Self.globalInit
        multi = curl_multi_init()
        timeoutMilliseconds = Int(timeoutSeconds * 1000)
        self.userAgent = userAgent
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maximumConnections)
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maximumConnections)
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
    }

    deinit { curl_multi_cleanup(multi) }

    /// Sends every request and returns their outcomes in the same order.
    public func send(_ requests: [WebhookRequest]) async -> [WebhookOutcome] {
        guard !requests.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.perform(requests)) }
        }
    }

    /// Per-request state the C callbacks write into.
    private final class Transfer {
        let index: Int
        var retryAfter: String?
        var headers: UnsafeMutablePointer<curl_slist>?
        var resolve: UnsafeMutablePointer<curl_slist>?
        let started = DispatchTime.now()

        init(index: Int) { self.index = index }

        deinit {
            curl_slist_free_all(headers)
            curl_slist_free_all(resolve)
        }
    }

    private func perform(_ requests: [WebhookRequest]) -> [WebhookOutcome] {
        var outcomes = [WebhookOutcome?](repeating: nil, count: requests.count)
        var transfers: [UnsafeMutableRawPointer: Transfer] = [:]
        for (index, request) in requests.enumerated() {
            let transfer = Transfer(index: index)
            guard let easy = curl_easy_init() else {
                outcomes[index] = WebhookOutcome(statusCode: nil, error: "cannot create a curl handle", retryAfter: nil, seconds: 0)
                continue
            }
            configure(easy, request: request, transfer: transfer)
            transfers[easy] = transfer
            curl_multi_add_handle(multi, easy)
        }
        var running: Int32 = 1
        while running > 0 {
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle, let transfer = transfers[easy] else { continue }
                let result = message.pointee.data.result
                var status = 0
                _ = splitd_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - transfer.started.uptimeNanoseconds) / 1e9
                outcomes[transfer.index] = WebhookOutcome(
                    statusCode: result == CURLE_OK && status > 0 ? status : nil,
                    error: result == CURLE_OK ? nil : String(cString: curl_easy_strerror(result)),
                    retryAfter: transfer.retryAfter.flatMap { parseRetryAfter($0) }, seconds: seconds)
                curl_multi_remove_handle(multi, easy)
                curl_easy_cleanup(easy)
                transfers[easy] = nil
            }
            if running > 0 { curl_multi_poll(multi, nil, 0, 100, nil) }
        }
        return outcomes.map { $0 ?? WebhookOutcome(statusCode: nil, error: "transfer did not finish", retryAfter: nil, seconds: 0) }
    }

    private func configure(_ easy: UnsafeMutableRawPointer, request: WebhookRequest, transfer: Transfer) {
        _ = splitd_curl_setopt_string(easy, CURLOPT_URL, request.target.url)
        _ = splitd_curl_setopt_long(easy, CURLOPT_POST, 1)
        _ = splitd_curl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, request.body.count)
        request.body.withUnsafeBytes { bytes in
            _ = splitd_curl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
        }
        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) { headers = curl_slist_append(headers, "\(name): \(value)") }
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip
        transfer.headers = headers
        _ = splitd_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, headers)
        let address = request.target.address.contains(":") ? "[\(request.target.address)]" : request.target.address
        transfer.resolve = curl_slist_append(nil, "\(request.target.host):\(request.target.port):\(address)")
        _ = splitd_curl_setopt_pointer(easy, CURLOPT_RESOLVE, transfer.resolve)
        _ = splitd_curl_setopt_string(easy, CURLOPT_USERAGENT, userAgent)
        _ = splitd_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = splitd_curl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = splitd_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
        _ = splitd_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(timeoutMilliseconds, 5000))
        _ = splitd_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = splitd_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = splitd_curl_setopt_write_function(easy) { _, size, count, _ in size * count }  // discard the body
        _ = splitd_curl_setopt_header_function(easy) { buffer, size, count, context in
            let length = size * count
            guard let buffer, let context else { return length }
            let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self)
            if line.lowercased().hasPrefix("retry-after:") {
                Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().retryAfter =
                    String(line.dropFirst("retry-after:".count)).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return length
        }
        _ = splitd_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, Unmanaged.passUnretained(transfer).toOpaque())
    }
}
