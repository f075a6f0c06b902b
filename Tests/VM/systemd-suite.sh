#!/bin/sh
# systemd-suite.sh — AEGIS's systemd units under a real systemd (the guest of Tests/VM/vm-systemd),
# driven by Tests/VMTests/VMSystemdTests.swift, which reads what this leaves in /results:
#   1. systemd-analyze verify of every unit;
#   2. aegis install hybrid: the unit is `activating` until the node is ready, then `active` with
#      the API answering; STATUS shows the node;
#   3. an agent with a memory limit runs in the unit's delegated subtree and is OOM-killed (137);
#   4. systemctl daemon-reload leaves a running agent's cgroup path and memory.max alone, and the
#      agents unit's subtree_control;
#   5. systemctl restart, and stop + start: the agent keeps running (same pid), re-adopted, its log
#      continues;
#   6. SIGSTOP of the daemon: the watchdog restarts it (a drop-in shortens WatchdogSec to 8 s to
#      keep the suite short), the agent survives;
#   7. aegis down through the unit stops the agents, and the unit stays inactive;
#   8. a broken config (the API port taken) ends in `failed` by the start limit, the journal names
#      the cause, reset-failed and a fixed config recover;
#   9. aegis install worker joined to a controller in the same guest → Ready; aegis uninstall
#      --purge leaves no unit, process, cgroup or data dir.
# Usage (in the guest): systemd-suite.sh BINDIR UNITS — BINDIR holds aegis, aegis-supervisor and
# aegis-init; UNITS the repository's systemd/ directory (its units are verified).
set -u
BIN=$1
UNITS=$2
R=/results
A=/usr/local/bin/aegis
export AEGIS_DATA_DIR=/var/lib/aegis
note() { echo "$(date +%s.%N | cut -c1-14) $*" >> $R/steps; }
value() { systemctl show -p "$2" --value "$1"; }
# The long agent's process (its command line starts with python3 -u -c).
agent_pid() { pgrep -f '^python3 -u -c' | head -n 1; }
wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
    n=$(($1 * 5)); shift
    while [ $n -gt 0 ]; do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done
    return 1
}

note "start"
# 1. Every unit verifies (the binaries must exist where ExecStart says).
$BIN/aegis install hybrid --no-start > $R/install-hybrid.out 2>&1; echo $? > $R/install-hybrid.status
for u in aegis aegis-worker aegis-controller aegis-agents; do
    echo "== $u" >> $R/verify.out
    systemd-analyze verify "$UNITS/$u.service" >> $R/verify.out 2>&1
    echo "$u $?" >> $R/verify.status
done
note "verified"

# 2. Start: activating until READY=1, then active with the API answering.
systemctl start --no-block aegis.service
: > $R/start.trace
i=0
while [ $i -lt 600 ]; do
    state=$(systemctl is-active aegis.service)
    api=no; $A ps > /dev/null 2>&1 && api=yes
    echo "$state $api" >> $R/start.trace
    [ "$state" = active ] && break
    [ "$state" = failed ] && break
    sleep 0.1; i=$((i + 1))
done
value aegis.service StatusText > $R/start.status-text
value aegis.service NRestarts > $R/start.restarts
note "started"

# 3. An agent over its memory limit: OOM-killed inside the delegated subtree.
oom=$($A run --detach --memory 64Mi -- python3 -c 'x = bytearray(256 << 20); import time; time.sleep(5)' 2>> $R/oom.err)
wait_for 90 sh -c "$A describe $oom -o json | grep -q exitCode"
$A describe "$oom" -o json > $R/oom.json 2>&1
note "oom"

