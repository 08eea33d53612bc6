#!/usr/bin/env bash
# Whole-system forwarding figures in the lab (root): SipIps with full SIP processing, SipIps forwarding only, and
# the kernel's own bridge on the same topology. The generator (core 0) sends SIP frames of 242 and 1000 bytes from
# the UAC to the UAS; SipIps runs with one worker on core 1. For each mode and size: the highest delivered rate at
# no more than 0.1% loss (ramp of 2 s trials, then 3 runs of 10 s), SipIps's CPU, ping RTT p50/p99 under 50%
# of SipIps's saturation rate, and the loss at 50% of it in each of 3 runs of 10 s. Also ring V3 and sendto
# against the default (V2, sendmmsg), and the cost of the exporters: SIP inspection with metrics, NetFlow and CLF
# on (and /metrics scraped every second) against the same with every exporter off; for the exporters, the records they wrote per second and their threads' CPU.
# The exporters row has the behaviour analysis off (its cost is the next row's, with it on).
# exporters-split runs the same exporters with the worker alone on its core (bridge.cpus) and every other thread on the
# generator's core (bridge.management_cpus): what a deployment with a management core sees.
# busypoll is SIP inspection with the worker checking its rings instead of sleeping when they are empty (busy_poll_us).
# paired measures the exporters' cost as pairs: the saturation rate with exporters off, then on, ROUNDS times in a
# row, and the ratio of each pair. Rows measured minutes apart differ by up to 40% on this VM; a pair's two figures
# are a minute apart. After each pair, a 10 s run at the exporters' rate counts the CLF records written and dropped.
# paired-split is the same with the exporters-split layout for both figures of each pair.
# cost measures the exporters by CPU time per forwarded frame at a fixed rate (see cost() below), in both layouts
# (COST_LAYOUTS=one-core: only with every thread on the worker's core).
# headroom checks the target itself: the exporters-on bridge at 90% of the exporters-off loss-free rate (see below).
# quota holds SipIps to QUOTA_PCT (default 50) percent of one core with the cgroup CPU controller, so that its
# saturation rate falls well below the generator's ceiling, and offers more than that (see quota() below).
# stall runs the stall probe on the worker's core (see stall_probe below).
# MODES picks the rows (default: all): stall inspect busypoll exporters exporters-split paired paired-split cost headroom quota
# behaviour forward v3 sendto kernel.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }
export LAB=sipips-bench
OUT=out/bench; mkdir -p $OUT
GEN="dotnet tests/SipIps.TrafficGen/bin/Release/net10.0/sipips-trafficgen.dll"
SIPIPS="dotnet src/SipIps.Host/bin/Release/net10.0/sipips.dll"
SIZES=${SIZES:-"242 1000"}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
RESULTS=$OUT/bridge-vs-kernel.txt
MODES=${MODES:-"stall inspect busypoll exporters exporters-split paired paired-split cost headroom quota behaviour forward v3 sendto kernel"}
ROUNDS=${ROUNDS:-3}
want() { [[ " $MODES " == *" $1 "* ]]; }
NOEXPORT="metrics:
  enabled: false"
EXPORT="metrics:
  listen: 127.0.0.1:9464
netflow:
  collector: 127.0.0.1:2055
clf:
  path: $PWD/$OUT/bench.clf
  max_file_mb: 64
  files: 2
sessions:
  idle_timeout: 1s
  linger: 0s
baseline:
  enabled: false"
