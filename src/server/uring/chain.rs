//! The buffers a connection holds toward its peer, in order: a FIFO chain per
//! connection, linked through one table indexed by buffer id, so holding a buffer
//! allocates nothing and a connection carries only its chain's two ends.
//!
//! Invariants: a buffer id is in at most one chain (a [`Buf`] is moved in and moved
//! out); the front of a chain is the buffer being sent, `sent` bytes of it already
//! gone; [`Chains::advance`] hands a buffer back only once all of it was sent.

use super::ring::Buf;

/// No buffer: the end of a chain.
const NONE: u16 = u16::MAX;

/// One connection's chain: its two ends in the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The buffer being sent, or [`NONE`].
    head: u16,
    /// The last buffer received, or [`NONE`].
    tail: u16,
}

impl Chain {
    /// An empty chain.
    pub(crate) const EMPTY: Chain = Chain { head: NONE, tail: NONE };

    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NONE
    }
}

/// A held buffer's place in the table.
#[derive(Debug, Default)]
struct Link {
    /// The buffer, while some chain holds it.
    buf: Option<Buf>,
    /// Bytes of it already sent (the front only).
    sent: u32,
    /// The next buffer of the same chain, or [`NONE`].
    next: u16,
}

/// Every chain of one worker: one link per provided buffer.
#[derive(Debug)]
pub(crate) struct Chains {
    /// Indexed by buffer id.
    links: Box<[Link]>,
    /// Bytes of every buffer in a chain (what the worker holds toward its peers).
    bytes: u64,
}

impl Chains {
    /// A table for `buffers` buffer ids.
    pub(crate) fn new(buffers: u16) -> Chains {
        Chains { links: (0..buffers).map(|_| Link::default()).collect(), bytes: 0 }
    }

    /// Bytes of every buffer in a chain: what the worker holds toward its peers.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `buf` to `chain`.
    pub(crate) fn push(&mut self, chain: &mut Chain, buf: Buf) {
        let id = buf.id();
        let link = &mut self.links[usize::from(id)];
        debug_assert!(link.buf.is_none(), "buffer {id} is in a chain already");
        self.bytes += u64::from(buf.len());
        *link = Link { buf: Some(buf), sent: 0, next: NONE };
        match chain.tail {
            NONE => chain.head = id,
            tail => self.links[usize::from(tail)].next = id,
        }
        chain.tail = id;
    }

    /// The front buffer and how much of it was sent.
    pub(crate) fn front(&self, chain: &Chain) -> Option<(&Buf, u32)> {
        let link = self.links.get(usize::from(chain.head))?;
        Some((link.buf.as_ref()?, link.sent))
    }

    /// Counts `n` more bytes of the front as sent; returns the front once all of it
    /// was, taken off the chain.
    pub(crate) fn advance(&mut self, chain: &mut Chain, n: u32) -> Option<Buf> {
        let link = self.links.get_mut(usize::from(chain.head))?;
        let len = link.buf.as_ref()?.len();
        link.sent = (link.sent + n).min(len);
        if link.sent < len {
            return None;
        }
        self.pop(chain)
    }

    /// Takes the front off the chain, sent or not.
    pub(crate) fn pop(&mut self, chain: &mut Chain) -> Option<Buf> {
        let link = self.links.get_mut(usize::from(chain.head))?;
        let buf = link.buf.take();
        self.bytes -= buf.as_ref().map_or(0, |b| u64::from(b.len()));
        chain.head = link.next;
        if chain.head == NONE {
            chain.tail = NONE;
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers come out in the order they went in, each once all of it was sent;
    /// two chains sharing the table do not mix.
    #[test]
    fn fifo_per_connection() {
        let mut chains = Chains::new(8);
        let (mut a, mut b) = (Chain::EMPTY, Chain::EMPTY);
        chains.push(&mut a, Buf::for_test(3, 10));
        chains.push(&mut b, Buf::for_test(5, 4));
        chains.push(&mut a, Buf::for_test(1, 6));
        assert_eq!(chains.front(&a).map(|(buf, sent)| (buf.id(), sent)), Some((3, 0)));
        assert_eq!(chains.advance(&mut a, 4), None, "4 of 10 sent");
        assert_eq!(chains.front(&a).map(|(_, sent)| sent), Some(4));
        assert_eq!(chains.advance(&mut a, 6).map(|b| b.id()), Some(3));
        assert_eq!(chains.advance(&mut a, 6).map(|b| b.id()), Some(1));
        assert!(a.is_empty() && chains.front(&a).is_none());
        assert_eq!(chains.held_bytes(), 4, "b's buffer");
        assert_eq!(chains.pop(&mut b).map(|b| b.id()), Some(5), "unsent, taken anyway");
        assert!(b.is_empty());
        assert_eq!(chains.held_bytes(), 0);
        chains.push(&mut a, Buf::for_test(3, 2));
        assert_eq!(chains.front(&a).map(|(buf, sent)| (buf.id(), sent)), Some((3, 0)));
    }
}
