// Helpers for the live tests: failure injection inside the lab.
import { execFileSync } from "node:child_process";

// SIGKILL of the RSPLIB PE (rspserver) that listens on an SCTP port, inside
// the lab: /proc/net/sctp/eps maps the port to a socket inode, /proc/*/fd
// the inode to the process.
export function killPeOnPort(cli, port) {
  const script =
    `ino=$(awk -v p=${port} '$6 == p { print $8 }' /proc/net/sctp/eps | head -1); ` +
    `[ -n "$ino" ] || { echo "no SCTP endpoint on port ${port}" >&2; exit 1; }; ` +
    `for d in /proc/[0-9]*; do ls -l $d/fd 2>/dev/null | grep -q "socket:\\[$ino\\]" && kill -9 \${d#/proc/} && exit 0; done; exit 1`;
  execFileSync(cli, ["lab", "exec", "sh", "-c", script], { stdio: "inherit" });
}
