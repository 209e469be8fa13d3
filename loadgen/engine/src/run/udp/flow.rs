//! One UDP flow: a connected UDP socket from its own ephemeral port (so its own
//! four-tuple), inside its `Up` state (a dead flow holds none); where its stream
//! of datagrams stands; and what an arriving datagram is to it ([`Arrival`]): the
//! answer to a datagram in flight, a duplicate, a late answer (after its datagram
//! was counted lost), or corrupted.
//!
//! Datagram `seq` of a flow is message `seq` of the payload layout (header: flow
//! id, seq, size; body: the pattern), one per datagram. Invariants: at most
//! `pipeline` datagrams of a flow are in flight, datagram `seq` in window slot
//! `seq % pipeline` (so `seq + pipeline` waits until `seq` is answered or lost);
//! `in_flight` is the number of the flow's slots in use; the history bits describe
//! the [`HISTORY`] datagrams before `send_seq`; `top` only grows.

use std::io;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::super::payload::{read_header, Pattern};

/// Datagrams before `send_seq` whose fate a flow remembers (answered or not, and
/// measured or not), to tell a duplicate from a late answer.
pub const HISTORY: u64 = 64;
/// The sequence number of a free window slot (never sent: ids run from 0 up).
const FREE: u64 = u64::MAX;

/// Where a flow is in its life, with its socket while it has one.
#[derive(Debug)]
pub enum FlowState {
    /// Its socket is connected to the target: it carries datagrams.
    Up {
        /// The socket, registered with the thread's poll (READABLE; WRITABLE too
        /// while `blocked`).
        socket: UdpSocket,
        /// Open loop: this flow's slot in the thread's schedule.
        slot: u32,
        /// A send found the socket buffer full: the flow waits for WRITABLE.
        blocked: bool,
    },
    /// Failed or closed; the socket is gone (closing it left the poll too).
    Dead,
}

/// A datagram in flight: the window slot it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Its sequence number ([`FREE`]: the slot holds none).
    seq: u64,
    /// Run-clock nanoseconds when it was sent.
    pub sent_ns: u64,
    /// Whether it belongs to the measured phase (its latency and fate count).
    pub measured: bool,
}

/// The window slots of a thread's flows: `pipeline` per flow, flow `i`'s from
/// `i * pipeline`. One allocation per thread, none per datagram.
#[derive(Debug)]
pub struct Window {
    /// Every flow's slots, flow after flow.
    slots: Vec<Slot>,
    /// Slots per flow.
    pipeline: usize,
}

impl Window {
    /// Free slots for `flows` flows of `pipeline` datagrams in flight each.
    pub fn new(flows: usize, pipeline: usize) -> Self {
        let free = Slot { seq: FREE, sent_ns: 0, measured: false };
        Self { slots: vec![free; flows * pipeline.max(1)], pipeline: pipeline.max(1) }
    }

    /// Flow `i`'s slots.
    #[inline]
    pub fn of(&mut self, i: usize) -> &mut [Slot] {
        &mut self.slots[i * self.pipeline..(i + 1) * self.pipeline]
    }

    /// The slot of datagram `seq` of flow `i`, while it is in flight.
    #[inline]
    pub fn in_flight(&self, i: usize, seq: u64) -> Option<Slot> {
        let slot = self.slots[i * self.pipeline + (seq % self.pipeline as u64) as usize];
        (slot.seq == seq).then_some(slot)
    }
}

/// What an arriving datagram is to its flow. `bad_at`: the offset of its first
/// byte that differs from what was sent (its length, when only that differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The answer to datagram `seq`, in flight until now (its slot is freed).
    Answer {
        /// Which datagram.
        seq: u64,
        /// When it was sent.
        sent_ns: u64,
        /// Whether it belongs to the measured phase.
        measured: bool,
        /// A later datagram of the flow was answered before it.
        reordered: bool,
        /// Where it first differs, if it does.
        bad_at: Option<usize>,
    },
    /// Another answer to a datagram already answered. `measured`: whether that
    /// datagram belongs to the measured phase (`None`: past the history).
    Duplicate {
        /// See above.
        measured: Option<bool>,
        /// Where it first differs, if it does.
        bad_at: Option<usize>,
    },
    /// An answer to a datagram counted lost before it came (or one past the
    /// history, whose fate is forgotten).
    Late {
        /// Whether that datagram belongs to the measured phase (`None`: past the
        /// history).
        measured: Option<bool>,
        /// When it was sent, if it was the flow's latest loss (so the loss timeout
        /// can learn from the round trip).
        sent_ns: Option<u64>,
        /// Where it first differs, if it does.
        bad_at: Option<usize>,
    },
    /// Not a datagram of this flow that was sent: shorter than a header, another
    /// flow's id or size, or a sequence number never sent. Corrupted; the datagram
    /// it was meant to answer, if any, stays in flight (and may be lost).
    Foreign,
}

