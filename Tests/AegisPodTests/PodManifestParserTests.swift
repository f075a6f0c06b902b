// PodManifestParserTests.swift — valid Pod manifests: every supported field read into the model
// with Kubernetes' defaults applied, JSON input, and the controller pod of pod/aegis-controller.yaml.
import AegisManifest
import AegisPod
import Foundation
import XCTest

final class PodManifestParserTests: XCTestCase {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    static let fullPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: full
          namespace: agents
          labels: {app: demo, app.kubernetes.io/part-of: aegis, empty: ""}
          annotations: {note: "free text: anything"}
        spec:
          hostNetwork: true
          hostname: full-host
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 45
          securityContext: {runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true}
          volumes:
            - name: scratch
              emptyDir: {}
            - name: shm
              emptyDir: {medium: ""}
            - name: data
              hostPath: {path: /var/lib/demo/, type: DirectoryOrCreate}
          initContainers:
            - name: migrate
              image: registry.example:5000/tools/migrate@\(digest)
              command: [migrate, --up]
              args: []
            - name: proxy
              image: localhost:5000/proxy
              restartPolicy: Always
              ports:
                - {name: http, containerPort: 8080}
                - {containerPort: 5353, protocol: UDP, hostPort: 5353}
              startupProbe:
                tcpSocket: {port: http}
          containers:
            - name: app
              image: python:3.12-slim
              imagePullPolicy: Never
              command: [python3]
              args: [-m, app, --port, "9000"]
              workingDir: /srv/app
              env:
                - {name: MODE, value: prod}
                - {name: EMPTY}
                - {name: my.var-1, value: x}
                - {name: MODE, value: debug}
              ports:
                - {name: api, containerPort: 9000}
              volumeMounts:
                - {name: scratch, mountPath: /scratch}
                - {name: data, mountPath: /data/, readOnly: true, subPath: ""}
                - {name: shm, mountPath: /dev/shm}
              resources:
                limits: {cpu: 1500m, memory: 1Gi}
                requests: {cpu: 0.5, memory: 256Mi}
              securityContext:
                runAsUser: 2000
                readOnlyRootFilesystem: true
                allowPrivilegeEscalation: false
                capabilities: {add: [CAP_NET_BIND_SERVICE, SYS_PTRACE, NET_BIND_SERVICE], drop: [ALL]}
                seccompProfile: {type: Unconfined}
              startupProbe:
                exec: {command: [cat, /tmp/ready]}
              readinessProbe:
                httpGet:
                  port: api
                  path: /ready
                  scheme: HTTPS
                  host: 127.0.0.1
                  httpHeaders: [{name: X-Probe, value: "1"}]
                initialDelaySeconds: 5
                periodSeconds: 3
                timeoutSeconds: 2
                successThreshold: 2
                failureThreshold: 4
              livenessProbe:
                httpGet: {port: 9000}
            - name: tools
              image: busybox
              resources:
                limits: {cpu: 1, memory: 64Mi}
              securityContext: {privileged: true, runAsUser: 3000}

