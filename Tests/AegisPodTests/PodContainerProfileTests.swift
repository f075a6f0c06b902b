// PodContainerProfileTests.swift — Kubernetes' rules for a container's argv and environment over
// its image's config, `$(VAR)` expansion included.
import AegisPod
import XCTest

final class PodContainerProfileTests: XCTestCase {
    func testCommandAndArgsReplaceEntrypointAndCmdAsKubernetesDoes() throws {
        let entry = ["/entry"], cmd = ["default-arg"]
        XCTAssertEqual(
            try PodContainerProfile.argv(ContainerSpec(name: "c", image: "i"), entrypoint: entry, cmd: cmd), ["/entry", "default-arg"])
        XCTAssertEqual(
            try PodContainerProfile.argv(ContainerSpec(name: "c", image: "i", args: ["x"]), entrypoint: entry, cmd: cmd), ["/entry", "x"])
        XCTAssertEqual(
            try PodContainerProfile.argv(ContainerSpec(name: "c", image: "i", command: ["/bin/sh"]), entrypoint: entry, cmd: cmd),
            ["/bin/sh"])
        XCTAssertThrowsError(try PodContainerProfile.argv(ContainerSpec(name: "c", image: "i"), entrypoint: nil, cmd: nil)) { error in
            XCTAssertTrue("\(error)".contains("no Entrypoint or Cmd"), "\(error)")
        }
    }

    func testVariableReferencesExpandAsKubernetesExpandsThem() throws {
        let vars = ["PORT": "8080", "HOST": "h"]
        XCTAssertEqual(EnvExpansion.expand("--listen=$(HOST):$(PORT)", vars), "--listen=h:8080")
        XCTAssertEqual(EnvExpansion.expand("$(MISSING) stays", vars), "$(MISSING) stays")
        XCTAssertEqual(EnvExpansion.expand("$$(PORT) is escaped, $$ is one", vars), "$(PORT) is escaped, $ is one")
        XCTAssertEqual(EnvExpansion.expand("a $ alone, $(unclosed", vars), "a $ alone, $(unclosed")
        let c = ContainerSpec(name: "c", image: "i", command: ["serve", "--port", "$(PORT)"], env: [EnvVar(name: "PORT", value: "9000")])
        XCTAssertEqual(
            try PodContainerProfile.argv(c, entrypoint: nil, cmd: nil, variables: ["PORT": "9000"]), ["serve", "--port", "9000"])
    }

    func testEnvValuesSeeOnlyEarlierEntriesNotTheImageEnv() {
        let env = [
            EnvVar(name: "A", value: "$(B)-$(BASE)"), EnvVar(name: "B", value: "b"), EnvVar(name: "C", value: "$(B)"),
        ]
        XCTAssertEqual(EnvExpansion.expand(env: env).map(\.value), ["$(B)-$(BASE)", "b", "b"])
        let c = ContainerSpec(name: "c", image: "i", env: [EnvVar(name: "X", value: "$(PATH)")])
        XCTAssertEqual(
            PodContainerProfile.environment(c, imageEnv: ["PATH=/image"], hostname: "p"), ["PATH=/image", "X=$(PATH)", "HOSTNAME=p"])
    }

    func testTheContainersEnvSitsAboveTheImagesAndGetsPathAndHostname() {
        let c = ContainerSpec(name: "c", image: "i", env: [EnvVar(name: "PATH", value: "/custom"), EnvVar(name: "X", value: "$(PATH)")])
        let env = PodContainerProfile.environment(c, imageEnv: ["PATH=/image", "Y=1"], hostname: "pod-a")
        XCTAssertEqual(env, ["Y=1", "PATH=/custom", "X=/custom", "HOSTNAME=pod-a"])
    }
}