/// One UDP flow of a worker thread.
#[derive(Debug)]
pub struct Flow {
    /// Life-cycle state and the socket.
    pub state: FlowState,
    /// Flow id carried in every datagram's header (unique within the run).
    pub id: u32,
    /// Datagrams sent so far (the next one's sequence number).
    pub send_seq: u64,
    /// Datagrams in flight (window slots in use).
    pub in_flight: u32,
    /// Whether the server has answered it at least once.
    pub served: bool,
    /// Bit `b`: datagram `send_seq - 1 - b` has been answered.
    answered_bits: u64,
    /// Bit `b`: datagram `send_seq - 1 - b` belongs to the measured phase.
    measured_bits: u64,
    /// One more than the highest sequence number answered in time (0: none).
    top: u64,
    /// The latest datagram lost: its sequence number and send time ([`FREE`]:
    /// none).
    last_lost: (u64, u64),
}

impl Flow {
    /// A flow on `socket` (registered), slot 0 until [`Flow::set_slot`].
    pub fn up(socket: UdpSocket, id: u32) -> Self {
        Self::with(FlowState::Up { socket, slot: 0, blocked: false }, id)
    }

    /// A flow that never got a socket (opening it failed).
    pub fn dead(id: u32) -> Self {
        Self::with(FlowState::Dead, id)
    }

    fn with(state: FlowState, id: u32) -> Self {
        Self {
            state,
            id,
            send_seq: 0,
            in_flight: 0,
            served: false,
            answered_bits: 0,
            measured_bits: 0,
            top: 0,
            last_lost: (FREE, 0),
        }
    }

    /// Whether it carries datagrams.
    #[inline]
    pub fn is_up(&self) -> bool {
        matches!(self.state, FlowState::Up { .. })
    }

    /// Open loop: gives an `Up` flow its slot in the thread's schedule.
    pub fn set_slot(&mut self, to: u32) {
        if let FlowState::Up { slot, .. } = &mut self.state {
            *slot = to;
        }
    }

    /// Its slot in the thread's schedule (0 unless `Up`).
    #[inline]
    pub fn slot(&self) -> u32 {
        match self.state {
            FlowState::Up { slot, .. } => slot,
            FlowState::Dead => 0,
        }
    }

    /// Whether datagram `send_seq` may go out: its window slot is free.
    #[inline]
    pub fn window_open(&self, slots: &[Slot]) -> bool {
        slots[(self.send_seq % slots.len() as u64) as usize].seq == FREE
    }

