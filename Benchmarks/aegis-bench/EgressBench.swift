// EgressBench.swift — extra start latency of network mode egress over none: the same /bin/true
// sandbox started both ways, interleaved (none, egress, none, …) so machine noise hits both alike.
// egress = address + held namespace + veth + eth0 address/route + nft chain, then create+wait,
// delete and detach. Run inside a throwaway network namespace (Benchmarks/egress-bench.sh): it
// creates a bridge, nft tables and sets ip_forward there.
#if canImport(Glibc)
import Glibc
#endif
import AegisNet
import AegisOCI
import AegisProtocol
import AegisSandbox

func runEgress(
    _ options: Options, runtime: SandboxRuntime, spec: Spec, work: String,
    createOptions: SandboxCreateOptions
) throws {
    let net = try EgressNetwork(
        config: EgressConfig(subnet: IPv4Network("10.213.0.0/24")!, stateDir: work + "/net"),
        isLive: { _ in false })
    let allow = try EgressNetwork.resolve([try EgressAllowEntry(parsing: "203.0.113.0/24:443/tcp")])
    var none: [Double] = [], egress: [Double] = [], attach: [Double] = [], detach: [Double] = []
    var noneStart: [Double] = [], egressStart: [Double] = []
    for i in 0..<(options.warmup + options.iterations) {
        // none
        var t0 = now()
        try runtime.create(id: "n-\(i)", spec: spec, bundle: work, options: createOptions)
        let tNoneStart = now() - t0
        guard try runtime.wait("n-\(i)", timeout: .seconds(10))?.exitCode == 0 else { throw BenchError(description: "n-\(i) failed") }
        try runtime.delete("n-\(i)")
        let tNone = now() - t0
        // egress
        let id = "e-\(i)"
        t0 = now()
        let a = try net.attach(sandbox: id, allow: allow)
        let t1 = now()
        var s = spec
        let namespaces = (spec.linux?.namespaces ?? []).map {
            $0.type == "network" ? LinuxNamespace(type: "network", path: a.netns.path) : $0
        }
        s.linux?.namespaces = namespaces
        try runtime.create(id: id, spec: s, bundle: work, options: createOptions)
        let tEgressStart = now() - t0
        guard try runtime.wait(id, timeout: .seconds(10))?.exitCode == 0 else { throw BenchError(description: "\(id) failed") }
        try runtime.delete(id)
        let t2 = now()
        net.detach(sandbox: id)
        let t3 = now()
        if i >= options.warmup {
            none.append(ms(tNone)); egress.append(ms(t3 - t0)); attach.append(ms(t1 - t0)); detach.append(ms(t3 - t2))
            noneStart.append(ms(tNoneStart)); egressStart.append(ms(tEgressStart))
        }
    }
    let n = Stats(noneStart), e = Stats(egressStart)
    print("aegis-bench --egress: /bin/true, \(options.iterations) interleaved pairs after \(options.warmup) warm-up")
    print(n.line("start none   (create →execve)"))
    print(e.line("start egress (attach + create →execve)"))
    print(Stats(attach).line("  attach (address, netns, veth, addr+route, nft)"))
    print(Stats(none).line("whole none   (create+wait+delete)"))
    print(Stats(egress).line("whole egress (+attach, +detach)"))
    print(Stats(detach).line("  detach (nft chain, records)"))
    func f2(_ v: Double) -> String { String((v * 100).rounded() / 100) }
    print("extra start latency of egress over none: median \(f2(e.median - n.median)) ms (ratio \(f2(e.median / n.median)))")
}
