//! The pool elements' load as the PEs' side of the kernel's SCTP
//! association table shows it (`/proc/net/sctp/assocs` inside the lab,
//! where every PE and pool user shares one kernel): how many established
//! associations each PE's user port holds, whoever opened them. This is
//! the provider's view the RFC 5355 §2.17 scenarios need: a biased pool
//! user's sessions count as much as the workload's.

use std::collections::{BTreeMap, BTreeSet};

/// The kernel's table of SCTP associations.
pub const SCTP_ASSOCIATIONS: &str = "/proc/net/sctp/assocs";

/// Established associations per local port in `ports`, from the text of
/// `/proc/net/sctp/assocs` (`ASSOC SOCK STY SST ST HBKT ASSOC-ID TX_QUEUE
/// RX_QUEUE UID INODE LPORT RPORT …`; ST 3 is ESTABLISHED). A pool user's
/// own end of the same association has the PE's port as RPORT and is not
/// counted.
pub fn associations_per_port(text: &str, ports: &BTreeSet<u16>) -> BTreeMap<u16, usize> {
    let mut out: BTreeMap<u16, usize> = ports.iter().map(|p| (*p, 0)).collect();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() <= 12 || cols[4] != "3" {
            continue;
        }
        if let Some(n) = cols[11].parse::<u16>().ok().and_then(|p| out.get_mut(&p)) {
            *n += 1;
        }
    }
    out
}

/// The busiest PE's share of all the PEs' associations (0 without any).
pub fn busiest_share(per_port: &BTreeMap<u16, usize>) -> f64 {
    let total: usize = per_port.values().sum();
    match per_port.values().max() {
        Some(max) if total > 0 => *max as f64 / total as f64,
        _ => 0.0,
    }
}

/// Reads the table now: `(busiest_share, associations in all)`, or `None`
/// where the kernel has no such table (no SCTP).
pub fn sample(ports: &BTreeSet<u16>) -> Option<(f64, usize)> {
    let text = std::fs::read_to_string(SCTP_ASSOCIATIONS).ok()?;
    let per = associations_per_port(&text, ports);
    Some((busiest_share(&per), per.values().sum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as Linux 6.1 prints them (header, then one per association).
    const TABLE: &str = " ASSOC     SOCK   STY SST ST HBKT ASSOC-ID TX_QUEUE RX_QUEUE UID INODE LPORT RPORT LADDRS <-> RADDRS HBINT INS OUTS MAXRT T1X T2X RTXC wmema wmemq sndbuf rcvbuf\n\
ffff8880 ffff8881 2   1   3  1234   17        0        0       0 1001 40001  3863  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n\
ffff8882 ffff8883 2   1   3  1235   18        0        0       0 1002 40001 51000  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n\
ffff8884 ffff8885 2   1   3  1236   19        0        0       0 1003 40001 51001  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n\
ffff8886 ffff8887 1   10  3  1237   20        0        0       0 1004 51001 40001  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n\
ffff8888 ffff8889 2   1   3  1238   21        0        0       0 1005 40002 51002  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n\
ffff888a ffff888b 2   1   2  1239   22        0        0       0 1006 40002 51003  10.1.0.1 <-> *10.1.0.1 7500 10 10 10 0 0 0 1 0 212992 212992\n";

    #[test]
    fn counts_the_pe_side_of_established_associations_per_pe_port() {
        let ports: BTreeSet<u16> = [40001, 40002, 40003].into();
        let per = associations_per_port(TABLE, &ports);
        // 40001: three established at its end, whoever the peer; the pool
        // user's end of one of them (LPORT 51001) is not counted, nor
        // 40002's second line (not established).
        assert_eq!(per[&40001], 3);
        assert_eq!(per[&40002], 1);
        assert_eq!(per[&40003], 0);
        assert_eq!(busiest_share(&per), 0.75);
    }

    #[test]
    fn no_associations_is_no_skew() {
        assert_eq!(busiest_share(&BTreeMap::new()), 0.0);
        assert_eq!(busiest_share(&[(1, 0), (2, 0)].into()), 0.0);
        assert_eq!(associations_per_port("garbage\n\n", &[1].into())[&1], 0);
    }
}
