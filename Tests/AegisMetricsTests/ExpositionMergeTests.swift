// ExpositionMergeTests.swift — merging expositions: one `# EOF` at the very end of OpenMetrics, a
// family of a later document that an earlier one had left out whole, histogram samples kept with
// their family, comments and blank lines dropped.
import AegisMetrics
import XCTest

final class ExpositionMergeTests: XCTestCase {
    func testOpenMetricsDocumentsEndInOneEOFAndNoFamilyTwice() {
        let first = """
            # TYPE a counter
            # HELP a First.
            a_total 1
            # EOF

            """
        let second = """
            # TYPE b gauge
            b 2
            # TYPE a counter
            a_total 5
            # TYPE h histogram
            h_bucket{le="1"} 1
            h_bucket{le="+Inf"} 1
            h_count 1
            h_sum 0.5
            # EOF

            """
        let merged = ExpositionMerge.merge([Array(first.utf8), Array(second.utf8)], format: .openMetrics)
        let text = String(decoding: merged.body, as: UTF8.self)
        XCTAssertEqual(
            text,
            """
            # TYPE a counter
            # HELP a First.
            a_total 1
            # TYPE b gauge
            b 2
            # TYPE h histogram
            h_bucket{le="1"} 1
            h_bucket{le="+Inf"} 1
            h_count 1
            h_sum 0.5
            # EOF

            """)
        XCTAssertEqual(merged.duplicates, ["a"])
    }

    func testTextDocumentsKeepTheirLinesAndDropComments() {
        let first = "# HELP x_total X.\n# TYPE x_total counter\nx_total{k=\"v\"} 3\n# a comment\n\n"
        let second = "y 1\ny_count 2\n"
        let merged = ExpositionMerge.merge([Array(first.utf8), Array(second.utf8)], format: .prometheusText)
        XCTAssertEqual(
            String(decoding: merged.body, as: UTF8.self), "# HELP x_total X.\n# TYPE x_total counter\nx_total{k=\"v\"} 3\ny 1\ny_count 2\n")
        XCTAssertEqual(merged.duplicates, [])
    }
}
