// PodObjects.swift — for each core/v1 object of a Pod, the fields aegis pod run reads and the
// other fields Kubernetes has (from the OpenAPI schemas of Kubernetes 1.33 to 1.37). A field in the
// second list is refused as "not supported by aegis pod run"; a field in neither is "unknown field".

extension PodObject {
    static let pod = PodObject(
        name: "Pod", supported: ["apiVersion", "kind", "metadata", "spec"], kubernetesOnly: ["status"],
        hints: ["status": "status is written by the pod runner, not read from the manifest"])

    static let metadata = PodObject(
        name: "ObjectMeta", supported: ["name", "namespace", "labels", "annotations"],
        kubernetesOnly: [
            "generateName", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
            "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "managedFields", "selfLink",
        ])

    static let podSpec = PodObject(
        name: "PodSpec",
        supported: [
            "containers", "initContainers", "volumes", "restartPolicy", "terminationGracePeriodSeconds", "hostNetwork",
            "hostname", "securityContext",
        ],
        kubernetesOnly: [
            "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy", "enableServiceLinks",
            "ephemeralContainers", "evictionResponders", "hostAliases", "hostIPC", "hostPID", "hostUsers", "hostnameOverride",
            "imagePullSecrets", "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy", "priority",
            "priorityClassName", "readinessGates", "resourceClaims", "resources", "runtimeClassName", "schedulerName",
            "schedulingGates", "schedulingGroup", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN",
            "shareProcessNamespace", "subdomain", "tolerations", "topologySpreadConstraints",
        ],
        hints: [
            "shareProcessNamespace": "each container has its own pid namespace",
            "hostPID": "each container has its own pid namespace", "hostIPC": "the pod has its own IPC namespace",
            "nodeName": "a pod runs on the host that runs aegis pod run",
            "dnsPolicy": "containers see the host's resolver configuration",
        ])

    static let podSecurityContext = PodObject(
        name: "PodSecurityContext", supported: ["runAsUser", "runAsGroup", "runAsNonRoot"],
        kubernetesOnly: [
            "appArmorProfile", "fsGroup", "fsGroupChangePolicy", "seLinuxChangePolicy", "seLinuxOptions", "seccompProfile",
            "supplementalGroups", "supplementalGroupsPolicy", "sysctls", "windowsOptions",
        ],
        hints: ["seccompProfile": "set it on each container"])

    static let container = PodObject(
        name: "Container",
        supported: [
            "name", "image", "imagePullPolicy", "command", "args", "workingDir", "env", "ports", "volumeMounts", "resources",
            "securityContext", "startupProbe", "readinessProbe", "livenessProbe", "restartPolicy",
        ],
        kubernetesOnly: [
            "envFrom", "lifecycle", "resizePolicy", "restartPolicyRules", "stdin", "stdinOnce", "terminationMessagePath",
            "terminationMessagePolicy", "tty", "volumeDevices",
        ])

    static let envVar = PodObject(
        name: "EnvVar", supported: ["name", "value"], kubernetesOnly: ["valueFrom"], hints: ["valueFrom": "give value"])

    static let containerPort = PodObject(
        name: "ContainerPort", supported: ["name", "containerPort", "protocol", "hostPort"], kubernetesOnly: ["hostIP"])

    static let volumeMount = PodObject(
        name: "VolumeMount", supported: ["name", "mountPath", "readOnly", "subPath"],
        kubernetesOnly: ["bindMountOptions", "mountPropagation", "recursiveReadOnly", "subPathExpr"])

    static let resources = PodObject(name: "ResourceRequirements", supported: ["limits", "requests"], kubernetesOnly: ["claims"])

    static let securityContext = PodObject(
        name: "SecurityContext",
        supported: [
            "privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsUser", "runAsGroup", "runAsNonRoot",
            "capabilities", "seccompProfile",
        ],
        kubernetesOnly: ["appArmorProfile", "procMount", "seLinuxOptions", "windowsOptions"])

    static let capabilities = PodObject(name: "Capabilities", supported: ["add", "drop"], kubernetesOnly: [])

    static let seccompProfile = PodObject(name: "SeccompProfile", supported: ["type"], kubernetesOnly: ["localhostProfile"])

    static let probe = PodObject(
        name: "Probe",
        supported: [
            "exec", "httpGet", "tcpSocket", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold",
            "failureThreshold",
        ],
        kubernetesOnly: ["grpc", "terminationGracePeriodSeconds"],
        hints: ["terminationGracePeriodSeconds": "the pod's terminationGracePeriodSeconds applies"])

    static let execAction = PodObject(name: "ExecAction", supported: ["command"], kubernetesOnly: [])

    static let httpGetAction = PodObject(
        name: "HTTPGetAction", supported: ["path", "port", "host", "scheme", "httpHeaders"], kubernetesOnly: ["protocol"])

    static let httpHeader = PodObject(name: "HTTPHeader", supported: ["name", "value"], kubernetesOnly: [])

    static let tcpSocketAction = PodObject(name: "TCPSocketAction", supported: ["port", "host"], kubernetesOnly: [])

    /// The volume sources aegis pod run has: `emptyDir` and `hostPath`.
    static let volumeSources = ["emptyDir", "hostPath"]

    static let volume = PodObject(
        name: "Volume", supported: ["name"] + volumeSources,
        kubernetesOnly: [
            "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "configMap", "csi", "downwardAPI",
            "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "image", "iscsi", "nfs",
            "persistentVolumeClaim", "photonPersistentDisk", "portworxVolume", "projected", "quobyte", "rbd", "scaleIO",
            "secret", "storageos", "vsphereVolume",
        ],
        hints: ["secret": "use a hostPath volume", "configMap": "use a hostPath volume"])

    static let emptyDir = PodObject(name: "EmptyDirVolumeSource", supported: ["medium", "sizeLimit"], kubernetesOnly: ["mode"])

    static let hostPath = PodObject(name: "HostPathVolumeSource", supported: ["path", "type"], kubernetesOnly: [])
}
