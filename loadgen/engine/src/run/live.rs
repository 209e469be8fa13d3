//! The coordinator's view of the measured phase, one second at a time: it merges
//! the workers' intervals of the same second (exactly, histograms included), prints
//! the live line on stderr once every worker has reported that second (or finished),
//! and keeps the merged intervals for the per-second series of the result. A UDP
//! run's line counts flows and adds the datagrams' fate (lost, late, duplicated,
//! reordered, corrupted) in that second.

use std::collections::BTreeMap;

use common::units::{fmt_count, fmt_micros};

use super::tally::Interval;
use super::worker::WorkerMsg;
use crate::result::{Proto, SecondSample};

/// Merges and prints the per-second intervals.
pub struct Live {
    /// Highest interval index each worker has reported.
    reported: Vec<Option<u64>>,
    /// Workers that will report nothing more.
    done: Vec<bool>,
    /// Intervals merged so far but not yet complete.
    pending: BTreeMap<u64, Interval>,
    /// Complete intervals, in order.
    pub intervals: Vec<Interval>,
    /// Print the live line on stderr.
    print: bool,
    /// Connections asked for (the denominator of "conns up").
    requested: u64,
    /// Also hands each completed interval to this (a split run's child forwards it).
    forward: Option<fn(&Interval)>,
    /// Connections given up as unserved in the intervals emitted so far.
    unserved: u64,
    /// TCP connections or UDP flows (what the line says).
    proto: Proto,
    /// Churn: each completed second records the host's TIME_WAIT sockets.
    time_wait: bool,
}

impl Live {
    /// A collector for `threads` workers of a run of `requested` connections (or
    /// flows) over `proto`.
    pub fn new(threads: usize, print: bool, requested: u64, proto: Proto) -> Self {
        Self {
            reported: vec![None; threads],
            done: vec![false; threads],
            pending: BTreeMap::new(),
            intervals: Vec::new(),
            print,
            requested,
            forward: None,
            unserved: 0,
            proto,
            time_wait: false,
        }
    }

    /// Churn: records the host's sockets in TIME_WAIT with every completed second.
    pub fn with_time_wait(mut self) -> Self {
        self.time_wait = true;
        self
    }

    /// Also hands every completed interval to `f`.
    pub fn forward_to(mut self, f: fn(&Interval)) -> Self {
        self.forward = Some(f);
        self
    }

    /// Takes one worker's message; prints what became complete.
    pub fn on_msg(&mut self, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Interval(w, iv) => {
                self.reported[w] = Some(iv.index);
                match self.pending.get_mut(&iv.index) {
                    Some(merged) => merged.merge(&iv),
                    None => {
                        self.pending.insert(iv.index, iv);
                    }
                }
            }
            WorkerMsg::Done(w) => self.done[w] = true,
        }
        self.emit_complete();
    }

    /// Whether every worker has finished.
    pub fn all_done(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    /// Emits every interval all workers have reported (or cannot report any more).
    fn emit_complete(&mut self) {
        while let Some((&index, _)) = self.pending.first_key_value() {
            let complete = self
                .reported
                .iter()
                .zip(&self.done)
                .all(|(r, done)| *done || r.is_some_and(|r| r >= index));
            if !complete {
                break;
            }
            if let Some((_, mut iv)) = self.pending.pop_first() {
                self.unserved += iv.unserved;
                if self.time_wait {
                    let tw = common::procfs::net::tcp_sockstat().map_or(0, |s| s.tw);
                    iv.churn.time_wait = iv.churn.time_wait.max(tw);
                }
                if self.print {
                    let prev = self.intervals.last().map_or(0.0, |p| p.end_s);
                    let text = match self.proto {
                        Proto::Tcp => line(&iv, prev, self.requested, self.unserved),
                        Proto::Udp => udp_line(&iv, prev, self.requested, self.unserved),
                    };
                    eprintln!("{text}");
                }
                if let Some(forward) = self.forward {
                    forward(&iv);
                }
                self.intervals.push(iv);
            }
        }
    }

    /// Emits whatever is left (call once every worker is done).
    pub fn finish(&mut self) {
        self.done.iter_mut().for_each(|d| *d = true);
        self.emit_complete();
    }
}

