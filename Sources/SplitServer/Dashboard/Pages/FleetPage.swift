import Foundation
import Hummingbird
import SplitStore

/// `GET /ui`: the fleet at a glance (counts by state, devices by model, the splits in force) and
/// one page of the device table, filtered by model, state or id prefix from the query string.
enum FleetPage {
    /// The query string: `model`, `state`, `q` (id prefix), `after` (the last id of the previous
    /// page), `limit` (1...500, default 50).
    struct Parameters {
        var filter: DeviceFilter

        init(_ request: Request) throws {
            let query = try FormValues(request.uri.query ?? "")
            let state = try query["state"].map { text -> DeviceFilter.State in
                guard let state = DeviceFilter.State(rawValue: text) else {
                    throw APIError.invalid("state", "must be one of \(DeviceFilter.State.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return state
            }
            let limit = try query["limit"].map { text -> Int in
                guard let limit = Int(text), (1...500).contains(limit) else { throw APIError.invalid("limit", "must be an integer in 1...500") }
                return limit
            }
            for name in ["model", "q", "after"] where (query[name]?.count ?? 0) > 200 {
                throw APIError.invalid(name, "must be at most 200 characters")
            }
            filter = DeviceFilter(after: query["after"], model: query["model"], idPrefix: query["q"], state: state, limit: limit ?? 50)
        }
    }

    static func render(_ parameters: Parameters, store: any APIStore) async throws -> Response {
        async let overview = store.fleetOverview()
        async let page = store.deviceStatuses(parameters.filter)
        let (fleet, devices) = try await (overview, page)
        let filter = parameters.filter
        let now = Date()
        func stateLink(_ state: DeviceFilter.State, _ count: Int) -> String {
            "<a href=\"/ui\(HTML.query([("state", state.rawValue)]))\">\(count)</a>"
        }
        var body = "<h1>Fleet</h1>\n"
        body += HTML.cards([
            ("active devices", "<a href=\"/ui\">\(fleet.activeDevices)</a>"),
            ("with a split in force", "\(fleet.plannedDevices)"),
            ("not planned yet", stateLink(.unplanned, max(0, fleet.activeDevices - fleet.plannedDevices))),
            ("infeasible (memory)", stateLink(.infeasible, fleet.infeasibleDevices)),
            ("planning failing", stateLink(.failing, fleet.failingDevices)),
            ("webhooks failing", stateLink(.webhook, fleet.webhookFailingDevices)),
        ])
        body += "<div class=\"scroll\"><h2>Devices by model</h2>\n"
        body += HTML.table(
            id: "models", headers: ["model", "devices"],
            rows: fleet.models.map { ["<a href=\"/ui\(HTML.query([("model", $0.model)]))\">\(HTML.escape($0.model))</a>", "\($0.devices)"] },
            empty: "No devices registered yet.")
        body += "<h2>Splits in force</h2>\n"
        body += HTML.table(
            id: "splits", headers: ["model", "cut layers", "devices", "mean predicted delay", "picture"],
            rows: fleet.splits.map { split in
                [
                    "\(HTML.escape(split.model)) v\(split.modelVersion)", HTML.layers(split.cutLayers, limit: 4), "\(split.devices)",
                    HTML.seconds(split.meanPredictedDelaySeconds), "<a href=\"/ui/plans/\(split.examplePlanID)\">plan #\(split.examplePlanID)</a>",
                ]
            }, empty: "No plans yet: devices are planned once they report a link.")
        body += "</div>\n<h2>Devices</h2>\n"
        body += filterForm(filter, models: fleet.models.map(\.model))
        body += "<div class=\"scroll\">"
        body += HTML.table(
            id: "devices",
            headers: ["device", "model", "push", "split in force (cut layers)", "plan age", "uplink", "downlink", "RTT", "state"],
            rows: devices.map { row($0, now: now) }, empty: "No device matches.")
        body += "</div>\n<p class=\"pages\">"
        if filter.after != nil { body += "<a href=\"/ui\(HTML.query(links(filter, after: nil)))\">First page</a>" }
        if devices.count == filter.limit, let last = devices.last {
            body += "<a rel=\"next\" href=\"/ui\(HTML.query(links(filter, after: last.id)))\">Next page →</a>"
        }
        body += "</p>"
        return DashboardPages.html(.ok, HTML.page(title: "Fleet", active: "Fleet", body: body))
    }

    /// One device's row: id, model, push mode, split, plan age, link estimate, state.
    static func row(_ device: DeviceStatus, now: Date) -> [String] {
        [
            HTML.deviceLink(device.id), HTML.escape(device.modelName) + (device.modelVersion.map { " v\($0)" } ?? ""),
            HTML.escape(device.pushMode.rawValue),
            device.planID.map { "<a href=\"/ui/plans/\($0)\">\(HTML.layers(device.cutLayers))</a>" } ?? "<span class=\"muted\">none</span>",
            HTML.age(device.planComputedAt, now: now), HTML.rate(device.uplinkBitsPerSecond), HTML.rate(device.downlinkBitsPerSecond),
            HTML.seconds(device.rttSeconds), badges(device),
        ]
    }

    /// The device's states as badges, each with what is wrong.
    static func badges(_ device: DeviceStatus) -> String {
        device.states.map { state -> String in
            switch state {
            case .ok: return HTML.badge("ok", "ok")
            case .unplanned:
                return HTML.badge(device.linkMeasuredAt == nil ? "no link reported" : "not planned yet", "warn")
            case .infeasible:
                let limit = device.memoryLimitBytes.map { ", limit \(HTML.bytes($0))" } ?? ""
                return HTML.badge("infeasible: needs \(HTML.bytes(device.infeasibleRequiredBytes))\(limit)", "bad")
            case .failing:
                return HTML.badge("planning failed \(device.planningFailures)×", "bad")
                    + (device.lastPlanningFailure.map { " <span class=\"muted\">\(HTML.escape(String($0.prefix(120))))</span>" } ?? "")
            case .webhook:
                if device.callbackURL != nil && !device.webhookEnabled { return HTML.badge("webhook gone (410)", "bad") }
                return HTML.badge("webhook \(device.deliveryStatus ?? (device.noticeFailing ? "notice failing" : "failing"))", "bad")
            }
        }
        .joined()
    }

    /// The filter form: id prefix, model, state (a GET form: works without JavaScript).
    static func filterForm(_ filter: DeviceFilter, models: [String]) -> String {
        let modelOptions =
            ["<option value=\"\">any</option>"]
            + models.map { model in
                "<option value=\"\(HTML.escape(model))\"\(filter.model == model ? " selected" : "")>\(HTML.escape(model))</option>"
            }
        let stateOptions =
            ["<option value=\"\">any</option>"]
            + DeviceFilter.State.allCases.map { state in
                "<option value=\"\(state.rawValue)\"\(filter.state == state ? " selected" : "")>\(state.rawValue)</option>"
            }
        return """
            <form method="get" action="/ui" class="filters">
            <label>id starts with<input name="q" value="\(HTML.escape(filter.idPrefix ?? ""))" maxlength="200"></label>
            <label>model<select name="model">\(modelOptions.joined())</select></label>
            <label>state<select name="state">\(stateOptions.joined())</select></label>
            <button type="submit">Filter</button>
            </form>
            """
    }

    /// The query of another page with the same filter.
    static func links(_ filter: DeviceFilter, after: String?) -> [(String, String?)] {
        [
            ("q", filter.idPrefix), ("model", filter.model), ("state", filter.state?.rawValue),
            ("limit", filter.limit == 50 ? nil : "\(filter.limit)"), ("after", after),
        ]
    }
}