# 4. A long agent: its cgroup and limits before and after daemon-reload.
long=$($A run --detach --memory 100Mi -- python3 -u -c 'import time
i = 0
while True:
    print("tick", i, flush=True); i += 1; time.sleep(0.5)' 2>> $R/long.err)
echo "$long" > $R/long.id
wait_for 90 sh -c "pgrep -f '^python3 -u -c'"
pid=$(agent_pid)
echo "$pid" > $R/long.pid
cg=$(cut -d: -f3 /proc/$pid/cgroup)
[ -n "$cg" ] || cg=/nonexistent
echo "$cg" > $R/cgroup.before
AG=/sys/fs/cgroup/system.slice/aegis-agents.service
echo "memory.max=$(cat /sys/fs/cgroup$cg/memory.max) subtree=$(cat $AG/cgroup.subtree_control | tr ' ' ,)" > $R/limits.before
systemctl daemon-reload
sleep 1
cut -d: -f3 /proc/$pid/cgroup > $R/cgroup.after-reload
echo "memory.max=$(cat /sys/fs/cgroup$cg/memory.max) subtree=$(cat $AG/cgroup.subtree_control | tr ' ' ,)" > $R/limits.after-reload
note "reloaded"

# 5. restart, then stop + start: the same agent process, re-adopted, its log continuing.
lines_before=$($A logs "$long" 2>/dev/null | wc -l)
systemctl restart aegis.service; echo $? > $R/restart.status
journalctl -u aegis.service --no-pager | tail -n 30 > $R/restart.journal
kill -0 "$pid" && echo alive > $R/restart.agent || echo dead > $R/restart.agent
sleep 2
echo "$(agent_pid)" > $R/restart.pid
$A describe "$long" > $R/restart.describe 2>&1
lines_after=$($A logs "$long" 2>/dev/null | wc -l)
echo "$lines_before $lines_after" > $R/restart.loglines
systemctl stop aegis.service
kill -0 "$pid" && echo alive > $R/stopped.agent || echo dead > $R/stopped.agent
systemctl start aegis.service; echo $? > $R/stopstart.status
echo "$(agent_pid)" > $R/stopstart.pid
note "restarted"

# 6. A stopped (SIGSTOP) daemon stops feeding the watchdog: systemd restarts it.
mkdir -p /etc/systemd/system/aegis.service.d
printf '[Service]\nWatchdogSec=8\n' > /etc/systemd/system/aegis.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart aegis.service
before=$(value aegis.service MainPID); restarts=$(value aegis.service NRestarts)
[ "$before" -gt 0 ] && kill -STOP "$before"  # never `kill -STOP 0`: that is this script's group
t0=$(date +%s)
wait_for 40 sh -c "[ \"\$(systemctl show -p MainPID --value aegis.service)\" != $before ] && systemctl is-active --quiet aegis.service"
t1=$(date +%s)
echo "old=$before new=$(value aegis.service MainPID) restarts_before=$restarts restarts_after=$(value aegis.service NRestarts) seconds=$((t1 - t0))" > $R/watchdog.values
kill -0 "$pid" && echo alive > $R/watchdog.agent || echo dead > $R/watchdog.agent
journalctl -u aegis.service --no-pager | grep -i watchdog > $R/watchdog.journal
rm -r /etc/systemd/system/aegis.service.d; systemctl daemon-reload
note "watchdog"

# 7. aegis down: agents stopped, the unit not restarted.
$A down > $R/down.out 2>&1; echo $? > $R/down.status
sleep 4
kill -0 "$pid" 2> /dev/null && echo alive > $R/down.agent || echo dead > $R/down.agent
systemctl is-active aegis.service > $R/down.state
note "down"

# 8. A broken configuration (the API port taken): failed after the start limit, then recovered.
python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 7420)); s.listen(); time.sleep(600)' &
blocker=$!
sleep 1
systemctl reset-failed aegis.service 2> /dev/null
systemctl start aegis.service > /dev/null 2>&1
wait_for 90 sh -c 'journalctl -u aegis.service --no-pager | grep -q "Start request repeated too quickly" && [ "$(systemctl is-active aegis.service)" = failed ]'
echo "state=$(systemctl is-active aegis.service) result=$(value aegis.service Result) restarts=$(value aegis.service NRestarts)" > $R/broken.values
journalctl -u aegis.service --no-pager | tail -n 60 > $R/broken.journal
kill $blocker
systemctl reset-failed aegis.service
systemctl start aegis.service; echo $? > $R/recovered.status
systemctl is-active aegis.service > $R/recovered.state
note "broken"

# 9. A worker joined to a controller in the same guest, then uninstall --purge.
$A uninstall --purge > $R/uninstall-hybrid.out 2>&1; echo $? > $R/uninstall-hybrid.status
$BIN/aegis up --role controller --listen 127.0.0.1:7443 --data-dir /var/lib/aegis-ctl --api-port 7421 > $R/controller.log 2>&1 &
wait_for 60 test -s /var/lib/aegis-ctl/cluster.port
token=$(AEGIS_DATA_DIR=/var/lib/aegis-ctl $BIN/aegis token create --role worker)
$BIN/aegis install worker --join "https://127.0.0.1:$(cat /var/lib/aegis-ctl/cluster.port)" --token "$token" --name vm-worker \
    > $R/install-worker.out 2>&1
echo $? > $R/install-worker.status
AEGIS_DATA_DIR=/var/lib/aegis-ctl $BIN/aegis node ls > $R/worker.nodes 2>&1
value aegis-worker.service StatusText > $R/worker.status-text
$BIN/aegis install worker --join "https://127.0.0.1:$(cat /var/lib/aegis-ctl/cluster.port)" --token "$token" --name vm-worker \
    > $R/install-worker-again.out 2>&1
echo $? > $R/install-worker-again.status
/usr/local/bin/aegis uninstall --purge > $R/uninstall-worker.out 2>&1; echo $? > $R/uninstall-worker.status
{
    echo "units=$(ls /etc/systemd/system | grep -Ec '^aegis(-worker|-controller|-agents)?\.service')"
    echo "processes=$(pgrep -fc 'aegis up --role worker')"
    echo "cgroup=$(test -e /sys/fs/cgroup/system.slice/aegis-worker.service -o -e $AG && echo yes || echo no)"
    echo "datadir=$(test -e /var/lib/aegis && echo yes || echo no)"
    echo "binary=$(test -e /usr/local/bin/aegis && echo yes || echo no)"
} > $R/purged.values
note "done"
exit 0
