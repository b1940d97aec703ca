set -u
rspserver -echo -poolhandle=WrrPool -registrar=10.1.0.1:3863 -policy=WeightedRoundRobin:7 >/dev/null 2>&1 & P1=$!
rspserver -echo -poolhandle=WrrPool -registrar=10.1.0.2:3863 -policy=WeightedRoundRobin:3 >/dev/null 2>&1 & P2=$!
rspserver -echo -poolhandle=LudPool -registrar=10.1.0.2:3863 -policy=LeastUsedDegradation:0.25 >/dev/null 2>&1 & P3=$!
i=0
until hsdump 10.1.0.3:9901 2>/dev/null > /tmp/hs.txt && grep -q 'Pool "WrrPool".*(2 nodes)' /tmp/hs.txt && grep -q 'Pool "LudPool".*(1 nodes)' /tmp/hs.txt; do
  sleep 0.2; i=$((i+1)); [ $i -gt 100 ] && echo "=== timeout" && break
done
term() { (echo hi; sleep 0.3) | timeout 2 rspterminal -registrar=10.1.0.3:3863 -poolhandle=$1 -loglevel=5 2>&1 | sed -n '/Got 1 items/,/userT/p'; }
ours() { rserpool --json resolve $1 -r sctp://10.1.0.3:3863; }
for step in EchoPool EchoPool; do
  echo "=== ours $step"; ours $step
  echo "=== rspterminal $step"; term $step
done
for pool in WrrPool LudPool; do
  echo "=== ours $pool"; ours $pool
  echo "=== rspterminal $pool"; term $pool
done
kill -INT $P1 $P2 $P3; wait
