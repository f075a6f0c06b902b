#!/bin/sh
# make-bundle.sh DIR AEGIS_RUNTIME — the OCI bundle every runner uses: DIR/rootfs from
# make-rootfs.sh and DIR/config.json from `aegis-runtime spec` (AEGIS's default seccomp profile,
# namespaces, mounts, masked paths, capabilities) with process.args ["/bin/true"].
# ociVersion is set to 1.1.0: Debian 12's crun 1.8.1 rejects "1.2.0" ("unknown version
# specified"), and the document uses nothing newer than 1.1.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 DIR AEGIS_RUNTIME" >&2; exit 2; }
dir=$1
"$(dirname "$0")/make-rootfs.sh" "$dir"
rm -f "$dir/config.json"
"$2" spec --bundle "$dir"
python3 - "$dir/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["args"] = ["/bin/true"]
config["process"].pop("terminal", None)
config["ociVersion"] = "1.1.0"
json.dump(config, open(path, "w"), indent=2)
PY
