//! Opening one worker's UDP flows: a non-blocking UDP socket each, bound to its
//! source address when the layout gives one (the kernel picks the port for that
//! address), connected to its target (no handshake: the kernel fixes the
//! four-tuple and returns at once; from then on the socket receives only the
//! target's datagrams), registered READABLE. Paced to `--connect-rate` when given.
//! Failures count by errno name, as TCP connects do (EADDRNOTAVAIL or EADDRINUSE
//! when a source address's ports run out, EMFILE past the descriptor limit).

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::super::histogram::record;
use super::super::layout::ConnSpec;
use super::super::tally::Tally;
use super::super::transport::OpenPlan;
use super::flow::Flow;
use crate::errno::errno_name;

/// Receive buffer a flow asks for when the default one (net.core.rmem_default,
/// 208 KiB here) would not hold `pipeline` datagrams of `size` bytes with the
/// kernel's overhead; capped by the kernel at net.core.rmem_max.
fn receive_buffer(size: usize, pipeline: u32) -> Option<usize> {
    let want = pipeline as usize * (size + 4096);
    (want > 100 << 10).then_some(want)
}

/// Creates flow `spec`'s socket: bound, connected, non-blocking.
fn open(spec: &ConnSpec, rcvbuf: Option<usize>) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(spec.target);
    let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))?;
    if let Some(bytes) = rcvbuf {
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(src) = spec.source {
        socket.bind(&src.into())?;
    }
    socket.connect(&spec.target.into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

/// The settings of opening a thread's flows.
#[derive(Clone, Copy, Debug)]
pub struct Opening {
    /// Datagram size (with the pipeline, it sizes the receive buffer).
    pub size: usize,
    /// Datagrams in flight per flow, at most.
    pub pipeline: u32,
    /// This thread's share of `--connect-rate`; `None`: as fast as possible.
    pub rate_per_s: Option<f64>,
}

/// Opens this thread's flows; returns one [`Flow`] per spec (token = index),
/// each `Up` or `Dead`. Counts go to `tally`: established (socket connected),
/// failed by errno, the time each took; `stop` ends the phase early.
pub fn open_all(poll: &Poll, plan: OpenPlan<'_>, opening: Opening, tally: &mut Tally) -> Vec<Flow> {
    let OpenPlan { specs, clock, stop } = plan;
    let Opening { size, pipeline, rate_per_s } = opening;
    let rcvbuf = receive_buffer(size, pipeline);
    let began = clock.now_ns();
    let mut last_up = began;
    let mut flows = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            flows.push(Flow::dead(spec.id));
            continue;
        }
        if let Some(r) = rate_per_s {
            // Flow i is due i / r seconds after the start.
            let due = began + (i as f64 * 1e9 / r) as u64;
            std::thread::sleep(Duration::from_nanos(due.saturating_sub(clock.now_ns())));
        }
        let t = clock.now_ns();
        let opened = open(spec, rcvbuf).and_then(|mut s| {
            poll.registry().register(&mut s, Token(i), Interest::READABLE)?;
            Ok(s)
        });
        match opened {
            Ok(socket) => {
                let now = clock.now_ns();
                record(&mut tally.connect, now - t);
                tally.established += 1;
                if let Some(src) = spec.source {
                    tally.established_from(src.ip());
                }
                last_up = now;
                flows.push(Flow::up(socket, spec.id));
            }
            Err(e) => {
                tally.connect_failed(&errno_name(&e));
                flows.push(Flow::dead(spec.id));
            }
        }
    }
    tally.connect_s = (clock.now_ns() - began) as f64 / 1e9;
    tally.connect_up_s = (last_up - began) as f64 / 1e9;
    flows
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::super::super::clock::Clock;
    use super::*;

    /// Flows from one source address get distinct ports, each its own four-tuple
    /// to the one target; the default buffer does for small datagrams.
    #[test]
    fn every_flow_its_own_port() {
        let target = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = target.local_addr().expect("addr");
        let source = "127.0.0.2:0".parse().expect("addr");
        let specs: Vec<ConnSpec> = (0..20)
            .map(|id| ConnSpec { id, target_index: 0, target: addr, source: Some(source) })
            .collect();
        let poll = Poll::new().expect("poll");
        let mut tally = Tally::new(20);
        let stop = AtomicBool::new(false);
        let clock = Clock::start();
        let opening = Opening { size: 64, pipeline: 1, rate_per_s: None };
        let plan = OpenPlan { specs: &specs, clock: &clock, stop: &stop };
        let flows = open_all(&poll, plan, opening, &mut tally);
        assert_eq!((flows.len(), tally.established), (20, 20));
        let ports: std::collections::HashSet<u16> = flows
            .iter()
            .map(|f| match &f.state {
                super::super::flow::FlowState::Up { socket, .. } => {
                    let local = socket.local_addr().expect("local");
                    assert_eq!(local.ip(), source.ip());
                    assert_eq!(socket.peer_addr().expect("peer"), addr);
                    local.port()
                }
                super::super::flow::FlowState::Dead => panic!("a flow failed"),
            })
            .collect();
        assert_eq!(ports.len(), 20);
        assert_eq!(tally.per_source["127.0.0.2"], 20);
        assert_eq!(receive_buffer(64, 1), None);
        assert!(receive_buffer(65_507, 4).is_some());
    }
}
