import Foundation
import Hummingbird
import SplitCore
import SplitSim
import SplitStore
import SplitSupport

/// `GET /ui/devices/{id}`: one device's timeline over the last `hours`: its reported link as a
/// chart with its plan changes marked, its plans, their pushes and its infeasible notices with
/// their delivery status, and the moves it refused (where the schema records them).
enum DevicePage {
    /// The windows offered, in hours.
    static let windows = [1, 6, 24, 168]
    /// Points per chart line (each the mean of the samples in its interval).
    static let chartPoints = 240
    static let historyLimit = 50

    static func render(deviceID: String, hours: Int, store: any APIStore) async throws -> Response {
        let now = Date()
        let since = now.addingTimeInterval(-Double(hours) * 3600)
        guard let device = try await store.deviceStatuses(DeviceFilter(id: deviceID, limit: 1)).first else {
            throw APIError.notFound("device '\(deviceID)' does not exist")
        }
        async let linkPoints = store.linkSeries(deviceID: deviceID, since: since, maximumPoints: chartPoints)
        async let planRows = store.planHistory(deviceID: deviceID, limit: historyLimit, before: nil)
        async let deliveryRows = store.deliveries(deviceID: deviceID, limit: historyLimit)
        async let refusedRows = store.refusedMoves(deviceID: deviceID, limit: historyLimit)
        let (link, plans, deliveries, refused) = try await (linkPoints, planRows, deliveryRows, refusedRows)

        var body = "<h1>Device <code>\(HTML.escape(device.id))</code> \(FleetPage.badges(device))</h1>\n"
        body += HTML.cards([
            ("model", HTML.escape(device.modelName) + (device.modelVersion.map { " v\($0)" } ?? " (latest)")),
            ("edge server", HTML.escape(device.edgeServerID)), ("push", HTML.escape(device.pushMode.rawValue)),
            ("uplink (estimate)", HTML.rate(device.uplinkBitsPerSecond)), ("downlink (estimate)", HTML.rate(device.downlinkBitsPerSecond)),
            ("RTT (estimate)", HTML.seconds(device.rttSeconds)), ("last sample", HTML.age(device.linkMeasuredAt, now: now)),
            ("plan in force", device.planID.map { "<a href=\"/ui/plans/\($0)\">#\($0)</a>, \(HTML.age(device.planComputedAt, now: now))" } ?? "none"),
        ])
        if !device.active { body += "<p class=\"error\">This device is deactivated; its history is kept.</p>" }
        if let required = device.infeasibleRequiredBytes {
            body += "<p class=\"error\" id=\"infeasible\">No split of its model fits its memory: the smallest valid split needs "
            body += "\(HTML.bytes(required))\(device.memoryLimitBytes.map { ", the limit is \(HTML.bytes($0))" } ?? ""). "
            body += "It was sent an infeasible notice, and is planned again when its memory or model changes.</p>"
        }
        if device.planningFailures > 0 {
            body += "<p class=\"error\">Planning failed \(device.planningFailures) time(s) in a row"
            body += "\(device.lastPlanningFailure.map { ": \(HTML.escape($0))" } ?? ""); it is retried with backoff.</p>"
        }

        body += "<h2>Link</h2>\n<p class=\"windows\">Window: "
        body += windows.map { window in
            let label = window < 24 ? "\(window) h" : "\(window / 24) d"
            return window == hours ? "<strong>\(label)</strong>" : "<a href=\"/ui/devices/\(HTML.component(deviceID))?hours=\(window)\">\(label)</a>"
        }
        .joined(separator: " ")
        body += " <span class=\"muted\">(reported telemetry, \(link.reduce(0) { $0 + $1.samples }) samples averaged into \(link.count) points; "
        body += "dashed lines are plan changes)</span></p>\n"
        body += "<div class=\"scroll\" id=\"link-chart\">" + charts(link: link, plans: plans, since: since, now: now) + "</div>\n"

        let deliveryOfPlan = Dictionary(deliveries.compactMap { delivery in delivery.planID.map { ($0, delivery) } }) { first, _ in first }
        body += "<h2>Plans</h2>\n<div class=\"scroll\">"
        body += HTML.table(
            id: "plans", headers: ["plan", "computed", "reason", "cut layers", "predicted delay", "link when planned", "push"],
            rows: plans.map { plan in
                [
                    "<a href=\"/ui/plans/\(plan.id)\">#\(plan.id)</a>\(plan.supersededAt == nil ? " " + HTML.badge("in force", "ok") : "")",
                    HTML.time(plan.computedAt), HTML.escape(plan.reason), HTML.layers(plan.cutLayers), HTML.seconds(plan.predictedDelaySeconds),
                    "\(HTML.rate(plan.uplinkBitsPerSecond)) up, \(HTML.rate(plan.downlinkBitsPerSecond)) down",
                    deliveryOfPlan[plan.id].map { HTML.escape($0.status) } ?? "<span class=\"muted\">not pushed</span>",
                ]
            }, empty: "No plans yet.")
        body += "</div>\n<h2>Pushes and notices</h2>\n<div class=\"scroll\">"
        body += HTML.table(
            id: "deliveries", headers: ["created", "what", "status", "attempts", "last answer", "next attempt", "delivered"],
            rows: deliveries.map { delivery in
                [
                    HTML.time(delivery.createdAt),
                    delivery.planID.map { "plan <a href=\"/ui/plans/\($0)\">#\($0)</a>" }
                        ?? "infeasible notice (needs \(HTML.bytes(delivery.noticeRequiredBytes)))",
                    status(delivery.status), "\(delivery.attempts)", lastAnswer(delivery),
                    delivery.status == "pending" || delivery.status == "failed" ? HTML.time(delivery.nextAttemptAt) : "–",
                    HTML.time(delivery.deliveredAt),
                ]
            }, empty: device.callbackURL == nil ? "No callback URL: nothing is pushed to this device." : "Nothing pushed yet.")
        body += "</div>\n<h2>Refused moves</h2>\n"
        body += HTML.table(
            id: "refused", headers: ["recorded", "rule", "saving per iteration", "migration", "accrued / required", "reason", "refused split"],
            rows: refused.map { move in
                [
                    HTML.time(move.recordedAt), HTML.escape(move.rule), HTML.seconds(move.savingSecondsPerIteration),
                    HTML.seconds(move.migrationSeconds),
                    "\(HTML.seconds(move.accruedSavingSeconds)) / \(HTML.seconds(move.requiredSavingSeconds))",
                    HTML.escape(move.reason), HTML.layers(move.candidateCutLayers),
                ]
            }, empty: "No move was refused.")
        return DashboardPages.html(.ok, HTML.page(title: "Device \(device.id)", active: nil, body: body))
    }

