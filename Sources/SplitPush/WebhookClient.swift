import CCurl
import CCurlShim
import Foundation

/// One webhook POST to make.
package struct WebhookRequest: Sendable {
    /// The vetted target (URL and pinned address).
    package var target: TargetPolicy.Target
    package var body: Data
    package var headers: [String: String]

    package init(target: TargetPolicy.Target, body: Data, headers: [String: String]) {
        self.target = target
        self.body = body
        self.headers = headers
    }
}

/// What happened to one request.
package struct WebhookOutcome: Sendable, Equatable {
    /// HTTP status, or nil when no response arrived (connection refused, timeout, ...).
    package var statusCode: Int?
    /// Transport error text, when there was one.
    package var error: String?
    /// The receiver's `Retry-After`, seconds.
    package var retryAfter: TimeInterval?
    /// Wall time of the request.
    package var seconds: Double
    /// Whether the request ran out of time (the receiver is slow or does not answer).
    package var timedOut = false

    package init(statusCode: Int?, error: String?, retryAfter: TimeInterval?, seconds: Double, timedOut: Bool = false) {
        self.statusCode = statusCode
        self.error = error
        self.retryAfter = retryAfter
        self.seconds = seconds
        self.timedOut = timedOut
    }

    /// Only 2xx counts as delivered.
    package var delivered: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
}

