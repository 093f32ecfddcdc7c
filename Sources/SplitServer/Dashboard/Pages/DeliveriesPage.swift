import Foundation
import Hummingbird
import SplitStore

/// `GET /ui/deliveries`: the webhook outbox's health: deliveries by status, the oldest still to
/// be delivered, the receiving hosts that fail and the latest failures with their errors.
enum DeliveriesPage {
    static let statuses = ["pending", "delivering", "delivered", "failed", "dead", "superseded"]
    static let failureLimit = 50

    static func render(store: any APIStore) async throws -> Response {
        let health = try await store.deliveryHealth(failureLimit: failureLimit)
        let now = Date()
        var body = "<h1>Webhook deliveries</h1>\n"
        body += "<p class=\"muted\">The outbox: every plan or notice pushed to a device, retried on failure until it is delivered, "
        body += "superseded by a newer one, or dead (out of attempts). Finished deliveries are trimmed after the retention.</p>\n"
        body += "<div id=\"delivery-counts\">"
        body += HTML.cards(statuses.map { ($0, "<span data-status=\"\($0)\">\(health.countsByStatus[$0] ?? 0)</span>") })
        body += "</div>"
        body += HTML.cards([
            ("oldest undelivered", health.oldestUnfinishedAt.map { HTML.age($0, now: now) } ?? "none"),
            ("due now", "\(health.due)"), ("receivers gone (410)", "\(health.disabledReceivers)"),
        ])
        body += "<h2>Failing receivers</h2>\n<div class=\"scroll\">"
        body += HTML.table(
            id: "failing-hosts", headers: ["host", "failed or dead deliveries", "devices", "latest error"],
            rows: health.failingHosts.map { host in
                [
                    "<code>\(HTML.escape(host.host))</code>", "\(host.deliveries)", "\(host.devices)",
                    host.lastError.map { HTML.escape(String($0.prefix(300))) } ?? "–",
                ]
            }, empty: "No receiver is failing.")
        body += "</div>\n<h2>Recent failures</h2>\n<div class=\"scroll\">"
        body += HTML.table(
            id: "failures", headers: ["device", "what", "status", "attempts", "last answer", "created", "next attempt"],
            rows: health.recentFailures.map { delivery in
                [
                    HTML.deviceLink(delivery.deviceID),
                    delivery.planID.map { "plan <a href=\"/ui/plans/\($0)\">#\($0)</a>" } ?? "infeasible notice",
                    DevicePage.status(delivery.status), "\(delivery.attempts)", DevicePage.lastAnswer(delivery), HTML.time(delivery.createdAt),
                    delivery.status == "failed" ? HTML.time(delivery.nextAttemptAt) : "–",
                ]
            }, empty: "No failed or dead deliveries.")
        body += "</div>"
        return DashboardPages.html(.ok, HTML.page(title: "Webhook deliveries", active: "Webhooks", body: body))
    }
}