    /// The link rates (Mbit/s) and RTT (ms) over the window, from its first sample (or plan) to
    /// now, each plan in it a marker.
    static func charts(link: [LinkPoint], plans: [StoredPlan], since: Date, now: Date) -> String {
        let inWindow = plans.filter { $0.computedAt >= since }
        let start = min(link.first?.measuredAt ?? now, inWindow.map(\.computedAt).min() ?? now)
        let span = max(now.timeIntervalSince(start), 1)
        let times = link.map { $0.measuredAt.timeIntervalSince(start) }
        let markers = inWindow.map { TimeSeriesChart.Marker(time: $0.computedAt.timeIntervalSince(start), label: "plan #\($0.id)") }
        func label(_ offset: Double) -> String {
            let text = Timestamp.format(start.addingTimeInterval(offset))
            return String(text.dropFirst(11).prefix(span < 600 ? 8 : 5))
        }
        let rates = TimeSeriesChart.svg(
            title: "Link rates reported (Mbit/s, UTC)", valueAxis: "Mbit/s",
            series: [
                .init(name: "uplink", times: times, values: link.map(\.uplinkBitsPerSecond)),
                .init(name: "downlink", times: times, values: link.map(\.downlinkBitsPerSecond)),
            ], markers: markers, spanSeconds: span, valueScale: 1e-6, timeLabel: label)
        let rtt = TimeSeriesChart.svg(
            title: "Round-trip time reported (ms, UTC)", valueAxis: "ms", series: [.init(name: "RTT", times: times, values: link.map(\.rttSeconds))],
            markers: markers, spanSeconds: span, valueScale: 1e3, height: 220, timeLabel: label)
        return rates + rtt
    }

    static func status(_ status: String) -> String {
        switch status {
        case "delivered": return HTML.badge(status, "ok")
        case "failed", "dead": return HTML.badge(status, "bad")
        case "pending", "delivering": return HTML.badge(status, "warn")
        default: return HTML.escape(status)
        }
    }

    /// The receiver's last HTTP status and error text.
    static func lastAnswer(_ delivery: DeliveryRecord) -> String {
        let code = delivery.lastStatusCode.map { "HTTP \($0)" }
        let error = delivery.lastError.map { HTML.escape(String($0.prefix(300))) }
        let parts = [code, error].compactMap { $0 }
        return parts.isEmpty ? "–" : parts.joined(separator: ": ")
    }
}
