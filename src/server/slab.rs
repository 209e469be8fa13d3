//! A minimal slab: connections stored in one `Vec`, indexed by their mio `Token`,
//! vacant slots chained in a free list so a closed connection's slot is reused and
//! the vector grows only with the peak number of open connections.

/// One slot: a value, or the index of the next vacant slot.
#[derive(Debug)]
enum Slot<T> {
    /// Holds a live value.
    Full(T),
    /// Vacant; the next vacant slot's index (`usize::MAX` ends the list).
    Free(usize),
}

/// Values addressed by a stable index.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    /// The slots, live and vacant.
    slots: Vec<Slot<T>>,
    /// First vacant slot, or `usize::MAX`.
    free: usize,
    /// Live values.
    len: usize,
}

impl<T> Slab<T> {
    /// An empty slab.
    pub(crate) fn new() -> Slab<T> {
        Slab { slots: Vec::new(), free: usize::MAX, len: 0 }
    }

    /// The index the next `insert` will use.
    pub(crate) fn vacant_key(&self) -> usize {
        if self.free == usize::MAX {
            self.slots.len()
        } else {
            self.free
        }
    }

    /// Stores `value` at `vacant_key()` and returns that index.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        let key = self.vacant_key();
        if key == self.slots.len() {
            self.slots.push(Slot::Full(value));
        } else {
            match std::mem::replace(&mut self.slots[key], Slot::Full(value)) {
                Slot::Free(next) => self.free = next,
                Slot::Full(_) => unreachable!("free list points at a full slot"),
            }
        }
        self.len += 1;
        key
    }

    /// The value at `key`, if live.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.slots.get_mut(key) {
            Some(Slot::Full(v)) => Some(v),
            _ => None,
        }
    }

    /// Takes the value at `key` out, if live.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        match self.slots.get(key) {
            Some(Slot::Full(_)) => {}
            _ => return None,
        }
        let old = std::mem::replace(&mut self.slots[key], Slot::Free(self.free));
        self.free = key;
        self.len -= 1;
        match old {
            Slot::Full(v) => Some(v),
            Slot::Free(_) => None,
        }
    }

    /// One past the highest key in use or ever used: every live key is below it.
    pub(crate) fn key_bound(&self) -> usize {
        self.slots.len()
    }

    /// Live values.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes every live value out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free = usize::MAX;
        self.len = 0;
        self.slots.drain(..).filter_map(|s| match s {
            Slot::Full(v) => Some(v),
            Slot::Free(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removed slots are reused before the vector grows.
    #[test]
    fn slots_are_reused() {
        let mut s = Slab::new();
        let a = s.insert('a');
        let b = s.insert('b');
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.vacant_key(), a);
        assert_eq!(s.insert('c'), a);
        assert_eq!(s.get_mut(b), Some(&mut 'b'));
        assert_eq!(s.len(), 2);
        assert_eq!(s.drain().count(), 2);
        assert_eq!(s.len(), 0);
    }
}
