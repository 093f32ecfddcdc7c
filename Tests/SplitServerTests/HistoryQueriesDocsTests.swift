import Foundation
import SplitBench
import SplitTestSupport
import Testing

/// `splitd bench history` and docs/sql.md time and show the same queries.
@Suite("History queries are documented")
struct HistoryQueriesDocsTests {
    @Test("splitd bench history times exactly the SQL queries of docs/sql.md")
    func benchQueriesAreDocumented() throws {
        let page = try String(contentsOf: packageRoot.appendingPathComponent("docs/sql.md"), encoding: .utf8)
        let blocks = page.components(separatedBy: "```sql\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        let trimmed = { (text: String) in text.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(blocks.count >= 10)
        #expect(HistoryQueries.documented.map(trimmed) == blocks.map(trimmed))
        #expect(HistoryQueries.title(HistoryQueries.documented[4]).hasPrefix("5. The splits in force"))
    }
}