    /// Sends one datagram. `WouldBlock`: the socket buffer is full; the flow then
    /// waits for WRITABLE (see [`Flow::writable`]), so no event is asked for while
    /// sends go through (a UDP socket reports WRITABLE each time a sent datagram
    /// is freed).
    pub fn send(&mut self, datagram: &[u8], registry: &Registry, token: Token) -> io::Result<()> {
        let FlowState::Up { socket, blocked, .. } = &mut self.state else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        match socket.send(datagram) {
            // A datagram goes whole or not at all.
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !*blocked {
                    registry.reregister(socket, token, Interest::READABLE | Interest::WRITABLE)?;
                    *blocked = true;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// A WRITABLE event: a blocked flow stops asking for them.
    pub fn writable(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        if let FlowState::Up { socket, blocked, .. } = &mut self.state {
            if *blocked {
                registry.reregister(socket, token, Interest::READABLE)?;
                *blocked = false;
            }
        }
        Ok(())
    }

    /// The address its socket is bound to (`None` once dead).
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        match &self.state {
            FlowState::Up { socket, .. } => socket.local_addr().ok().map(|a| a.ip()),
            FlowState::Dead => None,
        }
    }

    /// Receives one datagram into `buf` (a connected socket: only the target's).
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.state {
            FlowState::Up { socket, .. } => socket.recv(buf),
            FlowState::Dead => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Datagram `send_seq` went out at `now_ns`: it takes its window slot.
    /// Returns its sequence number.
    pub fn sent(&mut self, slots: &mut [Slot], now_ns: u64, measured: bool) -> u64 {
        let seq = self.send_seq;
        slots[(seq % slots.len() as u64) as usize] = Slot { seq, sent_ns: now_ns, measured };
        self.send_seq += 1;
        self.in_flight += 1;
        self.answered_bits <<= 1;
        self.measured_bits = (self.measured_bits << 1) | u64::from(measured);
        seq
    }

    /// Datagram `seq` had no answer in time: its slot is freed. Whether it
    /// belongs to the measured phase; `None` when it is not in flight (answered).
    pub fn lose(&mut self, seq: u64, slots: &mut [Slot]) -> Option<bool> {
        let slot = &mut slots[(seq % slots.len() as u64) as usize];
        if slot.seq != seq {
            return None;
        }
        slot.seq = FREE;
        self.in_flight -= 1;
        self.last_lost = (seq, slot.sent_ns);
        Some(slot.measured)
    }

    /// Reads what `data`, just received, is to this flow; an answer frees its slot.
    pub fn receive(&mut self, data: &[u8], pattern: &Pattern, slots: &mut [Slot]) -> Arrival {
        let size = pattern.size();
        let Some((id, seq, claimed)) = read_header(data) else { return Arrival::Foreign };
        if id != self.id || claimed as usize != size || seq >= self.send_seq {
            return Arrival::Foreign;
        }
        let n = data.len().min(size);
        let bad_at = pattern.check(id, seq, 0, &data[..n]).or((data.len() != size).then_some(n));
        let slot = &mut slots[(seq % slots.len() as u64) as usize];
        if slot.seq == seq {
            let Slot { sent_ns, measured, .. } = *slot;
            slot.seq = FREE;
            self.in_flight -= 1;
            let reordered = seq + 1 < self.top;
            self.top = self.top.max(seq + 1);
            self.mark_answered(seq);
            return Arrival::Answer { seq, sent_ns, measured, reordered, bad_at };
        }
        let back = self.send_seq - 1 - seq;
        let known = back < HISTORY;
        let measured = known.then(|| self.measured_bits >> back & 1 == 1);
        if known && self.answered_bits >> back & 1 == 1 {
            return Arrival::Duplicate { measured, bad_at };
        }
        self.mark_answered(seq);
        let sent_ns = (self.last_lost.0 == seq).then_some(self.last_lost.1);
        Arrival::Late { measured, sent_ns, bad_at }
    }

    /// Remembers that datagram `seq` was answered (a later copy is a duplicate).
    fn mark_answered(&mut self, seq: u64) {
        let back = self.send_seq - 1 - seq;
        if back < HISTORY {
            self.answered_bits |= 1 << back;
        }
    }

    /// Closes the socket (which also leaves the poll) and frees the flow's slots;
    /// returns how many datagrams were in flight.
    pub fn close(&mut self, slots: &mut [Slot]) -> u32 {
        self.state = FlowState::Dead;
        slots.iter_mut().for_each(|s| s.seq = FREE);
        std::mem::take(&mut self.in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 40;

    /// A flow on a real loopback socket (never used to send here).
    fn flow(id: u32) -> Flow {
        let std = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        std.connect(std.local_addr().expect("addr")).expect("connect");
        std.set_nonblocking(true).expect("nonblocking");
        Flow::up(UdpSocket::from_std(std), id)
    }

    fn datagram(p: &Pattern, id: u32, seq: u64) -> Vec<u8> {
        let mut d = vec![0u8; SIZE];
        p.fill(id, seq, &mut d);
        d
    }

    /// Answers free their slots; a second copy is a duplicate; an answer after
    /// an answer to a later datagram is reordered; one after its loss is late.
    #[test]
    fn answers_duplicates_reorders_and_late() {
        let p = Pattern::new(SIZE);
        let mut window = Window::new(1, 4);
        let mut f = flow(7);
        for t in 0..4 {
            assert!(f.window_open(window.of(0)));
            assert_eq!(f.sent(window.of(0), 100 + t, t != 0), t);
        }
        assert!(!f.window_open(window.of(0)), "four in flight fill the window");
        assert_eq!(window.in_flight(0, 2).map(|s| s.sent_ns), Some(102));
        let got = f.receive(&datagram(&p, 7, 1), &p, window.of(0));
        let answer = Arrival::Answer {
            seq: 1,
            sent_ns: 101,
            measured: true,
            reordered: false,
            bad_at: None,
        };
        assert_eq!(got, answer);
        assert_eq!(f.in_flight, 3);
        assert!(!f.window_open(window.of(0)), "datagram 4 waits for datagram 0's slot");
        let again = f.receive(&datagram(&p, 7, 1), &p, window.of(0));
        assert_eq!(again, Arrival::Duplicate { measured: Some(true), bad_at: None });
        let first = f.receive(&datagram(&p, 7, 0), &p, window.of(0));
        assert!(matches!(first, Arrival::Answer { seq: 0, measured: false, reordered: true, .. }));
        assert!(f.window_open(window.of(0)));
        assert_eq!(f.lose(2, window.of(0)), Some(true));
        assert_eq!(f.lose(2, window.of(0)), None, "lost once");
        let late = f.receive(&datagram(&p, 7, 2), &p, window.of(0));
        let sent_ns = Some(102);
        assert_eq!(late, Arrival::Late { measured: Some(true), sent_ns, bad_at: None });
        let late_again = f.receive(&datagram(&p, 7, 2), &p, window.of(0));
        assert!(matches!(late_again, Arrival::Duplicate { .. }), "{late_again:?}");
        assert_eq!(f.in_flight, 1);
        assert_eq!(f.close(window.of(0)), 1);
        assert!(!f.is_up() && window.in_flight(0, 3).is_none());
    }

    /// A flipped byte or a wrong length is found where it is; another flow's
    /// datagram, a sequence number never sent, or a stub is foreign.
    #[test]
    fn corruption_is_found() {
        let p = Pattern::new(SIZE);
        let mut window = Window::new(1, 2);
        let mut f = flow(3);
        f.sent(window.of(0), 0, true);
        f.sent(window.of(0), 0, true);
        let mut bad = datagram(&p, 3, 0);
        bad[30] ^= 1;
        let got = f.receive(&bad, &p, window.of(0));
        assert!(matches!(got, Arrival::Answer { seq: 0, bad_at: Some(30), .. }), "{got:?}");
        let short = &datagram(&p, 3, 1)[..SIZE - 1];
        let got = f.receive(short, &p, window.of(0));
        assert!(matches!(got, Arrival::Answer { seq: 1, bad_at: Some(39), .. }), "{got:?}");
        for foreign in [datagram(&p, 4, 0), datagram(&p, 3, 2), vec![0u8; 15]] {
            assert_eq!(f.receive(&foreign, &p, window.of(0)), Arrival::Foreign);
        }
    }

    /// Past the history, an answer's fate is forgotten: late, phase unknown.
    #[test]
    fn past_the_history_is_late() {
        let p = Pattern::new(SIZE);
        let mut window = Window::new(1, 1);
        let mut f = flow(1);
        for seq in 0..=HISTORY {
            f.sent(window.of(0), 0, true);
            f.lose(seq, window.of(0));
        }
        let got = f.receive(&datagram(&p, 1, 0), &p, window.of(0));
        assert_eq!(got, Arrival::Late { measured: None, sent_ns: None, bad_at: None });
    }

    /// A flow stays small: no buffer, the socket inside its state.
    #[test]
    fn small() {
        // mio adds a selector id to every socket in debug builds.
        let most = if cfg!(debug_assertions) { 96 } else { 80 };
        assert!(std::mem::size_of::<Flow>() <= most, "{}", std::mem::size_of::<Flow>());
    }
}