/// The per-second series of merged intervals (also a split run's, merged across
/// processes).
pub fn series_of(intervals: &[Interval], proto: Proto, churn: bool) -> Vec<SecondSample> {
    let mut unserved = 0;
    {
        intervals
            .iter()
            .map(|iv| SecondSample {
                t_s: iv.end_s,
                conns_up: iv.conns_up,
                conns_served: Some(iv.served),
                conns_unserved: Some({
                    unserved += iv.unserved;
                    unserved
                }),
                msgs: iv.msgs,
                p50_us: quantile_us(iv, 0.50),
                p99_us: quantile_us(iv, 0.99),
                errors: iv.errors,
                lost: (proto == Proto::Udp).then_some(iv.datagrams.lost),
                opened: churn.then_some(iv.churn.opened),
                closed: churn.then_some(iv.churn.closed),
                churn_failed: churn.then_some(iv.churn.failed),
                time_wait: churn.then_some(iv.churn.time_wait),
                latency: crate::result::encode_histogram(&iv.latency).ok(),
            })
            .collect()
    }
}

fn quantile_us(iv: &Interval, q: f64) -> f64 {
    if iv.latency.is_empty() {
        0.0
    } else {
        iv.latency.value_at_quantile(q) as f64 / 1e3
    }
}

/// `[  3s] conns 1000/1000 up, 1000 served | 55.2k msgs/s | p50 183.0 µs | p99 345.0 µs | errors 0`
/// (`, 15 unserved` after `served` once `unserved`, the running total, is not 0).
pub fn line(iv: &Interval, prev_end_s: f64, requested: u64, unserved: u64) -> String {
    let head = head(iv, prev_end_s, requested, unserved, "conns");
    let c = &iv.churn;
    if c.opened + c.closed + c.failed == 0 {
        return format!("{head} | errors {}", iv.errors);
    }
    // Churn: the second's new connections (and closes, failures) per second.
    let span = (iv.end_s - prev_end_s).max(1e-3);
    let per_s = |n: u64| fmt_count((n as f64 / span).round());
    let failed = if c.failed > 0 { format!(", {} failed", c.failed) } else { String::new() };
    format!(
        "{head} | churn {} new/s, {} closed/s{failed}, TIME_WAIT {} | errors {}",
        per_s(c.opened),
        per_s(c.closed),
        fmt_count(c.time_wait as f64),
        iv.errors
    )
}

/// The UDP line: `[  3s] flows 1000/1000 up, 1000 served | 55.2k msgs/s | p50 … |
/// p99 … | lost 12 (0.10%), late 0, dup 0, reordered 0, corrupted 0 | errors 0`.
pub fn udp_line(iv: &Interval, prev_end_s: f64, requested: u64, unserved: u64) -> String {
    let head = head(iv, prev_end_s, requested, unserved, "flows");
    let d = &iv.datagrams;
    let loss = d.loss_percent().map_or(String::new(), |p| format!(" ({p:.2}%)"));
    format!(
        "{head} | lost {}{loss}, late {}, dup {}, reordered {}, corrupted {} | errors {}",
        d.lost, d.late, d.duplicated, d.reordered, d.corrupted, iv.errors
    )
}

