# Runs inside the lab VM, whose kernel has SCTP: the lab's native mode
# (what `rserpool lab up` does on an SCTP-capable host), from the same
# binaries, then `lab down`, then counts what is left behind.
export RSERPOOL_LAB_MODE=native RSERPOOL_LAB_GUEST_BIN=/share/bin RSERPOOL_LAB_CACHE=/tmp/native-lab
rserpool --json lab up > /tmp/native-up.json 2> /tmp/native-up.err &
i=0
until [ -s /tmp/native-up.json ] || [ $i -gt 300 ]; do sleep 0.2; i=$((i+1)); done
echo "=== up"; cat /tmp/native-up.json /tmp/native-up.err
echo "=== sctp"; rserpool --json resolve EchoPool -r sctp://10.1.0.3:3863
ca=$(sed -n 's/.*"gateway_ca":"\([^"]*\)".*/\1/p' /tmp/native-up.json)
echo "=== wss"; rserpool --json resolve EchoPool -r wss://localhost:8443/asap/2 --ca "$ca"
rserpool lab down > /dev/null
sleep 1
echo "=== left"
# (The VM lab's own agent, which runs this script, is our parent.)
ps -o pid,comm | grep -E "rspregistrar|rspserver|rserpool-gatewa|rserpool-lab-ag" | grep -v "^ *$PPID " || true
echo "=== end"
