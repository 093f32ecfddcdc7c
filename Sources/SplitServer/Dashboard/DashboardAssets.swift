import Crypto
import Foundation
import SplitSupport

/// The dashboard's one stylesheet, compiled into the binary (no CDN, no files to install). Its URL
/// carries a digest of its content, so browsers may cache it for a year: a new version is a new URL.
enum DashboardAssets {
    /// The stylesheet's ETag: the first 16 hex digits of its SHA-256, quoted.
    static let stylesheetETag = "\"" + String(Hex.encode(SHA256.hash(data: Data(stylesheet.utf8))).prefix(16)) + "\""
    /// The URL pages link to.
    static let stylesheetPath = "/ui/assets/dashboard.css?v=" + stylesheetETag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))

    static let stylesheet = """
        :root { --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --panel: #f6f8fa; --accent: #0969da;
                --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); background: #fff; }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #24292f; color: #fff; }
        header a { color: #fff; text-decoration: none; }
        .brand { font-weight: 700; font-size: 16px; letter-spacing: .02em; }
        nav { display: flex; gap: 16px; flex: 1; }
        nav a { opacity: .8; } nav a[aria-current="page"], nav a:hover { opacity: 1; text-decoration: underline; }
        .logout button { background: transparent; color: #fff; border: 1px solid #8c959f; border-radius: 6px; padding: 3px 10px; cursor: pointer; }
        main { padding: 16px 24px 32px; max-width: 1400px; }
        h1 { font-size: 20px; margin: 8px 0 12px; } h2 { font-size: 16px; margin: 24px 0 8px; }
        a { color: var(--accent); }
        table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
        #models, #splits, #breakdown, #conditions, #cut-layers { width: auto; min-width: 480px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--panel); font-weight: 600; white-space: nowrap; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--panel); padding: 0 3px; border-radius: 3px; }
        .muted, .empty { color: var(--muted); }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 8px; }
        .cards div { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 150px; background: #fff; }
        .cards dt { color: var(--muted); font-size: 12px; } .cards dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; }
        .badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid;
                 margin-right: 4px; }
        .badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); }
        .filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0; }
        .filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
        input, select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; }
        button { background: var(--panel); cursor: pointer; }
        .pages { display: flex; gap: 16px; margin: 8px 0; }
        .chart, .plan { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
        .scroll { overflow-x: auto; }
        .login { max-width: 420px; margin: 48px auto; border: 1px solid var(--line); border-radius: 8px; padding: 20px 24px; }
        .login input { width: 100%; margin: 6px 0 12px; }
        .error { color: var(--bad); }
        .windows a { margin-right: 10px; }
        footer { color: var(--muted); font-size: 12px; padding: 12px 24px; border-top: 1px solid var(--line); }
        """
}
