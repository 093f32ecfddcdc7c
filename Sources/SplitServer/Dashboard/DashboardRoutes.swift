import Foundation
import Hummingbird
import SplitStore
import SplitSupport

extension APIRoutes {
    /// The read-only operator dashboard under `/ui`: the login form, logout and the stylesheet
    /// without a session; the fleet, a device's timeline, webhook health and a plan's picture with
    /// one (or an admin bearer token). The only POSTs are login and logout.
    static func addDashboardRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        let session = DashboardSession(adminTokenDigests: api.auth.adminTokenDigests)
        let open = router.group().add(middleware: DashboardMiddleware(session: session, authenticator: api.auth, requireSignIn: false))
        open.get("/ui/login") { request, _ in
            DashboardPages.login(
                status: .ok, message: nil, next: try FormValues(request.uri.query ?? "")["next"].flatMap(DashboardPages.safeReturnPath))
        }
        open.post("/ui/login") { request, _ -> Response in
            try DashboardPages.checkSameOrigin(request)
            var request = request
            let body = try await request.collectBody(upTo: 4096)
            let form = try FormValues(String(buffer: body))
            let next = form["next"].flatMap(DashboardPages.safeReturnPath) ?? "/ui"
            guard let token = form["token"], token.utf8.count <= 512, let index = session.adminIndex(token: token) else {
                api.logger.notice("dashboard sign-in refused")
                return DashboardPages.login(status: .unauthorized, message: "That is not an admin token.", next: next)
            }
            api.logger.info("dashboard sign-in", metadata: ["caller": "admin:\(Hex.encode(api.auth.adminTokenDigests[index].prefix(6)))"])
            return Response(
                status: .seeOther,
                headers: [.location: next, .setCookie: DashboardSession.setCookie(session.issue(adminIndex: index), request: request)])
        }
        open.post("/ui/logout") { request, _ -> Response in
            try DashboardPages.checkSameOrigin(request)
            return Response(status: .seeOther, headers: [.location: "/ui/login", .setCookie: DashboardSession.setCookie(nil, request: request)])
        }
        open.get("/ui/assets/dashboard.css") { request, _ -> Response in
            var headers: HTTPFields = [
                .contentType: "text/css; charset=utf-8", .eTag: DashboardAssets.stylesheetETag, .cacheControl: "public, max-age=31536000, immutable",
            ]
            if request.headers[values: .ifNoneMatch].contains(where: { $0.contains(DashboardAssets.stylesheetETag) || $0 == "*" }) {
                headers[.contentType] = nil
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: DashboardAssets.stylesheet)))
        }

        let pages = router.group().add(middleware: DashboardMiddleware(session: session, authenticator: api.auth, requireSignIn: true))
        pages.get("/ui") { request, _ in
            try await FleetPage.render(FleetPage.Parameters(request), store: api.store)
        }
        pages.get("/ui/devices/:id") { request, context in
            let id = try Check.pathParameter("id", context)
            let hours = try FormValues(request.uri.query ?? "")["hours"].map { text -> Int in
                guard let hours = Int(text), DevicePage.windows.contains(hours) else {
                    throw APIError.invalid("hours", "must be one of \(DevicePage.windows.map(String.init).joined(separator: ", "))")
                }
                return hours
            }
            return try await DevicePage.render(deviceID: id, hours: hours ?? 24, store: api.store)
        }
        pages.get("/ui/deliveries") { _, _ in
            try await DeliveriesPage.render(store: api.store)
        }
        pages.get("/ui/plans/:id") { _, context in
            let text = try Check.pathParameter("id", context)
            guard let id = Int64(text), id > 0 else { throw APIError.badRequest("plan id must be a positive integer") }
            return try await PlanPage.render(planID: id, store: api.store)
        }
    }
}

/// The pages every route shares: the login form, error pages, and the response they go in.
enum DashboardPages {
    /// An HTML response.
    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The sign-in form; `next` is where a successful sign-in goes.
    static func login(status: HTTPResponse.Status, message: String?, next: String?) -> Response {
        let body = """
            <section class="login">
            <h1>Sign in to splitd</h1>
            <p class="muted">The dashboard is read-only and for operators: paste an admin token (<code>SPLITD_ADMIN_TOKEN</code>, or \
            <code>&lt;state dir&gt;/admin-token</code>).</p>
            \(message.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
            <form method="post" action="/ui/login" id="login">
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <input type="hidden" name="next" value="\(HTML.escape(next ?? "/ui"))">
            <button type="submit">Sign in</button>
            </form>
            </section>
            """
        return html(status, HTML.page(title: "Sign in", active: nil, body: body, signedIn: false))
    }

    /// An error page with the API's explanation.
    static func error(status: HTTPResponse.Status, detail: String) -> Response {
        let body = """
            <h1>\(status.code) \(HTML.escape(status.reasonPhrase))</h1>
            <p>\(HTML.escape(detail))</p>
            <p><a href="/ui">Back to the fleet</a></p>
            """
        return html(status, HTML.page(title: "\(status.code) \(status.reasonPhrase)", active: nil, body: body))
    }

    /// The path (and query) of a dashboard request, to come back to after signing in.
    static func returnPath(_ request: Request) -> String? {
        safeReturnPath(request.uri.path + (request.uri.query.map { "?" + $0 } ?? ""))
    }

    /// `path` if it is a dashboard page on this host (`/ui...`; never `//host`, a scheme or a
    /// backslash, so a sign-in can never redirect elsewhere), else nil.
    static func safeReturnPath(_ path: String) -> String? {
        guard path == "/ui" || path.hasPrefix("/ui/") || path.hasPrefix("/ui?"), !path.contains("\\"), !path.hasPrefix("/ui/login"),
            !path.unicodeScalars.contains(where: Check.isControl), path.utf8.count <= 2000
        else { return nil }
        return path
    }

    /// Refuses a cross-site POST (login CSRF): a browser's `Sec-Fetch-Site` must be same-origin
    /// (or none: typed by the user), and an `Origin` must name the host the request was sent to.
    /// The session cookie is SameSite=Strict as well, so no other site can use it.
    static func checkSameOrigin(_ request: Request) throws {
        if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
            throw APIError.forbidden("cross-site form submission refused")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            guard origin == "http://\(host)" || origin == "https://\(host)" else {
                throw APIError.forbidden("cross-origin form submission refused")
            }
        }
    }
}
