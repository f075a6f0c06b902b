# pod-shape.sh — sourced by the gateway benchmarks: the controller pod's shape on this machine,
# `aegis controller --socket` on CPU 0 and `aegis gateway` in front of it on CPU 1, in a scratch
# directory removed on exit. After `start_pod_shape NAME [GATEWAY FLAGS…]`: $dir (data in
# $dir/data, the controller's socket $dir/controller.sock), $port (the gateway's TLS port on
# 127.0.0.1) and $admin (CLI flags for the admin over the controller's socket).
# Needs $aegis (the binary) set by the caller; extra flags for the controller in the optional
# array $controller_flags.
start_pod_shape() {
    local name=$1
    shift
    [ -x "$aegis" ] || { echo "$name: $aegis not built (swift build -c release --product aegis)" >&2; exit 1; }
    dir=$(mktemp -d "/tmp/$name.XXXXXX")
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    taskset -c 0 "$aegis" controller --socket "$dir/controller.sock" --data-dir "$dir/data" --log-level warning ${controller_flags[@]+"${controller_flags[@]}"} \
        >"$dir/controller.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -S "$dir/controller.sock" ] && break; sleep 0.1; done
    taskset -c 1 "$aegis" gateway --listen "127.0.0.1:$port" --health-listen 127.0.0.1:0 --controller-socket "$dir/controller.sock" \
        --pki-dir "$dir/data/pki" --log-level warning "$@" >/dev/null 2>"$dir/gateway.log" &
    pids+=($!)
    for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break; sleep 0.1; done
    admin=(--server "unix://$dir/controller.sock" --token "$(cat "$dir/data/admin.token")")
}
