// PodManifestParserErrorTests.swift — each refused Pod manifest gives one error naming the field,
// its line and what is wrong. `PodFixtures.base` is lines 1-8; appended text starts at line 9.
import AegisManifest
import AegisPod
import XCTest

final class PodManifestParserErrorTests: XCTestCase {
    let base = PodFixtures.base

    func testDocumentLevelErrors() {
        expectPodError(
            base.replacingOccurrences(of: "apiVersion: v1", with: "apiVersion: apps/v1"), path: "apiVersion", line: 1, column: 13,
            "\"apps/v1\" is not supported: aegis pod run reads a core v1 Pod")
        expectPodError(
            base.replacingOccurrences(of: "kind: Pod", with: "kind: Deployment"), path: "kind", line: 2,
            "\"Deployment\" is not supported: aegis pod run reads kind: Pod")
        expectPodError(base + "status: {}\n", path: "status", line: 9, column: 1, "not supported by aegis pod run (status is written")
        expectPodError(base + "---\napiVersion: v1\n", path: "", line: 9, column: 1, "a second YAML document")
        expectPodError(base + "kind: Pod\n", path: "", line: 2, "duplicate key 'kind'")  // Yams marks the first one
        expectPodError("", path: "", line: 1, "manifest is empty")
        expectPodError(
            base.replacingOccurrences(of: "name: p\n", with: "name: P_1\n"), path: "metadata.name", line: 4, "is not a valid pod name")
        expectPodError(
            base.replacingOccurrences(of: "  name: p\n", with: "  name: p\n  labels: {v: 1}\n"), path: "metadata.labels.v", line: 5,
            "expected a string, found the value \"1\" (quote it")
        expectPodError(
            base.replacingOccurrences(of: "  name: p\n", with: "  name: p\n  uid: abc\n"), path: "metadata.uid", line: 5,
            "not supported by aegis pod run")
        expectPodError(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n", path: "spec.containers", line: 4,
            "a pod needs at least one container")
    }

    func testUnknownAndUnsupportedFields() {
        expectPodError(
            base + "      imagePullPolcy: Always\n", path: "spec.containers[0].imagePullPolcy", line: 9, column: 7,
            "unknown field (did you mean imagePullPolicy?)")
        expectPodError(
            base + "      colour: blue\n", path: "spec.containers[0].colour", line: 9,
            "unknown field: a Kubernetes Container has no such field; aegis pod run reads name, image")
        expectPodError(
            base + "      lifecycle: {preStop: {exec: {command: [x]}}}\n", path: "spec.containers[0].lifecycle", line: 9, column: 7,
            "not supported by aegis pod run")
        expectPodError(
            base + "      terminationMessagePolicy: File\n", path: "spec.containers[0].terminationMessagePolicy", line: 9,
            "not supported by aegis pod run")
        expectPodError(
            base + "  shareProcessNamespace: false\n", path: "spec.shareProcessNamespace", line: 9, column: 3,
            "not supported by aegis pod run (each container has its own pid namespace)")
        expectPodError(base + "  dnsPolicy: Default\n", path: "spec.dnsPolicy", line: 9, "not supported by aegis pod run")
        expectPodError(base + "  nodeName: n1\n", path: "spec.nodeName", line: 9, "not supported by aegis pod run")
        expectPodError(
            base + "      env: [{name: A, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]\n",
            path: "spec.containers[0].env[0].valueFrom",
            line: 9, "not supported by aegis pod run (give value)")
        expectPodError(
            base + "  volumes: [{name: s, secret: {secretName: s}}]\n", path: "spec.volumes[0].secret", line: 9,
            "not supported by aegis pod run")
        expectPodError(
            base + "      resources: {limits: {ephemeral-storage: 1Gi}}\n", path: "spec.containers[0].resources.limits.ephemeral-storage",
            line: 9, "not supported by aegis pod run (resources are cpu and memory)")
        expectPodError(
            base + "      securityContext: {seccompProfile: {type: Localhost}}\n",
            path: "spec.containers[0].securityContext.seccompProfile.type", line: 9, "Localhost is not supported")
    }

    func testContainerErrors() {
        expectPodError(
            base.replacingOccurrences(of: "      image: busybox:1.36\n", with: "      args: [x]\n"), path: "spec.containers[0].image",
            line: 7, column: 7, "required field is missing")
        expectPodError(
            base + "  initContainers:\n    - {name: app, image: busybox, restartPolicy: Always}\n", path: "spec.containers[0].name",
            line: 7, "container name \"app\" is already used by spec.initContainers[0]")
        expectPodError(
            base + "      restartPolicy: Always\n", path: "spec.containers[0].restartPolicy", line: 9, column: 22,
            "only init containers take restartPolicy")
        expectPodError(
            base + "  initContainers: [{name: i, image: busybox, restartPolicy: Never}]\n", path: "spec.initContainers[0].restartPolicy",
            line: 9, "can only be Always")
        expectPodError(
            base + "  initContainers: [{name: i, image: busybox, readinessProbe: {exec: {command: [x]}}}]\n",
            path: "spec.initContainers[0].readinessProbe", line: 9, "an init container that runs to completion takes no probes")
        expectPodError(
            base.replacingOccurrences(of: "busybox:1.36", with: "Busy Box"), path: "spec.containers[0].image", line: 8,
            "\"Busy Box\"")
        expectPodError(
            base + "      env: [{name: 1X, value: a}]\n", path: "spec.containers[0].env[0].name", line: 9,
            "not a valid environment variable name")
        expectPodError(
            base + "      args: [--port, 80]\n", path: "spec.containers[0].args[1]", line: 9, column: 22, "(quote it")
        expectPodError(base + "      workingDir: srv\n", path: "spec.containers[0].workingDir", line: 9, "must be an absolute path")
    }

