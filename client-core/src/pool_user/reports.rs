//! Endpoint Unreachable reports (RFC 5352 §3.6), limited per element and
//! in total (RFC 5355 §2.13).

use super::*;

impl PoolUser {
    /// Reports a PE unreachable (RFC 5352 §3.6). A session's PE is also
    /// failed over.
    pub fn report_unreachable(&mut self, target: Unreachable, now: Duration) {
        match target {
            Unreachable::Element {
                pool_handle,
                element,
            } => self.report(pool_handle, element, now),
            Unreachable::Session(sid) => {
                self.session_failed(sid, FailoverReason::ReportedByApplication, now)
            }
        }
    }

    /// Drops the PE from the cache and sends an Endpoint Unreachable unless
    /// a limit refuses it (RFC 5355 §2.13).
    pub(super) fn report(
        &mut self,
        pool_handle: PoolHandle,
        element: PoolElementId,
        now: Duration,
    ) {
        self.cache_remove(&pool_handle, element);
        if self.eu_per.len() >= MAX_REPORT_BUCKETS {
            // `is_full` refills the bucket, so it needs `&mut`.
            let full: Vec<_> = self
                .eu_per
                .iter_mut()
                .filter_map(|(k, b)| b.is_full(now).then(|| k.clone()))
                .collect();
            for k in full {
                self.eu_per.remove(&k);
            }
        }
        let key = (pool_handle.clone(), element);
        let rate = self.cfg.unreachable_per_element;
        let bucket = self
            .eu_per
            .entry(key)
            .or_insert_with(|| TokenBucket::new(rate));
        let limit = if bucket.next_available(now) != Some(now) {
            Some(ReportLimit::PerElement)
        } else if !self.eu_total.try_acquire(now) {
            Some(ReportLimit::Total)
        } else {
            bucket.try_acquire(now);
            None
        };
        if let Some(limit) = limit {
            self.event(Event::ReportSuppressed {
                pool_handle,
                element,
                limit,
            });
            return;
        }
        if self.reports.len() >= MAX_QUEUED_REPORTS {
            self.event(Event::ReportSuppressed {
                pool_handle,
                element,
                limit: ReportLimit::Total,
            });
            return;
        }
        self.reports.push_back(EndpointUnreachable {
            pool_handle,
            pe_id: element,
        });
        self.ensure_registrar(now);
    }
}