        """

    func testFullPodParsesWithDefaultsApplied() throws {
        let pod = try XCTUnwrap(parsePod(Self.fullPod))
        XCTAssertEqual(
            pod.metadata,
            PodMetadata(
                name: "full", namespace: "agents", labels: ["app": "demo", "app.kubernetes.io/part-of": "aegis", "empty": ""],
                annotations: ["note": "free text: anything"]))
        let spec = pod.spec
        XCTAssertTrue(spec.hostNetwork)
        XCTAssertEqual(spec.hostname, "full-host")
        XCTAssertEqual(spec.restartPolicy, .onFailure)
        XCTAssertEqual(spec.terminationGracePeriodSeconds, 45)
        XCTAssertEqual(
            spec.volumes,
            [
                VolumeSpec(name: "scratch", source: .emptyDir(medium: "", sizeLimitBytes: nil)),
                VolumeSpec(name: "shm", source: .emptyDir(medium: "", sizeLimitBytes: nil)),
                VolumeSpec(name: "data", source: .hostPath(path: "/var/lib/demo", type: "DirectoryOrCreate")),
            ])
        XCTAssertEqual(spec.initContainers.map(\.name), ["migrate", "proxy"])
        XCTAssertEqual(spec.sidecars.map(\.name), ["proxy"])
        XCTAssertEqual(spec.containers.map(\.name), ["app", "tools"])
        let podUser = ContainerSecurityContext(runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true)
        XCTAssertEqual(
            spec.initContainers[0],
            ContainerSpec(
                name: "migrate", image: "registry.example:5000/tools/migrate@\(Self.digest)", imagePullPolicy: "IfNotPresent",
                command: ["migrate", "--up"], securityContext: podUser))
        XCTAssertEqual(
            spec.initContainers[1],
            ContainerSpec(
                name: "proxy", image: "localhost:5000/proxy", imagePullPolicy: "Always",
                ports: [
                    ContainerPort(name: "http", containerPort: 8080, protocol: "TCP", hostPort: 8080),
                    ContainerPort(containerPort: 5353, protocol: "UDP", hostPort: 5353),
                ],
                securityContext: podUser, startupProbe: Probe(handler: .tcpSocket(port: 8080, host: nil)), restartPolicy: "Always"))
        XCTAssertEqual(spec.containers[0], Self.expectedApp)
        XCTAssertEqual(
            spec.containers[1],
            ContainerSpec(
                name: "tools", image: "busybox", imagePullPolicy: "Always",
                resources: ContainerResources(
                    limitCPUMillis: 1000, limitMemoryBytes: 64 << 20, requestCPUMillis: 1000, requestMemoryBytes: 64 << 20),
                securityContext: ContainerSecurityContext(
                    privileged: true, allowPrivilegeEscalation: true, runAsUser: 3000, runAsGroup: 1000, runAsNonRoot: true)))
    }

    static let expectedApp = ContainerSpec(
        name: "app", image: "python:3.12-slim", imagePullPolicy: "Never", command: ["python3"], args: ["-m", "app", "--port", "9000"],
        workingDir: "/srv/app",
        env: [EnvVar(name: "MODE", value: "debug"), EnvVar(name: "EMPTY", value: ""), EnvVar(name: "my.var-1", value: "x")],
        ports: [ContainerPort(name: "api", containerPort: 9000, protocol: "TCP", hostPort: 9000)],
        volumeMounts: [
            VolumeMount(name: "scratch", mountPath: "/scratch"),
            VolumeMount(name: "data", mountPath: "/data", readOnly: true),
            VolumeMount(name: "shm", mountPath: "/dev/shm"),
        ],
        resources: ContainerResources(
            limitCPUMillis: 1500, limitMemoryBytes: 1 << 30, requestCPUMillis: 500, requestMemoryBytes: 256 << 20),
        securityContext: ContainerSecurityContext(
            privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: 2000, runAsGroup: 1000,
            runAsNonRoot: true, addCapabilities: ["NET_BIND_SERVICE", "SYS_PTRACE"], seccompProfile: "Unconfined"),
        startupProbe: Probe(
            handler: .exec(command: ["cat", "/tmp/ready"]), initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1,
            successThreshold: 1, failureThreshold: 3),
        readinessProbe: Probe(
            handler: .httpGet(
                path: "/ready", port: 9000, host: "127.0.0.1", scheme: "HTTPS", headers: [EnvVar(name: "X-Probe", value: "1")]),
            initialDelaySeconds: 5, periodSeconds: 3, timeoutSeconds: 2, successThreshold: 2, failureThreshold: 4),
        livenessProbe: Probe(handler: .httpGet(path: "/", port: 9000, host: nil, scheme: "HTTP", headers: [])))

    func testMinimalPodGetsKubernetesDefaults() throws {
        let pod = try XCTUnwrap(parsePod(PodFixtures.base))
        XCTAssertEqual(pod.metadata, PodMetadata(name: "p", namespace: "default"))
        XCTAssertEqual(
            pod.spec,
            PodSpec(
                hostNetwork: false, hostname: nil, initContainers: [],
                containers: [ContainerSpec(name: "app", image: "busybox:1.36", imagePullPolicy: "IfNotPresent")], volumes: [],
                restartPolicy: .always, terminationGracePeriodSeconds: 30))
        let c = pod.spec.containers[0]
        XCTAssertEqual(c.securityContext, ContainerSecurityContext())
        XCTAssertFalse(c.securityContext.allowPrivilegeEscalation)
        XCTAssertEqual(c.securityContext.seccompProfile, "RuntimeDefault")
        XCTAssertNil(c.command)
        XCTAssertNil(c.args)
        XCTAssertEqual(pod.spec.containers.map(\.imagePullPolicy), ["IfNotPresent"])
    }

    func testPullPolicyDefaultFollowsTheTag() throws {
        for (image, policy) in [
            ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1", "IfNotPresent"), ("localhost:5000/a", "Always"),
        ] {
            let text = PodFixtures.base.replacingOccurrences(of: "busybox:1.36", with: image)
            XCTAssertEqual(parsePod(text)?.spec.containers[0].imagePullPolicy, policy, image)
        }
    }

    func testJSONInputWorks() throws {
        let json = """
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
             "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "args": ["echo", "1"],
                      "ports": [{"containerPort": 80, "name": "web"}],
                      "readinessProbe": {"tcpSocket": {"port": "web"}, "periodSeconds": 2}}]}}
            """
        let pod = try XCTUnwrap(parsePod(json))
        XCTAssertEqual(pod.spec.containers[0].args, ["echo", "1"])
        XCTAssertEqual(pod.spec.containers[0].readinessProbe, Probe(handler: .tcpSocket(port: 80, host: nil), periodSeconds: 2))
        expectPodError(
            #"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"}, "spec": {"containers": [{"name": "c"}]}}"#,
            path: "spec.containers[0].image", line: 1, column: 88, "required field is missing")
    }

    // MARK: - pod/aegis-controller.yaml

    func testControllerPodParses() throws {
        let text = try String(contentsOf: PodFixtures.controllerPodURL, encoding: .utf8)
        let pod = try PodManifestParser.parse(text, file: "pod/aegis-controller.yaml")
        let spec = pod.spec
        XCTAssertEqual(pod.metadata.name, "aegis-controller")
        XCTAssertTrue(spec.hostNetwork)
        XCTAssertEqual(spec.initContainers.map(\.name), ["gateway", "metrics"])
        XCTAssertEqual(spec.sidecars.map(\.name), ["gateway", "metrics"])
        XCTAssertEqual(spec.containers.map(\.name), ["controller"])
        XCTAssertEqual(spec.terminationGracePeriodSeconds, 30)
        XCTAssertEqual(spec.volumes.first { $0.name == "sockets" }?.source, .emptyDir(medium: "", sizeLimitBytes: nil))
        XCTAssertEqual(spec.volumes.first { $0.name == "data" }?.source, .hostPath(path: "/var/lib/aegis", type: "DirectoryOrCreate"))
        XCTAssertEqual(spec.volumes.first { $0.name == "pki" }?.source, .hostPath(path: "/var/lib/aegis/pki", type: "DirectoryOrCreate"))
        for c in spec.initContainers + spec.containers {
            XCTAssertEqual(c.image, "localhost:5000/aegis:dev", c.name)
            XCTAssertEqual(c.imagePullPolicy, "IfNotPresent", c.name)
            XCTAssertNotNil(c.startupProbe, c.name)
            XCTAssertNotNil(c.readinessProbe, c.name)
            XCTAssertNotNil(c.livenessProbe, c.name)
            XCTAssertNotNil(c.resources.limitCPUMillis, c.name)
            XCTAssertNotNil(c.resources.requestMemoryBytes, c.name)
            XCTAssertTrue(c.volumeMounts.contains(VolumeMount(name: "sockets", mountPath: "/run/aegis")), c.name)
            XCTAssertEqual(c.securityContext.addCapabilities, [], c.name)
            XCTAssertFalse(c.securityContext.allowPrivilegeEscalation, c.name)
        }
        let gateway = spec.initContainers[0]
        XCTAssertEqual(gateway.args?.prefix(3), ["gateway", "--listen", "0.0.0.0:7443"])
        XCTAssertEqual(
            gateway.volumeMounts.map(\.name).sorted(), ["pki", "sockets"], "the gateway sees the CA, not the database or the admin token")
        XCTAssertEqual(
            gateway.startupProbe?.handler, .httpGet(path: "/healthz", port: 7444, host: "127.0.0.1", scheme: "HTTP", headers: []))
        XCTAssertEqual(
            spec.initContainers[1].readinessProbe?.handler,
            .httpGet(path: "/readyz", port: 9464, host: "127.0.0.1", scheme: "HTTP", headers: []))
        let controller = spec.containers[0]
        XCTAssertEqual(controller.args, ["controller", "--socket", "/run/aegis/controller.sock", "--data-dir", "/var/lib/aegis"])
        XCTAssertEqual(
            controller.livenessProbe?.handler,
            .exec(command: ["/usr/local/bin/aegis", "health", "--socket", "/run/aegis/controller.sock", "--path", "/healthz"]))
        XCTAssertTrue(controller.volumeMounts.contains(VolumeMount(name: "data", mountPath: "/var/lib/aegis")))
    }
}