/// What both lines start with: the second, `units` up and served, the rate and
/// the latency (`no samples` when the second recorded none: an open loop that
/// runs behind its schedule records nothing until it catches up, never 0 ns).
fn head(iv: &Interval, prev_end_s: f64, requested: u64, unserved: u64, units: &str) -> String {
    let span = (iv.end_s - prev_end_s).max(1e-3);
    let unserved = if unserved > 0 { format!(", {unserved} unserved") } else { String::new() };
    let latency = if iv.latency.is_empty() {
        "no samples".to_string()
    } else {
        format!(
            "p50 {} | p99 {}",
            fmt_micros(quantile_us(iv, 0.50)),
            fmt_micros(quantile_us(iv, 0.99))
        )
    };
    format!(
        "[{:>4.0}s] {units} {}/{} up, {} served{unserved} | {} msgs/s | {latency}",
        iv.end_s.ceil(),
        iv.conns_up,
        requested,
        iv.served,
        fmt_count((iv.msgs as f64 / span).round()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::histogram::{new_histogram, record};

    fn iv(index: u64, msgs: u64, ns: u64) -> Interval {
        let mut latency = new_histogram();
        record(&mut latency, ns);
        Interval {
            index,
            end_s: (index + 1) as f64,
            conns_up: 1,
            served: 1,
            unserved: 0,
            latency,
            msgs,
            errors: 0,
            datagrams: Default::default(),
            churn: Default::default(),
        }
    }

    /// An interval is emitted only when both workers reported it (or finished), and
    /// the two halves are merged.
    #[test]
    fn merges_when_complete() {
        let mut live = Live::new(2, false, 2, Proto::Tcp);
        live.on_msg(WorkerMsg::Interval(0, iv(0, 10, 1_000)));
        assert!(live.intervals.is_empty());
        live.on_msg(WorkerMsg::Interval(1, iv(0, 5, 3_000)));
        assert_eq!(live.intervals.len(), 1);
        assert_eq!(live.intervals[0].msgs, 15);
        assert_eq!(live.intervals[0].latency.len(), 2);
        live.on_msg(WorkerMsg::Interval(0, iv(1, 1, 1_000)));
        live.on_msg(WorkerMsg::Done(1));
        assert_eq!(live.intervals.len(), 2);
        let s = series_of(&live.intervals, Proto::Tcp, false);
        assert_eq!((s[1].msgs, s[1].conns_up, s[1].lost), (1, 1, None));
        assert!(line(&live.intervals[0], 0.0, 2, 0).contains("conns 2/2 up, 2 served |"));
        assert!(
            line(&live.intervals[1], 1.0, 5, 3).contains("conns 1/5 up, 1 served, 3 unserved |")
        );
        // The series carries the running total of unserved connections.
        let mut given_up = live.intervals.clone();
        given_up[0].unserved = 2;
        given_up[1].unserved = 1;
        let s = series_of(&given_up, Proto::Tcp, false);
        assert_eq!((s[0].conns_unserved, s[1].conns_unserved), (Some(2), Some(3)));
    }

    /// The UDP line says flows and the datagrams' fate of its second.
    #[test]
    fn udp_line_counts_the_datagrams() {
        let mut one = iv(0, 90, 1_000);
        one.datagrams.answered = 90;
        one.datagrams.lost = 10;
        one.datagrams.duplicated = 2;
        one.errors = 1;
        one.datagrams.corrupted = 1;
        let text = udp_line(&one, 0.0, 4, 0);
        assert!(text.starts_with("[   1s] flows 1/4 up, 1 served | 90 msgs/s"), "{text}");
        assert!(
            text.ends_with(
                "| lost 10 (10.00%), late 0, dup 2, reordered 0, corrupted 1 | errors 1"
            ),
            "{text}"
        );
        assert_eq!(series_of(&[one], Proto::Udp, false)[0].lost, Some(10));
    }

    /// A second without a latency sample says so, never `p50 0 ns`.
    #[test]
    fn a_second_without_samples_says_so() {
        let mut empty = iv(0, 100, 1_000);
        empty.latency.reset();
        for text in [line(&empty, 0.0, 1, 0), udp_line(&empty, 0.0, 1, 0)] {
            assert!(text.contains("| 100 msgs/s | no samples |"), "{text}");
            assert!(!text.contains("p50") && !text.contains(" 0 ns"), "{text}");
        }
        assert!(line(&iv(0, 1, 1_000), 0.0, 1, 0).contains("| p50 1.0 µs | p99 1.0 µs |"));
    }
}