    func testPortErrors() {
        expectPodError(
            base + "      ports: [{containerPort: 80, hostPort: 8080}]\n", path: "spec.containers[0].ports[0].hostPort", line: 9,
            column: 45, "hostPort needs spec.hostNetwork: true")
        expectPodError(
            base + "      ports: [{containerPort: 80, hostPort: 8080}]\n  hostNetwork: true\n",
            path: "spec.containers[0].ports[0].hostPort",
            line: 9, "hostPort must equal containerPort (80)")
        expectPodError(
            base + "      ports: [{containerPort: 0}]\n", path: "spec.containers[0].ports[0].containerPort", line: 9,
            "0 is out of range: a port number is 1 to 65535")
        expectPodError(
            base + "      ports: [{containerPort: 80}]\n"
                + "    - {name: b, image: busybox, ports: [{containerPort: 53, protocol: UDP}, {containerPort: 80}]}\n",
            path: "spec.containers[1].ports[1].containerPort", line: 10,
            "port 80/TCP is already declared by spec.containers[0].ports[0]")
        expectPodError(
            base + "      ports: [{name: web, containerPort: 80}, {name: web, containerPort: 81}]\n",
            path: "spec.containers[0].ports[1].name", line: 9, "port name \"web\" is already used")
    }

    func testVolumeAndMountErrors() {
        expectPodError(
            base + "      volumeMounts: [{name: data, mountPath: /data}]\n", path: "spec.containers[0].volumeMounts[0].name", line: 9,
            column: 29, "no volume named \"data\" in spec.volumes")
        let volumes = "  volumes:\n    - name: data\n      emptyDir: {}\n"  // lines 10-12
        expectPodError(
            base + "      volumeMounts: [{name: data, mountPath: data}]\n" + volumes,
            path: "spec.containers[0].volumeMounts[0].mountPath", line: 9, "must be an absolute path")
        expectPodError(
            base + "      volumeMounts: [{name: data, mountPath: /d, subPath: a/../../b}]\n" + volumes,
            path: "spec.containers[0].volumeMounts[0].subPath", line: 9, "must not contain \"..\"")
        expectPodError(
            base + "      volumeMounts: [{name: data, mountPath: /d, subPath: a/b}]\n" + volumes,
            path: "spec.containers[0].volumeMounts[0].subPath", line: 9, "subPath is not supported by aegis pod run yet")
        expectPodError(
            base + "  volumes:\n    - name: data\n      emptyDir: {medium: Memory}\n", path: "spec.volumes[0].emptyDir.medium",
            line: 11, "medium Memory is not supported by aegis pod run yet")
        expectPodError(
            base + "  volumes:\n    - name: data\n      emptyDir: {sizeLimit: 1Gi}\n", path: "spec.volumes[0].emptyDir.sizeLimit",
            line: 11, "sizeLimit is not supported by aegis pod run yet")
        expectPodError(
            base + "      volumeMounts: [{name: data, mountPath: /d}, {name: data, mountPath: /d/}]\n" + volumes,
            path: "spec.containers[0].volumeMounts[1].mountPath", line: 9, "\"/d\" is already a mount point of this container")
        expectPodError(
            base + volumes + "    - name: data\n      emptyDir: {}\n", path: "spec.volumes[1].name", line: 12,
            "volume name \"data\" is already used by spec.volumes[0]")
        expectPodError(
            base + "  volumes:\n    - name: data\n", path: "spec.volumes[0]", line: 10, "has no source: give emptyDir: {} or hostPath")
        expectPodError(
            base + "  volumes:\n    - name: data\n      emptyDir: {}\n      hostPath: {path: /x}\n", path: "spec.volumes[0].hostPath",
            line: 12, "a volume has exactly one source; this one already has emptyDir")
        expectPodError(
            base + "  volumes: [{name: h, hostPath: {path: /srv/../etc}}]\n", path: "spec.volumes[0].hostPath.path", line: 9,
            "must not contain \"..\"")
        expectPodError(
            base + "  volumes: [{name: h, hostPath: {path: /srv, type: Dir}}]\n", path: "spec.volumes[0].hostPath.type", line: 9,
            "\"Dir\" is not a host path type")
        expectPodError(
            base + "  volumes: [{name: m, emptyDir: {medium: HugePages}}]\n", path: "spec.volumes[0].emptyDir.medium", line: 9,
            "not supported by aegis pod run")
    }