# EXPORT_YAML replaces the exporters-on configuration (to measure one exporter alone, say).
EXPORT=${EXPORT_YAML:-$EXPORT}
bridge_pid=""
sink_pid=""
# Core isolation, as a deployment would do it with isolcpus=: every kernel thread that may move (unbound ones such
# as kdamond; per-CPU ones refuse) leaves the worker's core for the run and gets its mask back afterwards. On a
# kernel built with PREEMPT_NONE a kernel thread keeps a core until it yields; a scheduler trace here showed kdamond
# holding the worker's core for 10.9 ms, which the kernel bridge (softirq) never sees. ISOLATE=0 measures without
# it. The same isolation applies to every row, the kernel bridge included.
ISOLATE=${ISOLATE:-1}
SAVED_MASKS=$OUT/saved-affinity.txt
isolate() {
  : > $SAVED_MASKS
  local self=" $$ $PPID " p mask flags
  for p in $(ls /proc | grep -E '^[0-9]+$'); do
    [[ "$self" == *" $p "* ]] && continue
    # PF_KTHREAD (0x00200000) in the task's flags: field 9 of stat, the 7th after the "(comm)" that may hold spaces.
    # A process may end between the listing and the read (the listing's own helpers do).
    flags=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | awk '{print $7}') || continue
    (( ( ${flags:-0} & 0x00200000 ) != 0 )) || continue
    mask=$(taskset -p "$p" 2>/dev/null | awk '{print $NF}') || continue
    [ -n "$mask" ] || continue
    (( (0x$mask & 2) != 0 && (0x$mask & ~2) != 0 )) || continue
    taskset -p "$(printf '%x' $(( 0x$mask & ~2 )))" "$p" >/dev/null 2>&1 && echo "$p $mask" >> $SAVED_MASKS
  done
  echo "# isolation: $(wc -l < $SAVED_MASKS) kernel threads moved off core 1" | tee -a $RESULTS
}
unisolate() {
  [ -f $SAVED_MASKS ] || return 0
  while read -r p mask; do taskset -p "$mask" "$p" >/dev/null 2>&1 || true; done < $SAVED_MASKS
  rm -f $SAVED_MASKS
}
cleanup() { [ -n "$bridge_pid" ] && kill -TERM "$bridge_pid" 2>/dev/null; [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; wait 2>/dev/null || true; unisolate; remove_quota; tests/lab/lab.sh down; }
trap cleanup EXIT
dotnet build -c Release SipIps.sln -nologo -v quiet >/dev/null

rx() { ip netns exec $LAB-uas cat /sys/class/net/uas0/statistics/rx_packets; }
mac() { ip -n $LAB-uas -o link show uas0 | grep -o "link/ether [0-9a-f:]*" | cut -d' ' -f2; }

# trial SIZE RATE SECONDS -> "delivered_rate loss sent"
trial() {
  local before after out sent secs
  before=$(rx)
  out=$(ip netns exec $LAB-uac taskset -c 0 $GEN blast uac0 "$(mac)" "$1" "$2" "$3")
  sleep 0.3
  after=$(rx)
  sent=$(echo "$out" | awk '{print $2}'); secs=$(echo "$out" | awk '{print $6}')
  python3 -c "s=${sent:-0}; d=$((after-before)); t=${secs:-0} or 1; print(f'{min(d,s)/t:.0f} {max(0.0,1-d/s) if s else 1:.6f} {s/t:.0f}')"
}

# saturation SIZE -> highest delivered rate with loss <= 0.1% over the ramp
# When the generator falls behind the rate asked for before the path loses frames, the search stops there: that is
# the path's limit only where the path's work shares the generator's core (the kernel bridge), otherwise a floor;
# saturation() then leaves the file $CAPPED, and the rows that use it say so.
CAPPED=$OUT/generator-capped
saturation() {
  local good=0 bad=0 rate=50000 loss delivered offered
  rm -f $CAPPED
  while [ $rate -le 3000000 ]; do
    read -r delivered loss offered < <(trial "$1" $rate 2)
    if python3 -c "import sys; sys.exit(0 if $loss <= 0.001 else 1)"; then
      good=$delivered
      # The generator fell behind: the path, not the offered rate, is the limit.
      python3 -c "import sys; sys.exit(0 if $offered >= 0.97*$rate else 1)" || { touch $CAPPED; echo "$good"; return; }
      rate=$((rate * 3 / 2))
    else
      bad=$rate
      break
    fi
  done
  # Narrow down between the last good and the first bad rate: the ramp's steps are 1.5x apart, and five halvings
  # bring the uncertainty to about 1.5% of the rate, finer than the differences between rows this benchmark reports.
  local lo=$good hi=$bad mid
  for _ in 1 2 3 4 5; do
    [ "$hi" -gt 0 ] || break
    mid=$(( (lo + hi) / 2 ))
    read -r delivered loss offered < <(trial "$1" $mid 2)
    if python3 -c "import sys; sys.exit(0 if $loss <= 0.001 and $offered >= 0.97*$mid else 1)"; then lo=$delivered; else hi=$mid; fi
  done
  echo "$lo"
}

loss_free() { awk '$2 > 0.001 {bad=1} END {exit bad}'; } # stdin: lines of "delivered loss"; true when none is over 0.1%

confirm() { # SIZE RATE -> lines of "delivered loss"
  for _ in $(seq $RUNS); do trial "$1" "$2" $SECONDS_PER_RUN; done
}

rtt() { # -> "p50 p99" in microseconds of 1000 pings at 100/s, then the bridge's share (see below) as one more word
  # The probe is part of the UAC host, so it runs on the generator's core, at real-time priority so that it never
  # waits behind the generator's spinning thread: the figure is the path's, not the probe's scheduling. (iputils
  # ping spins between probes below a 10 ms interval; on a 2-core machine that took half of whichever core it ran
  # on, the bridge's included.) The same probe measures every row, the kernel bridge included.
  ip netns exec $LAB-uac taskset -c 0 chrt -f 50 ping -q -i 0.01 -c 50 -W 1 192.0.2.20 >/dev/null 2>&1 || true
  # The same pings timed where the kernel sees them: ICMP-only captures on the bridge's two ports and on the UAS's
  # and the UAC's interfaces. A bridge port's capture timestamps a frame as it arrives there, and the next interface's
  # as it arrives there, so the difference is the bridge's own forwarding time for that frame, in each direction,
  # without the probe's wake-ups on the generator's core.
  local caps="" c
  if command -v dumpcap >/dev/null; then
    rm -f $OUT/rtt-*.pcapng
    for c in br:pa br:pb uas:uas0 uac:uac0; do
      ip netns exec $LAB-${c%%:*} dumpcap -q -i ${c#*:} -f icmp -w $OUT/rtt-${c#*:}.pcapng 2>/dev/null & caps="$caps $!"
    done
    sleep 1
  fi
  ip netns exec $LAB-uac taskset -c 0 chrt -f 50 ping -i 0.01 -c 1000 -W 1 192.0.2.20 2>/dev/null | grep -o "time=[0-9.]*" | cut -d= -f2 |
    python3 -c "import sys; v=sorted(float(x)*1000 for x in sys.stdin); print(f'{v[len(v)//2]:.0f} {v[int(len(v)*0.99)]:.0f}' if v else 'n/a n/a', end=' ')"
  if [ -n "$caps" ]; then
    sleep 0.5; kill $caps 2>/dev/null; wait $caps 2>/dev/null
    python3 - $OUT <<'PY'
import subprocess, sys
def times(name):
    out = subprocess.run(["tshark", "-r", f"{sys.argv[1]}/rtt-{name}.pcapng", "-T", "fields", "-e", "frame.time_epoch", "-e", "icmp.type",
                          "-e", "icmp.seq"], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3: d[(int(f[1]), int(f[2].split(",")[0]))] = float(f[0])
    return d
try:
    pa, uas, pb, uac = (times(n) for n in ("pa", "uas0", "pb", "uac0"))
except OSError:
    print("n/a"); sys.exit()
def pct(a, ka, b, kb):
    v = sorted((b[(kb, s)] - a[(ka, s)]) * 1e6 for (t, s) in a if t == ka and (kb, s) in b)
    return f"{v[len(v)//2]:.0f}/{v[int(len(v)*0.99)]:.0f}" if v else "n/a"
# requests UAC -> UAS (the loaded direction), replies UAS -> UAC, and the round trip on the UAC's interface
print(f"{pct(pa, 8, uas, 8)},{pct(pb, 0, uac, 0)},{pct(uac, 8, uac, 0)}")
PY
  else
    echo n/a
  fi
}

# stall_probe: what a thread that never sleeps on the worker's core sees (sipips-trafficgen stall-probe): the gaps
# in its run, first with the generator's core idle, then with the generator sending there (no bridge: the frames end
# at the bridge's port). A busy-polling worker's frames wait in its ring for as long as such a gap lasts; the kernel
# bridge forwards inside the sender's system call, on the sender's core, and never sees them. The probe runs with
# tiered compilation off, so that the runtime's compiler thread does not take the core from it.
# With perf, the busy run is also laid over a scheduler trace on the same clock (CLOCK_MONOTONIC): a gap in which
# the guest's scheduler had the probe on its core throughout, with nothing else running, is time the virtual CPU
# itself did not run (interrupts would show too: the probe records no system time).
stall_probe() {
  local idle busy bg trace=""
  idle=$(DOTNET_TieredCompilation=0 taskset -c 1 $GEN stall-probe $SECONDS_PER_RUN 100)
  ip netns exec $LAB-uac taskset -c 0 $GEN blast uac0 "$(mac)" 242 150000 $((SECONDS_PER_RUN + 3)) >/dev/null & bg=$!
  sleep 1
  if command -v perf >/dev/null; then
    busy=$(perf sched record -k CLOCK_MONOTONIC -o $OUT/stall-sched.data -- env DOTNET_TieredCompilation=0 \
      taskset -c 1 $GEN stall-probe $SECONDS_PER_RUN 100 $OUT/stall-gaps.txt 2>/dev/null | grep "^gaps")
    trace=$(stall_attribution $OUT/stall-sched.data $OUT/stall-gaps.txt)
  else
    busy=$(DOTNET_TieredCompilation=0 taskset -c 1 $GEN stall-probe $SECONDS_PER_RUN 100)
  fi
  kill $bg 2>/dev/null; wait $bg 2>/dev/null || true
  echo "core 1 stall probe, core 0 idle:                        $idle" | tee -a $RESULTS
  echo "core 1 stall probe, generator at 150k pkt/s on core 0: $busy" | tee -a $RESULTS
  [ -z "$trace" ] || echo "  the same gaps in the guest's scheduler trace: $trace" | tee -a $RESULTS
}

# stall_attribution SCHED_DATA GAP_LOG: for each gap of the probe (start and end, CLOCK_MONOTONIC ns), the time that
# other tasks ran on core 1 within it, from the trace's runs on that core (a run ends at its time stamp and lasted its
# run time). The probe is the task that ran longest on core 1: it spins there for the whole run.
stall_attribution() {
  perf sched timehist -i "$1" -C 1 2>/dev/null | python3 -c '
import sys
gaps = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
runs = {}
for line in sys.stdin.read().splitlines()[3:]:
    f = line.split()
    try:
        end, run = float(f[0]), float(f[-1]) / 1e3
    except (ValueError, IndexError):
        continue
    runs.setdefault(" ".join(f[2:-3]), []).append((end - run, end))
# The probe: the task that ran longest on the core.
probe = max(runs, key=lambda t: sum(b - a for a, b in runs[t])) if runs else ""
others = [r for t, rs in runs.items() if t != probe for r in rs]
hidden = 0
for s, e, _ in gaps:
    s, e = s / 1e9, e / 1e9
    if sum(max(0.0, min(e, b) - max(s, a)) for a, b in others) < 0.1 * (e - s):
        hidden += 1
print(f"{len(gaps)} gaps; in {hidden} of them the probe was on its core and nothing else ran for a tenth of the gap")
' "$2"
}

rtt_at() { # SIZE RATE -> what rtt prints, with the generator sending SIZE-byte frames at RATE meanwhile
  ip netns exec $LAB-uac taskset -c 0 $GEN blast uac0 "$(mac)" "$1" "$2" 30 >/dev/null &
  local bg=$!
  sleep 1
  rtt
  kill $bg 2>/dev/null; wait $bg 2>/dev/null || true
}

cpu_of() { # PID -> jiffies used
  awk '{print $14+$15}' /proc/$1/stat
}

start_sipips() { # EXTRA-BRIDGE-YAML [TOP-LEVEL-YAML [CPUS]]
  cat > $OUT/bench.yaml <<YAML
bridge:
  pairs: [[pa, pb]]
  workers: 1
$1
control:
  socket: /tmp/sipips-bench.sock
${2:-$NOEXPORT}
YAML
  ip netns exec $LAB-br taskset -c ${3:-1} $SIPIPS run --config $OUT/bench.yaml > $OUT/bench-bridge.log 2>&1 &
  bridge_pid=$!
  # Under a CPU quota (the quota mode), every thread of SipIps shares it, or only the worker (QUOTA_SCOPE=worker).
  if [ -n "${QUOTA_CG:-}" ] && [ "${QUOTA_SCOPE:-process}" = process ]; then echo $bridge_pid > $QUOTA_CG/cgroup.procs; fi
  for _ in $(seq 100); do grep -q "^sipips: forwarding " $OUT/bench-bridge.log 2>/dev/null && break; sleep 0.1; done
  # A short warm-up blast before measuring, so that the ramp's first trial measures the bridge and not its start. (The
  # loss once seen in the first second came from waiting for a warning that also says "forwarding", not from the
  # bridge: the start-up line matched above follows the workers' start.)
  sleep 1
  ip netns exec $LAB-uac taskset -c 0 $GEN blast uac0 "$(mac)" 242 20000 1 >/dev/null
  sleep 0.5
  # The worker threads are named once they run: limit them after the warm-up.
  if [ -n "${QUOTA_CG:-}" ] && [ "${QUOTA_SCOPE:-process}" = worker ]; then
    local t moved=0
    for t in /proc/$bridge_pid/task/*; do
      case "$(cat $t/comm 2>/dev/null)" in *#*) echo "${t##*/}" > $QUOTA_CG/tasks; moved=$((moved + 1)) ;; esac
    done
    [ $moved -gt 0 ] || echo "quota: no worker thread found to limit" >&2
  fi
}

stop_sipips() { kill -TERM $bridge_pid; wait $bridge_pid 2>/dev/null || true; bridge_pid=""; }

measure() { # NAME SIZE -> prints a line; uses the running forwarder
  local name=$1 size=$2 sat line j0 j1 t0 t1 cpu runs attempt x0=
  sat=$(saturation "$size")
  local capped=""; [ -e $CAPPED ] && capped=" (the search stopped where the generator fell behind, not at a loss)"
  # Confirm below the ramp's figure (2 s trials are optimistic); step down until every run is loss-free.
  local rate=$(( sat * 90 / 100 ))
  for attempt in 1 2 3 4; do
    j0=$( [ -n "$bridge_pid" ] && cpu_of $bridge_pid || echo 0 ); t0=$(date +%s.%N)
    [ -n "${EXPORTER_STATS:-}" ] && x0=$(exporter_counts)
    runs=$(confirm "$size" "$rate")
    j1=$( [ -n "$bridge_pid" ] && cpu_of $bridge_pid || echo 0 ); t1=$(date +%s.%N)
    echo "$runs" | loss_free && break
    rate=$(( rate * 85 / 100 ))
  done
  cpu=$(python3 -c "print(f'{($j1-$j0)/100/($t1-$t0)*100:.0f}%')")
  local xstats=""
  [ -n "${EXPORTER_STATS:-}" ] && xstats=$(exporter_stats "$t0" "$t1" "$x0")
  # RTT with 50% of the saturation rate in the background.
  local fwd
  read -r p50 p99 fwd < <(rtt_at "$size" $(( sat / 2 )))
  LAST_SAT=$sat LAST_P50=$p50 LAST_P99=$p99
  # Loss at 50% of saturation, RUNS runs of SECONDS_PER_RUN each (the target is none in any run).
  local half
  half=$(for _ in $(seq $RUNS); do trial "$size" $(( sat / 2 )) $SECONDS_PER_RUN; done | awk '{printf "%s%.3f%%", (NR>1?", ":""), $2*100}')
  python3 - "$name" "$size" "$sat" "$runs" "$cpu" "$p50" "$p99" "$half" "$capped" "$fwd" <<'PY' | tee -a $RESULTS
import sys
name, size, sat, runs, cpu, p50, p99, half, capped, fwd = sys.argv[1:]
rows = [r.split() for r in runs.strip().splitlines()]
rates = [float(r[0]) for r in rows]; losses = [float(r[1]) for r in rows]
ok = all(l <= 0.001 for l in losses)
print(f"{name:28s} {size:>5s} B  loss-free {min(rates):>10,.0f} pkt/s  (runs: {', '.join(f'{x:,.0f}' for x in rates)}; max loss {max(losses)*100:.3f}%{'' if ok else ' OVER 0.1%'})  CPU {cpu:>5s}  RTT p50 {p50} us p99 {p99} us at 50% load; loss at 50%: {half}{capped}")
if fwd != "n/a":
    f = fwd.split(",")
    print(f"{'':28s}   timed on the interfaces (p50/p99 us): forwarding UAC->UAS {f[0]}, UAS->UAC {f[1]}; round trip on the UAC's interface {f[2]}")
PY
  if [ -n "$xstats" ]; then echo "$xstats" | tee -a $RESULTS; fi
}

thread_jiffies() { # -> "worker sessions clf other" CPU jiffies of the running bridge's threads
  local t comm j w=0 s=0 c=0 o=0
  for t in /proc/$bridge_pid/task/*; do
    comm=$(cat $t/comm 2>/dev/null) || continue
    j=$(awk '{print $14+$15}' $t/stat 2>/dev/null) || continue
    case "$comm" in
      *#*) w=$((w + j)) ;;
      sessions) s=$((s + j)) ;;
      clf) c=$((c + j)) ;;
      *) o=$((o + j)) ;;
    esac
  done
  echo "$w $s $c $o"
}

exporter_counts() { # -> "clf_records session_jiffies clf_jiffies" of the running bridge
  local clf w s c o
  clf=$(ip netns exec $LAB-br curl -sf http://127.0.0.1:9464/metrics | awk '$1=="sipips_clf_records_total" {print $2}')
  read -r w s c o < <(thread_jiffies)
  echo "${clf:-0} $s $c"
}

exporter_stats() { # T0 T1 "counts at T0"
  read -r r0 s0 c0 <<< "$3"
  read -r r1 s1 c1 < <(exporter_counts)
  python3 -c "t=$2-$1; print(f'    exporters: {($r1-$r0)/t:,.0f} CLF records/s (one per SIP message, and one session event each); CPU: session thread {($s1-$s0)/t:.0f}%, CLF thread {($c1-$c0)/t:.0f}%')"
}

clf_dropped() { # -> CLF records the running bridge's queues could not take so far
  ip netns exec $LAB-br curl -sf http://127.0.0.1:9464/metrics | awk '$1=="sipips_exporter_queue_dropped_total{exporter=\"clf\"}" {print $2}'
}

# A cgroup whose CPU controller holds its processes to QUOTA_PCT percent of one core (cgroup v1 cpu, or v2 cpu.max),
# over 10 ms periods: a throttled SipIps waits at most a few milliseconds, which its 32 MiB rings absorb. Prints the
# cgroup's path, or nothing when this machine has no CPU controller to use.
QUOTA_V1=/sys/fs/cgroup/cpu/sipips-bench QUOTA_V2=/sys/fs/cgroup/sipips-bench
quota_cgroup() {
  local pct=${QUOTA_PCT:-50} period=10000
  if [ -w /sys/fs/cgroup/cpu ] && [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    mkdir -p $QUOTA_V1
    echo $period > $QUOTA_V1/cpu.cfs_period_us; echo $(( period * pct / 100 )) > $QUOTA_V1/cpu.cfs_quota_us
    echo $QUOTA_V1
  elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    echo +cpu > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    mkdir -p $QUOTA_V2 && echo "$(( period * pct / 100 )) $period" > $QUOTA_V2/cpu.max && echo $QUOTA_V2
  fi
}
remove_quota() { rmdir $QUOTA_V1 $QUOTA_V2 2>/dev/null || true; }

# quota SIZE: the exporters' cost at saturation, read without a search. SipIps runs under the quota cgroup; the
# generator offers QUOTA_OFFER pkt/s, more than SipIps can then forward and less than the generator's own ceiling, for
# SECONDS_PER_RUN. What reaches the UAS is then SipIps's saturation rate, averaged over the run (the ring drops the
# rest). Exporters off and on in turn, the order swapped each round, ROUNDS rounds. The CLF records written and
# dropped are counted: a record dropped at a full queue would make the exporters look cheaper than they are.
quota() { # SIZE LABEL [BRIDGE-YAML CPUS]
  local size=$1 label=$2 layout=${3:-} cpus=${4:-1} offer=${QUOTA_OFFER:-240000} round first offered loss off on gen ratios="" r0 r1 d0 d1 clf w0 s0 c0 o0 w1 s1 c1 o1 jo jn
  for round in $(seq $ROUNDS); do
    first=off; [ $((round % 2)) = 0 ] && first=on
    for which in $first $([ $first = off ] && echo on || echo off); do
      if [ $which = off ]; then
        start_sipips "$layout" "$NOEXPORT" $cpus
        read -r w0 s0 c0 o0 < <(thread_jiffies)
        read -r off loss gen < <(trial "$size" $offer $SECONDS_PER_RUN)
        read -r w1 s1 c1 o1 < <(thread_jiffies)
        jo="$((w1-w0)) $((s1-s0)) $((c1-c0)) $((o1-o0))"
        stop_sipips
      else
        start_sipips "$layout" "$EXPORT" $cpus; scraper & scraper_pid=$!
        r0=$(exporter_counts | awk '{print $1}'); d0=$(clf_dropped)
        read -r w0 s0 c0 o0 < <(thread_jiffies)
        read -r on loss offered < <(trial "$size" $offer $SECONDS_PER_RUN)
        read -r w1 s1 c1 o1 < <(thread_jiffies)
        jn="$((w1-w0)) $((s1-s0)) $((c1-c0)) $((o1-o0))"
        r1=$(exporter_counts | awk '{print $1}'); d1=$(clf_dropped)
        kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf*
        clf="CLF $(python3 -c "print(f'{$r1-$r0:,.0f} records written, {${d1:-0}-${d0:-0}:,.0f} dropped')")"
      fi
    done
    python3 -c "print(f'  round {$round} ($first first): offered {$offer:,} pkt/s (generator reached {$gen:,.0f} and {$offered:,.0f}); delivered with exporters off {$off:,.0f}, on {$on:,.0f} pkt/s ({($on/$off-1)*100:+.1f}%); $clf')" | tee -a $RESULTS
    # Where the CPU went, in us per forwarded frame (jiffies of 10 ms over the frames of the run).
    python3 -c "
off = [int(x) for x in '$jo'.split()]; on = [int(x) for x in '$jn'.split()]
f0, f1 = $off * $SECONDS_PER_RUN, $on * $SECONDS_PER_RUN
us = lambda j, f: j * 1e4 / f
print(f'    CPU per frame (us), off -> on: worker {us(off[0], f0):.2f} -> {us(on[0], f1):.2f}, session thread {us(on[1], f1):.2f}, CLF thread {us(on[2], f1):.2f}, other threads {us(off[3], f0):.2f} -> {us(on[3], f1):.2f}')" | tee -a $RESULTS
    ratios="$ratios $(python3 -c "print($on/$off)")"
  done
  python3 -c "import statistics; r=sorted(float(x) for x in '$ratios'.split()); print(f'$label, saturated under a ${QUOTA_PCT:-50}% CPU quota ({len(r)} rounds, $size B): median change {(statistics.median(r)-1)*100:+.1f}% (rounds: {\", \".join(f\"{(x-1)*100:+.1f}%\" for x in r)})')" | tee -a $RESULTS
}

paired() { # SIZE [LABEL BRIDGE-YAML CPUS]: ROUNDS pairs of saturation rates, exporters off then on, same layout
  local size=$1 label=${2:-"sipips + all exporters"} layout=${3:-} cpus=${4:-1} round off on ratios="" r0 d0 out sent secs
  for round in $(seq $ROUNDS); do
    local capped=""
    start_sipips "$layout" "$NOEXPORT" $cpus; off=$(saturation "$size"); stop_sipips
    [ -e $CAPPED ] && capped=" (exporters off: the search stopped where the generator fell behind)"
    start_sipips "$layout" "$EXPORT" $cpus; scraper & scraper_pid=$!
    on=$(saturation "$size")
    [ -e $CAPPED ] && capped="$capped (exporters on: the search stopped where the generator fell behind)"
    r0=$(exporter_counts | awk '{print $1}'); d0=$(clf_dropped)
    read -r delivered loss offered < <(trial "$size" "$on" $SECONDS_PER_RUN)
    local r1 d1
    r1=$(exporter_counts | awk '{print $1}'); d1=$(clf_dropped)
    kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf*
    python3 -c "print(f'  pair {$round}: exporters off {$off:,.0f} pkt/s, on {$on:,.0f} pkt/s ({($on/$off-1)*100:+.1f}%); 10 s at {$on:,.0f}: wire loss {$loss*100:.3f}%, CLF {($r1-$r0):,.0f} records written, {($d1-$d0):,.0f} dropped$capped')" | tee -a $RESULTS
    ratios="$ratios $(python3 -c "print($on/$off)")"
  done
  python3 -c "import statistics; r=sorted(float(x) for x in '$ratios'.split()); print(f'$label, paired ({len(r)} pairs, {\"$size\"} B): median change {(statistics.median(r)-1)*100:+.1f}% (pairs: {\", \".join(f\"{(x-1)*100:+.1f}%\" for x in r)})')" | tee -a $RESULTS
}

# cost SIZE LABEL LAYOUT CPUS: CPU time per forwarded frame at one fixed offered rate (COST_RATE), with the exporters
# off and on in turn, ROUNDS times each. Saturation searches on this VM differ by up to 4x minutes apart (a paired
# run here gave 74k and 325k pkt/s for the same configuration); CPU time per frame at a fixed rate is steady, and a
# saturated core's rate is the inverse of it. Offer more than the core can take (the default), so that both figures
# are saturated: below saturation the worker wakes more often per frame and the exporters' share reads lower. With everything on the worker's core, the exporters
# lower the rate by the share of their threads in the total; with a management core, by what they add to the worker.
cost() {
  local size=$1 label=$2 layout=$3 cpus=$4 rate=${COST_RATE:-340000} round mode j0 j1 d0 d1 delivered loss offered
  local lines=""
  for round in $(seq $ROUNDS); do
    for mode in off on; do
      if [ $mode = on ]; then start_sipips "$layout" "$EXPORT" $cpus; scraper & scraper_pid=$!; else start_sipips "$layout" "$NOEXPORT" $cpus; fi
      j0=$(thread_jiffies); d0=0; [ $mode = on ] && d0=$(clf_dropped)
      read -r delivered loss offered < <(trial "$size" "$rate" $SECONDS_PER_RUN)
      j1=$(thread_jiffies); d1=0; [ $mode = on ] && { d1=$(clf_dropped); kill $scraper_pid; }
      stop_sipips; rm -f $OUT/bench.clf*
      lines="$lines$mode $delivered $loss $j0 $j1 $(( ${d1%.*} - ${d0%.*} )) $offered
"
    done
  done
  python3 - "$label" "$size" "$rate" "$SECONDS_PER_RUN" "$cpus" <<PY | tee -a $RESULTS
import sys, statistics
label, size, rate, secs, cpus = sys.argv[1:]
rows = {"off": [], "on": []}
behind = []
for line in """$lines""".strip().splitlines():
    f = line.split()
    mode, delivered, loss, offered = f[0], float(f[1]), float(f[2]), float(f[12]) or float(rate)
    a = [int(x) for x in f[3:7]]; b = [int(x) for x in f[7:11]]
    # The generator sends rate x secs frames; when it cannot keep the rate, the run lasts longer than secs.
    frames = delivered * float(secs) * float(rate) / offered
    behind.append(offered / float(rate))
    # jiffies are 10 ms; microseconds of CPU per forwarded frame, per thread group
    rows[mode].append([(y - x) * 10000 / frames for x, y in zip(a, b)] + [loss, int(f[11]), frames])
def med(mode, i): return statistics.median(r[i] for r in rows[mode])
w0, w1 = med("off", 0), med("on", 0)
x1 = med("on", 1) + med("on", 2)
total0 = sum(med("off", i) for i in range(4)); total1 = sum(med("on", i) for i in range(4))
same_core = "," not in cpus
change = (total0 / total1 - 1) if same_core else (w0 / w1 - 1)
print(f"{label} ({size} B, {float(rate):,.0f} pkt/s offered, {len(rows['on'])} rounds of {secs} s each way): "
      f"worker {w0:.2f} -> {w1:.2f} us/frame, session + CLF threads {x1:.2f} us/frame, all threads {total0:.2f} -> {total1:.2f} us/frame; "
      f"delivered {statistics.median(r[6] for r in rows['off'])/float(secs):,.0f} -> {statistics.median(r[6] for r in rows['on'])/float(secs):,.0f} pkt/s, max loss {max(r[4] for m in rows for r in rows[m])*100:.3f}%, CLF records dropped {sum(r[5] for r in rows['on']):,}; "
      f"the worker's core saturates {change*100:+.1f}% {'(every thread on it)' if same_core else '(exporters on the management core)'}")
if min(behind) < 0.97:
    print(f"  (the generator reached only {min(behind)*100:.0f}% of the offered rate: where the bridge kept up, it was not saturated and the exporters' share reads low)")
PY
}

# headroom SIZE: the target read directly. Each round finds SipIps's loss-free rate with the exporters off (ramp, then
# RUNS runs of SECONDS_PER_RUN confirming it, stepping down until all are loss-free), then runs the exporters-on
# bridge at 90% of that rate for as many runs: no run over 0.1% loss means the exporters cost at most 10% of the
# loss-free rate in that round.
headroom() {
  local size=$1 round sat rate attempt runs on_rate r0 d0 r1 d1 passed=0
  for round in $(seq $ROUNDS); do
    start_sipips "" "$NOEXPORT"
    sat=$(saturation "$size"); rate=$(( sat * 90 / 100 ))
    local capped=""; [ -e $CAPPED ] && capped=" (the off rate's search stopped where the generator fell behind: this round bounds the cost only loosely)"
    for attempt in 1 2 3 4; do
      runs=$(confirm "$size" "$rate")
      echo "$runs" | loss_free && break
      rate=$(( rate * 85 / 100 ))
    done
    stop_sipips
    on_rate=$(( rate * 90 / 100 ))
    start_sipips "" "$EXPORT"; scraper & scraper_pid=$!
    r0=$(exporter_counts | awk '{print $1}'); d0=$(clf_dropped)
    local on_runs
    on_runs=$(confirm "$size" "$on_rate")
    r1=$(exporter_counts | awk '{print $1}'); d1=$(clf_dropped)
    kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf*
    if echo "$on_runs" | loss_free; then passed=$((passed + 1)); fi
    python3 - "$round" "$rate" "$on_rate" "$runs" "$on_runs" "$r0" "$r1" "$d0" "$d1" "$capped" <<'PY' | tee -a $RESULTS
import sys
rnd, off, on = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def losses(t): return [float(r.split()[1]) for r in t.strip().splitlines()]
a, b = losses(sys.argv[4]), losses(sys.argv[5])
r0, r1, d0, d1 = (float(x or 0) for x in sys.argv[6:10])
print(f"  headroom round {rnd}: exporters off loss-free at {off:,.0f} pkt/s (loss {', '.join(f'{x*100:.3f}%' for x in a)}); "
      f"exporters on at 90% of it, {on:,.0f} pkt/s: loss {', '.join(f'{x*100:.3f}%' for x in b)} "
      f"({'loss-free' if max(b) <= 0.001 else 'OVER 0.1%'}); CLF {r1-r0:,.0f} records written, {d1-d0:,.0f} dropped{sys.argv[10]}")
PY
  done
  echo "sipips + all exporters at 90% of the exporters-off loss-free rate ($size B): loss-free in $passed of $ROUNDS rounds" | tee -a $RESULTS
}

# Scrapes /metrics every second, as a Prometheus server would.
scraper() { while sleep 1; do ip netns exec $LAB-br curl -sf -o /dev/null http://127.0.0.1:9464/metrics || true; done; }

tests/lab/lab.sh up
# A socket on the UAS takes the benchmark's SIP frames and never reads them (the full buffer drops them): without
# it, the UAS answers every frame with an ICMP port-unreachable, and that work of the UAS's kernel runs inside the
# bridge's send call on the bridge's core (veth delivers synchronously), so it counted as the bridge's own cost.
ip netns exec $LAB-uas python3 -c "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.bind(('192.0.2.20', 5060)); time.sleep(86400)" &
sink_pid=$!
: > $RESULTS
echo "# $(date -u +%FT%TZ) $(nproc) cores; generator on core 0, SipIps (1 worker) on core 1" | tee -a $RESULTS
[ "$ISOLATE" = 1 ] && isolate
if want stall; then stall_probe; fi
for size in $SIZES; do
  inspect_sat=""
  if want inspect; then
    start_sipips ""; measure "sipips (SIP inspection)" "$size"; stop_sipips
    inspect_sat=$LAST_SAT inspect_p50=$LAST_P50 inspect_p99=$LAST_P99
  fi
  if want exporters; then
    start_sipips "" "$EXPORT"; scraper & scraper_pid=$!
    EXPORTER_STATS=1 measure "sipips + all exporters" "$size"
    kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf*
  fi
  if want paired; then paired "$size"; fi
  if want headroom; then headroom "$size"; fi
  if want quota; then
    QUOTA_CG=$(quota_cgroup)
    if [ -n "$QUOTA_CG" ]; then
      if [[ " ${QUOTA_SCOPES:-process worker} " == *" process "* ]]; then
        QUOTA_SCOPE=process quota "$size" "sipips + all exporters, every thread under the quota on the worker core"
      fi
      # The deployment layout: the worker alone on its core, under the quota; the exporters on the management core.
      if [[ " ${QUOTA_SCOPES:-process worker} " == *" worker "* ]] && [ -e $QUOTA_CG/tasks ]; then
        QUOTA_SCOPE=worker quota "$size" "sipips + all exporters on the management core, the worker under the quota" "  cpus: [1]
  management_cpus: [0]" 0,1
      fi
    else
      echo "quota: skipped, no cgroup CPU controller to set a quota with" | tee -a $RESULTS
    fi
    QUOTA_CG=""
  fi
  if want cost; then
    cost "$size" "exporters' CPU per frame, one core" "" 1
    [ "${COST_LAYOUTS:-both}" = one-core ] || cost "$size" "exporters' CPU per frame, management core" "  cpus: [1]
  management_cpus: [0]" 0,1
  fi
  if want paired-split; then
    paired "$size" "+ exporters, worker alone" "  cpus: [1]
  management_cpus: [0]" 0,1
  fi
  if want exporters-split; then
    # The deployment layout: the worker alone on core 1 (bridge.cpus), exporters, metrics and the runtime's threads on
    # core 0 (bridge.management_cpus), beside the generator.
    start_sipips "  cpus: [1]
  management_cpus: [0]" "$EXPORT" 0,1; scraper & scraper_pid=$!
    EXPORTER_STATS=1 measure "+ exporters, worker alone" "$size"
    kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf*
  fi
  if want behaviour; then
    start_sipips "" "${EXPORT/enabled: false/file: $PWD/$OUT/bench-baseline.bin}"; scraper & scraper_pid=$!
    EXPORTER_STATS=1 measure "+ behaviour analysis" "$size"
    kill $scraper_pid; stop_sipips; rm -f $OUT/bench.clf* $OUT/bench-baseline.bin
  fi
  if want busypoll; then start_sipips "  busy_poll_us: 100000"; measure "sipips, worker busy-polls" "$size"; stop_sipips; fi
  if want forward; then start_sipips "  inspect: false"; measure "sipips (forward only)" "$size"; stop_sipips; fi
  if want v3; then start_sipips "  ring: v3"; measure "sipips v3 ring" "$size"; stop_sipips; fi
  if want sendto; then start_sipips "  send: sendto"; measure "sipips sendto" "$size"; stop_sipips; fi
  if want kernel; then
    ip -n $LAB-br link add kbr type bridge forward_delay 0 stp_state 0
    ip -n $LAB-br link set pa master kbr; ip -n $LAB-br link set pb master kbr; ip -n $LAB-br link set kbr up
    sleep 1
    measure "kernel bridge" "$size"
    if [ -n "$inspect_sat" ]; then
      # The added latency as the target states it: both paths at 50% of SipIps's saturation rate.
      read -r k50 k99 kfwd < <(rtt_at "$size" $(( inspect_sat / 2 )))
      python3 -c "
a = '$inspect_p50 $inspect_p99 $k50 $k99'.split()
added = f'p50 {int(a[0]) - int(a[2])} us, p99 {int(a[1]) - int(a[3])} us' if all(x.isdigit() for x in a) else 'n/a'
print(f'kernel bridge at 50% of SipIps\'s rate ($(( inspect_sat / 2 )) pkt/s): RTT p50 $k50 us p99 $k99 us (on the interfaces: $kfwd); added by SipIps with inspection: {added}')" | tee -a $RESULTS
    fi
    ip -n $LAB-br link del kbr
  fi
done
echo "results in $RESULTS"
