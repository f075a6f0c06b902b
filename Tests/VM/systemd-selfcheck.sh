#!/bin/bash
# Self-check of the systemd guest booted by Tests/VM/vm-systemd. Runs INSIDE the guest:
#
#   Tests/VM/vm-systemd --copy Tests/VM/systemd-selfcheck.sh -- /tmp/systemd-selfcheck.sh
#
# Prints what it sees and one "ok"/"FAIL" line per check; exits with the number of failures.
# Checks: systemd is PID 1 and the system is running, cgroup v2 is owned by systemd, a transient
# unit with Delegate=yes and MemoryMax= gets its own cgroup with memory/pids controllers and can
# create and populate a sub-cgroup, daemon-reload, journald (journalctl -u), a Type=notify unit
# using systemd-notify --ready, a watchdog restart, a start limit, and systemd-analyze verify.
set -u
export SYSTEMD_PAGER= SYSTEMD_COLORS=0
fails=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { # description, then a command that must succeed
    local d="$1"; shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}
section() { echo; echo "=== $* (uptime $(cut -d' ' -f1 /proc/uptime)s)"; }
# Poll up to $1 tenths of a second for a command to succeed.
wait_for() { local n="$1"; shift; while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }

section "PID 1 and system state"
comm=$(cat /proc/1/comm)
echo "/proc/1/comm: $comm"
check "PID 1 is systemd" [ "$comm" = systemd ]
systemctl --version | head -n1
state=$(systemctl is-system-running --wait 2>&1)
echo "systemctl is-system-running: $state"
check "system state is running (degraded would list failed units below)" [ "$state" = running ]
systemctl list-units --failed --no-legend --plain
# (Not `systemctl list-unit-files`: PID 1 then reads every unit file over 9p, which takes
# minutes under TCG; the call times out after 25 s but PID 1 stays busy.)
echo "masked in /etc/systemd/system: $(find /etc/systemd/system -maxdepth 1 -lname /dev/null -printf '%f ')"

section "cgroup v2"
findmnt -n -o FSTYPE,OPTIONS /sys/fs/cgroup
check "/sys/fs/cgroup is cgroup2" [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]
echo "root cgroup.controllers:     $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "PID 1 cgroup: $(cat /proc/1/cgroup)"
check "PID 1 lives in /init.scope" grep -qx '0::/init.scope' /proc/1/cgroup
echo "this test's cgroup: $(cat /proc/self/cgroup)"

section "transient unit with Delegate=yes and MemoryMax=64M"
systemd-run --unit=probe --property=Delegate=yes --property=MemoryMax=64M sleep 30
check "systemctl is-active probe" wait_for 50 systemctl -q is-active probe
cg=$(systemctl show -P ControlGroup probe)
echo "ControlGroup: $cg"
check "probe's cgroup is /system.slice/probe.service" [ "$cg" = /system.slice/probe.service ]
d=/sys/fs/cgroup$cg
echo "memory.max: $(cat "$d/memory.max")"
check "memory.max is 64M (67108864)" [ "$(cat "$d/memory.max")" = 67108864 ]
echo "cgroup.controllers of the delegated cgroup: $(cat "$d/cgroup.controllers")"
for c in memory pids cpu io; do
    check "controller $c available in the delegated subtree" grep -qw "$c" "$d/cgroup.controllers"
done
echo "Delegate=$(systemctl show -P Delegate probe) DelegateControllers=$(systemctl show -P DelegateControllers probe)"
pid=$(systemctl show -P MainPID probe)
echo "MainPID $pid in $(cat /proc/$pid/cgroup)"
# What a delegated manager does: move its processes to a leaf, then enable controllers below.
if mkdir "$d/payload" && echo "$pid" > "$d/payload/cgroup.procs" && echo "+memory +pids" > "$d/cgroup.subtree_control"; then
    echo "sub-cgroup payload: cgroup.controllers=$(cat "$d/payload/cgroup.controllers") memory.max=$(cat "$d/payload/memory.max") pids.max=$(cat "$d/payload/pids.max")"
    echo 32M > "$d/payload/memory.max"
    check "delegated sub-cgroup got memory/pids and accepts memory.max" [ "$(cat "$d/payload/memory.max")" = 33554432 ]
else
    fail "could not create/populate a sub-cgroup of the delegated unit"