    func testResourceErrors() {
        expectPodError(
            base + "      resources:\n        limits: {cpu: abc}\n", path: "spec.containers[0].resources.limits.cpu", line: 10,
            column: 23, "\"abc\" is not a CPU quantity")
        expectPodError(
            base + "      resources:\n        limits: {memory: 12x}\n", path: "spec.containers[0].resources.limits.memory", line: 10,
            "\"12x\" is not a memory quantity")
        expectPodError(
            base + "      resources:\n        limits: {cpu: 500m, memory: 128Mi}\n        requests: {cpu: 1, memory: 64Mi}\n",
            path: "spec.containers[0].resources.requests.cpu", line: 11, column: 25,
            "request \"1\" is more than the limit \"500m\" (spec.containers[0].resources.limits.cpu)")
        expectPodError(
            base + "      resources: {limits: {memory: 256}}\n", path: "spec.containers[0].resources.limits.memory", line: 9,
            "did you mean 256Mi?")
    }

    func testProbeErrors() {
        expectPodError(
            base + "      ports: [{name: web, containerPort: 80}]\n      livenessProbe:\n        httpGet: {port: health, path: /healthz}\n",
            path: "spec.containers[0].livenessProbe.httpGet.port", line: 11, column: 25,
            "no port named \"health\" in this container's ports (web)")
        expectPodError(
            base + "      startupProbe:\n        tcpSocket: {port: http}\n", path: "spec.containers[0].startupProbe.tcpSocket.port",
            line: 10, "no port named \"http\" in this container's ports (it names none)")
        expectPodError(
            base + "      readinessProbe:\n        exec: {command: [x]}\n        tcpSocket: {port: 80}\n",
            path: "spec.containers[0].readinessProbe.tcpSocket", line: 11, column: 20,
            "a probe has exactly one handler; this one already has exec")
        expectPodError(
            base + "      readinessProbe: {periodSeconds: 5}\n", path: "spec.containers[0].readinessProbe", line: 9,
            "a probe needs one handler: exec, httpGet or tcpSocket")
        expectPodError(
            base + "      livenessProbe: {exec: {command: [x]}, successThreshold: 2}\n",
            path: "spec.containers[0].livenessProbe.successThreshold", line: 9, "must be 1 for a livenessProbe")
        expectPodError(
            base + "      livenessProbe: {exec: {command: [x]}, periodSeconds: 0}\n",
            path: "spec.containers[0].livenessProbe.periodSeconds",
            line: 9, "0 is out of range: periodSeconds is 1 to 2147483647")
        expectPodError(
            base + "      livenessProbe: {grpc: {port: 9000}}\n", path: "spec.containers[0].livenessProbe.grpc", line: 9,
            "not supported by aegis pod run")
        expectPodError(
            base + "      livenessProbe: {httpGet: {port: \"8080\"}}\n", path: "spec.containers[0].livenessProbe.httpGet.port", line: 9,
            "is neither a port number nor a port name")
        expectPodError(
            base + "      livenessProbe: {exec: {command: []}}\n", path: "spec.containers[0].livenessProbe.exec.command", line: 9,
            "command is empty")
    }

    func testSecurityContextErrors() {
        let sc = base + "      securityContext:\n"  // fields from line 10
        expectPodError(
            sc + "        privileged: true\n        allowPrivilegeEscalation: false\n",
            path: "spec.containers[0].securityContext.allowPrivilegeEscalation", line: 11, column: 35,
            "privileged: true cannot be combined with allowPrivilegeEscalation: false")
        expectPodError(
            sc + "        runAsNonRoot: true\n        runAsUser: 0\n", path: "spec.containers[0].securityContext.runAsUser", line: 11,
            "runAsUser 0 (root) contradicts runAsNonRoot: true (spec.containers[0].securityContext.runAsNonRoot)")
        expectPodError(
            sc + "        runAsNonRoot: true\n  securityContext: {runAsUser: 0}\n", path: "spec.securityContext.runAsUser", line: 11,
            "runAsUser 0 (root) contradicts runAsNonRoot: true")
        expectPodError(
            sc + "        capabilities: {add: [NET_BIND]}\n", path: "spec.containers[0].securityContext.capabilities.add[0]", line: 10,
            "\"NET_BIND\" is not a Linux capability")
        expectPodError(
            sc + "        capabilities: {drop: [NET_RAW]}\n", path: "spec.containers[0].securityContext.capabilities.drop", line: 10,
            "only drop: [ALL] is accepted")
        expectPodError(
            sc + "        allowPrivilegeEscalation: false\n        capabilities: {add: [CAP_SYS_ADMIN]}\n",
            path: "spec.containers[0].securityContext.capabilities.add[0]", line: 11,
            "SYS_ADMIN cannot be added with allowPrivilegeEscalation: false")
        expectPodError(
            sc + "        runAsUser: -1\n", path: "spec.containers[0].securityContext.runAsUser", line: 10, "-1 is out of range")
        expectPodError(
            sc + "        privileged: maybe\n", path: "spec.containers[0].securityContext.privileged", line: 10, "expected true or false")
    }
}
