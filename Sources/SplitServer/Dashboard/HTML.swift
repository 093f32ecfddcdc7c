import Foundation
import Hummingbird
import SplitCore
import SplitSupport

/// Server-rendered HTML for the dashboard: escaping (every value from the store is user data),
/// the page frame, and the formats numbers are shown in.
enum HTML {
    /// Text for element content and quoted attribute values: `& < > " '` escaped.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A path segment or query value percent-encoded (everything but RFC 3986's unreserved
    /// characters), for links built from ids.
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The link to a device's timeline.
    static func deviceLink(_ id: String) -> String {
        "<a href=\"/ui/devices/\(component(id))\">\(escape(id))</a>"
    }

    /// A query string (`?a=1&b=2`) of the non-nil values, escaped for an attribute.
    static func query(_ pairs: [(String, String?)]) -> String {
        let parts = pairs.compactMap { name, value in value.map { "\(component(name))=\(component($0))" } }
        return parts.isEmpty ? "" : escape("?" + parts.joined(separator: "&"))
    }

    /// A whole page: head with the stylesheet, the navigation, `body`, and the footer.
    static func page(title: String, active: String?, body: String, signedIn: Bool = true) -> String {
        let navigation = [("/ui", "Fleet"), ("/ui/deliveries", "Webhooks")].map { href, label in
            "<a href=\"\(href)\"\(label == active ? " aria-current=\"page\"" : "")>\(label)</a>"
        }
        let logout = signedIn ? "<form method=\"post\" action=\"/ui/logout\" class=\"logout\"><button type=\"submit\">Log out</button></form>" : ""
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · splitd</title>
            <link rel="stylesheet" href="\(DashboardAssets.stylesheetPath)">
            </head>
            <body>
            <header><a class="brand" href="/ui">splitd</a><nav>\(signedIn ? navigation.joined() : "")</nav>\(logout)</header>
            <main>
            \(body)
            </main>
            <footer>splitd \(SplitdVersion.current) · read-only operator dashboard</footer>
            </body>
            </html>

            """
    }

    /// A table with a header row; `rows` are already-escaped cells.
    static func table(id: String? = nil, headers: [String], rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\"\(id.map { " id=\"\($0)\"" } ?? "")>\(escape(empty))</p>" }
        var html = "<table\(id.map { " id=\"\($0)\"" } ?? "")><thead><tr>"
        html += headers.map { "<th>\(escape($0))</th>" }.joined()
        html += "</tr></thead><tbody>\n"
        for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>\n" }
        return html + "</tbody></table>"
    }

    /// A row of labelled numbers (`<dl class="cards">`); values already escaped.
    static func cards(_ items: [(label: String, value: String)]) -> String {
        "<dl class=\"cards\">" + items.map { "<div><dt>\(escape($0.label))</dt><dd>\($0.value)</dd></div>" }.joined() + "</dl>"
    }

    /// A state badge (ok, warn or bad) with its text.
    static func badge(_ text: String, _ tone: String) -> String { "<span class=\"badge \(tone)\">\(escape(text))</span>" }

    // MARK: Formats

    /// `12.3 Mbit/s`, `850 kbit/s`, `1.2 Gbit/s`.
    static func rate(_ bitsPerSecond: Double?) -> String {
        guard let bitsPerSecond, bitsPerSecond.isFinite else { return "–" }
        let units: [(Double, String)] = [(1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")]
        for (scale, unit) in units where bitsPerSecond >= scale { return "\(number(bitsPerSecond / scale)) \(unit)" }
        return "\(number(bitsPerSecond)) bit/s"
    }

    /// A duration for people (`41.2 ms`), or a dash.
    static func seconds(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return formatSeconds(value)
    }

    /// Bytes for people (`1.50 GB`), or a dash.
    static func bytes(_ value: Int64?) -> String { value.map(ByteQuantity.short) ?? "–" }

    /// Three significant digits.
    static func number(_ value: Double) -> String {
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// `3 min ago`, `2 h ago`, `5 d ago` (clock skew reads as `just now`).
    static func age(_ date: Date?, now: Date) -> String {
        guard let date else { return "–" }
        let seconds = now.timeIntervalSince(date)
        if seconds < 5 { return "just now" }
        if seconds < 120 { return "\(Int(seconds)) s ago" }
        if seconds < 7200 { return "\(Int(seconds / 60)) min ago" }
        if seconds < 172_800 { return "\(Int(seconds / 3600)) h ago" }
        return "\(Int(seconds / 86_400)) d ago"
    }

    /// A timestamp in UTC (RFC 3339, to the second), in a `<time>` element.
    static func time(_ date: Date?) -> String {
        guard let date else { return "–" }
        let text = String(Timestamp.format(date).prefix(19)) + "Z"
        return "<time datetime=\"\(escape(Timestamp.format(date)))\">\(escape(text.replacingOccurrences(of: "T", with: " ")))</time>"
    }

    /// A list of layer names, at most `limit` shown (the rest counted), escaped.
    static func layers(_ names: [String]?, limit: Int = 3) -> String {
        guard let names else { return "–" }
        if names.isEmpty { return "<span class=\"muted\">none (all on the server)</span>" }
        let shown = names.prefix(limit).map { "<code>\(escape($0))</code>" }.joined(separator: ", ")
        return names.count > limit ? shown + " <span class=\"muted\">+\(names.count - limit)</span>" : shown
    }
}

/// Query-string and form values (`application/x-www-form-urlencoded`): `+` is a space, escapes are
/// decoded strictly (`Check.decoded`: malformed escapes, invalid UTF-8 and control characters are 400).
struct FormValues {
    private let pairs: [(name: String, value: String)]

    init(_ encoded: String) throws {
        var pairs: [(String, String)] = []
        for component in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = component.replacingOccurrences(of: "+", with: " ").split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Check.decoded(parts[0], "a form field name")
            pairs.append((name, parts.count > 1 ? try Check.decoded(parts[1], "form field '\(name)'") : ""))
        }
        self.pairs = pairs
    }

    /// The first non-empty value of `name`, if any.
    subscript(_ name: String) -> String? { pairs.first { $0.name == name && !$0.value.isEmpty }?.value }
}
