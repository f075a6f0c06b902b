// The image locality score: nodes holding a workload's image are preferred (a bonus on the fit
// score), never required; both schedulers agree.
import AegisProtocol
@testable import AegisScheduler
import XCTest

final class ImageLocalityTests: XCTestCase {
    func imageSpec(_ reference: String, cpu: Int64 = 1000) -> WorkloadSpec {
        var s = spec(runtime: "command", cpu: cpu, memory: GiB)
        s.image = ImageSpec(reference: reference)
        return s
    }

    func withImages(_ c: NodeCapabilities, _ images: [String]) -> NodeCapabilities {
        var c = c
        c.images = images
        return c
    }

    /// Bin-pack prefers the fuller node; the empty one holds the image and wins by its bonus.
    func nodes() -> [NodeState] {
        [
            node("fuller", caps(cpu: 8000, memory: 16 * GiB), allocated: Allocation(cpuMillis: 1000, memoryBytes: 2 * GiB)),
            node("holder", withImages(caps(cpu: 8000, memory: 16 * GiB), ["python:3.12", "registry-1.docker.io/library/python:3.12"])),
        ]
    }

    func testANodeHoldingTheImageIsPreferredByBothSchedulers() {
        let plain = req("w", spec(runtime: "command", cpu: 1000, memory: GiB))
        XCTAssertEqual(Scheduler().place(plain, nodes: nodes()).node, "fuller", "the fit alone picks the fuller node")
        let fromImage = req("w", imageSpec("python:3.12"))
        XCTAssertEqual(Scheduler().place(fromImage, nodes: nodes()).node, "holder")
        XCTAssertEqual(ClusterScheduler(nodes: nodes()).place(fromImage).node, "holder")
        let other = req("w", imageSpec("node:20"))
        XCTAssertEqual(Scheduler().place(other, nodes: nodes()).node, "fuller", "another image gets no bonus")
        XCTAssertEqual(ClusterScheduler(nodes: nodes()).place(other).node, "fuller")
    }

    func testLocalityIsNeverAFilterAndYieldsToAMuchBetterFit() {
        // The holder lacks the CPU: the workload goes elsewhere rather than waiting.
        let big = req("w", imageSpec("python:3.12", cpu: 7000))
        var ns = nodes()
        ns[1] = node("holder", ns[1].capabilities, allocated: Allocation(cpuMillis: 2000))
        ns[0] = node("fuller", caps(cpu: 8000, memory: 16 * GiB))
        XCTAssertEqual(Scheduler().place(big, nodes: ns).node, "fuller")
        XCTAssertEqual(ClusterScheduler(nodes: ns).place(big).node, "fuller")
        // With no bonus the fit decides again.
        let off = SchedulerConfig(imageLocalityBonus: 0)
        XCTAssertEqual(Scheduler(config: off).place(req("w", imageSpec("python:3.12")), nodes: nodes()).node, "fuller")
        XCTAssertEqual(ClusterScheduler(config: off, nodes: nodes()).place(req("w", imageSpec("python:3.12"))).node, "fuller")
    }

    func testAnImagePulledLaterCountsAfterTheNodesCapabilitiesChange() {
        var ns = nodes()
        ns[1].capabilities.images = nil
        let cluster = ClusterScheduler(nodes: ns)
        XCTAssertEqual(cluster.preview(req("w", imageSpec("python:3.12"))).node, "fuller")
        cluster.upsert(node("holder", withImages(caps(cpu: 8000, memory: 16 * GiB), ["python:3.12"])))
        XCTAssertEqual(cluster.preview(req("w", imageSpec("python:3.12"))).node, "holder", "the cached holder mask was refreshed")
    }
}