/// Sends webhooks concurrently with the libcurl multi interface, each request finishing on its
/// own: a receiver that hangs until its timeout holds up only its own requests, never others.
///
/// One multi handle runs on the client's own thread for the client's lifetime (never on Swift's
/// cooperative pool), so connections to the same receivers are reused. Requests join it at any
/// time (`curl_multi_wakeup`). Redirects are never followed, only http(s) is spoken, every
/// request has a total timeout, and the address vetted by `TargetPolicy` is pinned
/// (`CURLOPT_RESOLVE`).
package final class WebhookClient: Sendable {
    private let engine: Engine
    /// Value of the User-Agent header.
    package let userAgent: String
    /// The default total time allowed per request, seconds.
    package let timeoutSeconds: Double
    /// Open connections at once across all receivers. libcurl queues a request past this limit
    /// (its timeout running), so callers keep no more requests than this in flight.
    package let maximumConnections: Int

    /// - Parameters:
    ///   - timeoutSeconds: default total time allowed per request (connect included).
    ///   - maximumConnections: open connections at once across all hosts.
    package init(timeoutSeconds: Double = 10, maximumConnections: Int = 256, userAgent: String = "splitd-webhooks/1") {
        self.timeoutSeconds = timeoutSeconds
        self.userAgent = userAgent
        self.maximumConnections = maximumConnections
        engine = Engine(maximumConnections: maximumConnections)
    }

    deinit { engine.shutDown() }

    /// Sends one request; `timeoutSeconds` overrides the client's default for it.
    package func send(_ request: WebhookRequest, timeoutSeconds: Double? = nil) async -> WebhookOutcome {
        await withCheckedContinuation { continuation in
            engine.submit(
                Transfer(
                    request: request, timeoutMilliseconds: Int((timeoutSeconds ?? self.timeoutSeconds) * 1000),
                    userAgent: userAgent, continuation: continuation))
        }
    }

    /// Sends every request concurrently and returns their outcomes in the same order.
    package func send(_ requests: [WebhookRequest]) async -> [WebhookOutcome] {
        await withTaskGroup(of: (Int, WebhookOutcome).self) { group in
            for (index, request) in requests.enumerated() { group.addTask { (index, await self.send(request)) } }
            var outcomes = [WebhookOutcome?](repeating: nil, count: requests.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.map { $0 ?? WebhookOutcome(statusCode: nil, error: "transfer did not finish", retryAfter: nil, seconds: 0) }
        }
    }
}

/// One request in flight: its easy handle's settings and where its outcome goes.
private final class Transfer: @unchecked Sendable {
    let request: WebhookRequest
    let timeoutMilliseconds: Int
    let userAgent: String
    let continuation: CheckedContinuation<WebhookOutcome, Never>
    var retryAfter: String?
    var headers: UnsafeMutablePointer<curl_slist>?
    var resolve: UnsafeMutablePointer<curl_slist>?
    var started = DispatchTime.now()

    init(request: WebhookRequest, timeoutMilliseconds: Int, userAgent: String, continuation: CheckedContinuation<WebhookOutcome, Never>) {
        self.request = request
        self.timeoutMilliseconds = timeoutMilliseconds
        self.userAgent = userAgent
        self.continuation = continuation
    }

    deinit {
        curl_slist_free_all(headers)
        curl_slist_free_all(resolve)
    }
}

/// The multi handle and the thread that drives it. All curl calls happen on that thread except
/// `curl_multi_wakeup`, which libcurl allows from any thread.
private final class Engine: @unchecked Sendable {
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var queued: [Transfer] = []
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)

    init(maximumConnections: Int) {
        _ = Self.globalInit
        multi = curl_multi_init()
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maximumConnections)
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maximumConnections)
        _ = splitd_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let thread = Thread { [self] in run() }
        thread.name = "splitd.webhooks"
        thread.start()
    }

    func submit(_ transfer: Transfer) {
        lock.lock()
        let refused = stopping
        if !refused { queued.append(transfer) }
        lock.unlock()
        if refused {
            transfer.continuation.resume(returning: WebhookOutcome(statusCode: nil, error: "webhook client shut down", retryAfter: nil, seconds: 0))
        } else {
            curl_multi_wakeup(multi)
        }
    }

    func shutDown() {
        lock.lock()
        stopping = true
        lock.unlock()
        curl_multi_wakeup(multi)
        stopped.wait()
        curl_multi_cleanup(multi)
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        while true {
            lock.lock()
            let incoming = queued
            queued.removeAll()
            let stop = stopping
            lock.unlock()
            for transfer in incoming {
                guard let easy = curl_easy_init() else {
                    transfer.continuation.resume(
                        returning: WebhookOutcome(
                            statusCode: nil, error: "cannot create a curl handle", retryAfter: nil,
                            seconds: 0))
                    continue
                }
                configure(easy, transfer)
                transfer.started = DispatchTime.now()
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            if stop {
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    curl_easy_cleanup(easy)
                    transfer.continuation.resume(
                        returning: WebhookOutcome(
                            statusCode: nil, error: "webhook client shut down", retryAfter: nil,
                            seconds: 0))
                }
                stopped.signal()
                return
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                    let transfer = active.removeValue(forKey: easy)
                else { continue }
                let result = message.pointee.data.result
                var status = 0
                _ = splitd_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - transfer.started.uptimeNanoseconds) / 1e9
                curl_multi_remove_handle(multi, easy)
                curl_easy_cleanup(easy)
                transfer.continuation.resume(
                    returning: WebhookOutcome(
                        statusCode: result == CURLE_OK && status > 0 ? status : nil,
                        error: result == CURLE_OK ? nil : String(cString: curl_easy_strerror(result)),
                        retryAfter: transfer.retryAfter.flatMap { parseRetryAfter($0) }, seconds: seconds,
                        timedOut: result == CURLE_OPERATION_TIMEDOUT))
            }
            // Sleeps until a socket is ready, a timeout is due, or `submit`/`shutDown` wakes it.
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func configure(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer) {
        let request = transfer.request
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
        // A host name is pinned to the vetted address with CURLOPT_RESOLVE ("HOST:PORT:ADDRESS",
        // an IPv6 address in brackets). An address literal needs no pinning (no DNS can change
        // it), and libcurl before 8.x cannot parse a bracketed IPv6 host in that option.
        if request.target.callback.literal == nil {
            let address = request.target.address.contains(":") ? "[\(request.target.address)]" : request.target.address
            transfer.resolve = curl_slist_append(nil, "\(request.target.host):\(request.target.port):\(address)")
            _ = splitd_curl_setopt_pointer(easy, CURLOPT_RESOLVE, transfer.resolve)
        }
        _ = splitd_curl_setopt_string(easy, CURLOPT_USERAGENT, transfer.userAgent)
        _ = splitd_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = splitd_curl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = splitd_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, transfer.timeoutMilliseconds)
        _ = splitd_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(transfer.timeoutMilliseconds, 5000))
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
