// PodSpecModelTests.swift — the model's derived views.
import AegisPod
import XCTest

final class PodSpecModelTests: XCTestCase {
    func testSidecarsAreTheInitContainersThatKeepRunning() {
        let spec = PodSpec(
            initContainers: [
                ContainerSpec(name: "migrate", image: "i"), ContainerSpec(name: "gateway", image: "i", restartPolicy: "Always"),
                ContainerSpec(name: "metrics", image: "i", restartPolicy: "Always"),
            ],
            containers: [ContainerSpec(name: "controller", image: "i")])
        XCTAssertEqual(spec.sidecars.map(\.name), ["gateway", "metrics"])
        XCTAssertFalse(spec.initContainers[0].isSidecar)
    }
}
