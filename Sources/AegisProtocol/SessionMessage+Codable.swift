// SessionMessage+Codable.swift — the wire form of `SessionMessage`: one flat JSON object, `type`
// plus the fields of that type, with the names of node protocol version 1 (the golden test in
// AegisControlTests pins every frame's JSON).

extension SessionMessage: Codable {
    enum Field: String, CodingKey {
        case type, version, seq, node, capacity, lease, active, state, event, workload, uid, gpus, files, placement
        case request, reply, message, pem
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Field.self)
        switch try c.decode(Kind.self, forKey: .type) {
        case .hello:
            self = .hello(version: try c.decode(Int.self, forKey: .version), node: try c.decode(NodeInfo.self, forKey: .node))
        case .welcome:
            self = .welcome(
                version: try c.decode(Int.self, forKey: .version), lease: try c.decode(LeaseTerms.self, forKey: .lease),
                active: try c.decodeIfPresent([PlacementRef].self, forKey: .active) ?? [])
        case .renew:
            self = .renew(
                seq: try c.decode(UInt64.self, forKey: .seq), node: try c.decodeIfPresent(NodeInfo.self, forKey: .node),
                capacity: try c.decodeIfPresent(LiveCapacity.self, forKey: .capacity))
        case .renewed:
            self = .renewed(seq: try c.decode(UInt64.self, forKey: .seq), state: try c.decode(NodeCondition.self, forKey: .state))
        case .event:
            self = .event(try c.decode(WorkerEvent.self, forKey: .event))
        case .start:
            self = .start(
                StartCommand(
                    workload: try c.decode(Workload.self, forKey: .workload),
                    uid: try c.decodeIfPresent(UInt32.self, forKey: .uid) ?? 65534,
                    gpus: try c.decodeIfPresent([GPUDevice].self, forKey: .gpus) ?? [],
                    files: try c.decodeIfPresent([String: String].self, forKey: .files) ?? [:]))
        case .cancel:
            self = .cancel(try c.decode(PlacementRef.self, forKey: .placement))
        case .release:
            self = .release(try c.decode(PlacementRef.self, forKey: .placement))
        case .request:
            self = .request(seq: try c.decode(UInt64.self, forKey: .seq), try c.decode(WorkerRequest.self, forKey: .request))
        case .reply:
            self = .reply(seq: try c.decode(UInt64.self, forKey: .seq), try c.decode(WorkerReply.self, forKey: .reply))
        case .renewCertificate:
            self = .renewCertificate(seq: try c.decode(UInt64.self, forKey: .seq), csrPEM: try c.decode(String.self, forKey: .pem))
        case .certificate:
            let seq = try c.decode(UInt64.self, forKey: .seq)
            if let pem = try c.decodeIfPresent(String.self, forKey: .pem) {
                self = .certificate(seq: seq, .issued(pem: pem))
            } else {
                self = .certificate(seq: seq, .refused(reason: try c.decodeIfPresent(String.self, forKey: .message) ?? "no reason given"))
            }
        case .error:
            self = .error(message: try c.decodeIfPresent(String.self, forKey: .message) ?? "no reason given")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Field.self)
        try c.encode(kind, forKey: .type)
        switch self {
        case let .hello(version, node):
            try c.encode(version, forKey: .version)
            try c.encode(node, forKey: .node)
        case let .welcome(version, lease, active):
            try c.encode(version, forKey: .version)
            try c.encode(lease, forKey: .lease)
            try c.encode(active, forKey: .active)
        case let .renew(seq, node, capacity):
            try c.encode(seq, forKey: .seq)
            try c.encodeIfPresent(node, forKey: .node)
            try c.encodeIfPresent(capacity, forKey: .capacity)
        case let .renewed(seq, state):
            try c.encode(seq, forKey: .seq)
            try c.encode(state, forKey: .state)
        case let .event(event):
            try c.encode(event, forKey: .event)
        case let .start(command):
            try c.encode(command.workload, forKey: .workload)
            try c.encode(command.uid, forKey: .uid)
            try c.encode(command.gpus, forKey: .gpus)
            try c.encode(command.files, forKey: .files)
        case let .cancel(placement), let .release(placement):
            try c.encode(placement, forKey: .placement)
        case let .request(seq, request):
            try c.encode(seq, forKey: .seq)
            try c.encode(request, forKey: .request)
        case let .reply(seq, reply):
            try c.encode(seq, forKey: .seq)
            try c.encode(reply, forKey: .reply)
        case let .renewCertificate(seq, csrPEM):
            try c.encode(seq, forKey: .seq)
            try c.encode(csrPEM, forKey: .pem)
        case let .certificate(seq, outcome):
            try c.encode(seq, forKey: .seq)
            switch outcome {
            case .issued(let pem): try c.encode(pem, forKey: .pem)
            case .refused(let reason): try c.encode(reason, forKey: .message)
            }
        case let .error(message):
            try c.encode(message, forKey: .message)
        }
    }
}