fi
check "process moved into the sub-cgroup" grep -qx "0::$cg/payload" "/proc/$pid/cgroup"
systemd-run --scope --unit=probe-scope --property=Delegate=yes --property=MemoryMax=32M \
    sh -c 'echo "scope: $(cat /proc/self/cgroup) memory.max=$(cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max)"'
check "systemd-run --scope with Delegate=yes works" [ $? = 0 ]

section "daemon-reload"
t0=$(cut -d' ' -f1 /proc/uptime)
check "systemctl daemon-reload" systemctl daemon-reload
echo "daemon-reload took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }')s"
check "probe still active after daemon-reload" systemctl -q is-active probe
check "probe's sub-cgroup untouched after daemon-reload" grep -qx "0::$cg/payload" "/proc/$pid/cgroup"

section "journald"
check "systemd-journald is active" systemctl -q is-active systemd-journald
journalctl -u probe --no-pager | tail -n 5
check "journalctl -u probe shows its start" sh -c 'journalctl -u probe --no-pager | grep -q "Started probe.service"'
logger -t aegis-selfcheck "hello from the selfcheck"
check "logger message reaches the journal" wait_for 30 sh -c 'journalctl -t aegis-selfcheck --no-pager | grep -q hello'
systemctl stop probe
check "probe stopped" sh -c '! systemctl -q is-active probe'
check "probe's cgroup removed after stop" wait_for 30 test ! -d "$d"

section "Type=notify unit (systemd-notify --ready, NotifyAccess=all)"
cat > /usr/local/bin/aegis-notify-demo <<'EOF'
#!/bin/sh
sleep 1
systemd-notify --ready --status="demo ready"
exec sleep 300
EOF
chmod +x /usr/local/bin/aegis-notify-demo
cat > /etc/systemd/system/aegis-notify-demo.service <<'EOF'
[Unit]
Description=AEGIS selfcheck Type=notify demo
[Service]
Type=notify
NotifyAccess=all
ExecStart=/usr/local/bin/aegis-notify-demo
TimeoutStartSec=30
EOF
systemctl daemon-reload
check "systemd-analyze verify accepts the unit" systemd-analyze verify /etc/systemd/system/aegis-notify-demo.service
t0=$(cut -d' ' -f1 /proc/uptime)
check "systemctl start aegis-notify-demo (blocks until READY=1)" systemctl start aegis-notify-demo
echo "start took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }')s"
systemctl show -p ActiveState -p SubState -p StatusText -p MainPID aegis-notify-demo
check "aegis-notify-demo is active (running)" [ "$(systemctl show -P SubState aegis-notify-demo)" = running ]
check "StatusText came through" [ "$(systemctl show -P StatusText aegis-notify-demo)" = "demo ready" ]
check "systemctl restart aegis-notify-demo" systemctl restart aegis-notify-demo
systemctl stop aegis-notify-demo

section "watchdog: WatchdogSec=2 without keep-alives, Restart=on-watchdog"
cat > /etc/systemd/system/aegis-wd-demo.service <<'EOF'
[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'systemd-notify --ready; exec sleep 300'
WatchdogSec=2
Restart=on-watchdog
RestartSec=0
EOF
systemctl daemon-reload
systemctl start aegis-wd-demo
check "watchdog kill + restart within 15 s" wait_for 150 sh -c '[ "$(systemctl show -P NRestarts aegis-wd-demo)" -ge 1 ]'
echo "NRestarts=$(systemctl show -P NRestarts aegis-wd-demo)"
journalctl -u aegis-wd-demo --no-pager | grep -m2 -iE 'watchdog|restart' || true
systemctl stop aegis-wd-demo

section "start limit: StartLimitBurst=2"
cat > /etc/systemd/system/aegis-limit-demo.service <<'EOF'
[Unit]
StartLimitIntervalSec=60
StartLimitBurst=2
[Service]
Type=oneshot
ExecStart=/bin/false
EOF
systemctl daemon-reload
systemctl start aegis-limit-demo 2>/dev/null
systemctl start aegis-limit-demo 2>/dev/null
msg=$(systemctl start aegis-limit-demo 2>&1)
echo "third start: $msg"
echo "Result=$(systemctl show -P Result aegis-limit-demo) (stays exit-code: the unit had already failed)"
check "third start refused: start request repeated too quickly" \
    sh -c 'journalctl -u aegis-limit-demo --no-pager | grep -q "Start request repeated too quickly"'
systemctl reset-failed aegis-limit-demo

section "summary"
echo "uptime $(cut -d' ' -f1 /proc/uptime)s; $fails failure(s)"
exit "$fails"
