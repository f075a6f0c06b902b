// ImageBench.swift — extra start latency of a sandbox from a cached image over the host profile:
// the agent profile (namespaces, seccomp, no capabilities, uid 65534) running /bin/true both
// ways, interleaved (host, image, host, …) so machine noise hits both alike. "image" includes what
// the worker adds per start: the scratch directories (`ImageRoot.prepare`) and, in the sandbox,
// the overlay mount of the skeleton over the unpacked rootfs (a busybox rootfs here: the cost is
// the overlay, not the image's size), and the scratch's removal after delete.
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSandbox
import AegisSystem

func runImage(
    _ options: Options, runtime: SandboxRuntime, work: String, imageRootfs: String, createOptions: SandboxCreateOptions
)
    throws
{
    let hostRoot = work + "/agent-root", skeleton = work + "/image-skeleton", agentWork = work + "/agent-work"
    try AgentProfile.prepareRootfs(at: hostRoot)
    try AgentProfile.prepareImageSkeleton(at: skeleton)
    mkdir(agentWork, 0o755)
    chown(agentWork, 65534, 65534)
    let request = AgentSandboxRequest(args: ["/bin/true"], workDir: agentWork, uid: 65534, gid: 65534)
    let hostSpec = AgentProfile.spec(request, rootfs: hostRoot)
    var host: [Double] = [], image: [Double] = [], hostWhole: [Double] = [], imageWhole: [Double] = []
    for i in 0..<(options.warmup + options.iterations) {
        var t0 = now()
        try runtime.create(id: "h-\(i)", spec: hostSpec, bundle: work, options: createOptions)
        let tHost = now() - t0
        guard try runtime.wait("h-\(i)", timeout: .seconds(10))?.exitCode == 0 else { throw BenchError(description: "h-\(i) failed") }
        try runtime.delete("h-\(i)")
        let tHostWhole = now() - t0

        t0 = now()
        let root = ImageRoot(imageRootfs: imageRootfs, skeleton: skeleton, scratch: work + "/scratch-\(i)")
        try root.prepare()
        var r = request
        r.image = root
        try runtime.create(id: "i-\(i)", spec: AgentProfile.spec(r, rootfs: ""), bundle: work, options: createOptions)
        let tImage = now() - t0
        guard try runtime.wait("i-\(i)", timeout: .seconds(10))?.exitCode == 0 else { throw BenchError(description: "i-\(i) failed") }
        try runtime.delete("i-\(i)")
        FileSystem.removeTree(root.scratch)
        let tImageWhole = now() - t0
        if i >= options.warmup {
            host.append(ms(tHost)); image.append(ms(tImage))
            hostWhole.append(ms(tHostWhole)); imageWhole.append(ms(tImageWhole))
        }
    }
    let h = Stats(host), m = Stats(image)
    print("aegis-bench --image: agent profile running /bin/true, \(options.iterations) interleaved pairs after \(options.warmup) warm-up")
    print(h.line("start host profile (create →execve)"))
    print(m.line("start from image   (scratch + create →execve)"))
    print(Stats(hostWhole).line("whole host  (create+wait+delete)"))
    print(Stats(imageWhole).line("whole image (+scratch removal)"))
    func f2(_ v: Double) -> String { String((v * 100).rounded() / 100) }
    print("extra start latency of an image over the host profile: median \(f2(m.median - h.median)) ms (ratio \(f2(m.median / h.median)))")
}
