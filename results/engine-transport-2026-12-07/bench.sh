#!/bin/bash
# Alternating base/new runs: round trips per client CPU-second (messages / client_cpu_s).
set -u
REPS=${REPS:-3}
BASE=/tmp/base-eng/target/release
NEW=/work/main/target/release
OUT=${OUT:-/tmp/eng3}; mkdir -p $OUT
ECHOD=$BASE/echod
taskset -c 1 $ECHOD --workers 1 --port 47311 > $OUT/echod-tcp.log 2>&1 & TP=$!
taskset -c 1 $ECHOD --workers 1 --port 47312 --proto udp > $OUT/echod-udp.log 2>&1 & UP=$!
sleep 1
trap 'kill $TP $UP 2>/dev/null' EXIT
echo "proto conns rep side rt_per_cpu_s msgs cpu_s load1" > $OUT/results.txt
for cfg in "tcp 10" "tcp 1000" "udp 10" "udp 1000"; do
  set -- $cfg; proto=$1; conns=$2
  port=47311; [ $proto = udp ] && port=47312
  for rep in $(seq 1 $REPS); do
    for side in base new; do
      bin=$BASE/loadgen; [ $side = new ] && bin=$NEW/loadgen
      j=$OUT/$proto-$conns-$rep-$side.json
      timeout 60 $bin --proto $proto --target 127.0.0.1:$port --conns $conns --duration 5s --warmup 1s \
         --threads 1 --cores 0 -q --json $j > $OUT/$proto-$conns-$rep-$side.txt 2>&1
      load=$(cut -d' ' -f1 /proc/loadavg)
      python3 - "$j" "$proto $conns $rep $side" "$load" >> $OUT/results.txt <<'PY'
import json,sys
r=json.load(open(sys.argv[1])); m=r['throughput']['messages']; c=r['client_cpu_s']
print(sys.argv[2], round(m/c), m, round(c,3), sys.argv[3])
PY
    done
  done
done
