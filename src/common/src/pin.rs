//! CPU pinning shared by echod's and loadgen's workers: which cores a thread may run
//! on, parsing `--cores 0,2-3`, and pinning the calling thread with core_affinity.
//! Worker `i` gets the `i`-th allowed core, wrapping around.

use core_affinity::CoreId;

/// The cores this process may run on, in ascending id order.
pub fn allowed_cores() -> Vec<usize> {
    let mut ids: Vec<usize> =
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        ids.push(0);
    }
    ids
}

/// Parses a core list such as `0`, `0,2`, `1-3` or `0,2-3`. Returns the ids in the
/// order given, without duplicates.
pub fn parse_core_list(text: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("'{text}' is not a core list: use ids and ranges, e.g. 0 or 0,2-3");
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
        if lo > hi || hi > 4095 {
            return Err(bad());
        }
        for id in lo..=hi {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// The core worker `index` is pinned to: the `index`-th entry of `cores`, wrapping.
pub fn core_for(index: usize, cores: &[usize]) -> usize {
    cores[index % cores.len()]
}

/// Pins the calling thread to `core`. Returns false when the kernel refused
/// (the caller reports it: core_affinity only says yes or no).
pub fn pin_current_thread(core: usize) -> bool {
    core_affinity::set_for_current(CoreId { id: core })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists and ranges parse in order, without duplicates; junk is refused.
    #[test]
    fn core_lists() {
        assert_eq!(parse_core_list("0"), Ok(vec![0]));
        assert_eq!(parse_core_list("0,2-3"), Ok(vec![0, 2, 3]));
        assert_eq!(parse_core_list("1,1,0"), Ok(vec![1, 0]));
        assert!(parse_core_list("3-1").is_err());
        assert!(parse_core_list("a").is_err());
        assert!(parse_core_list("").is_err());
    }

    /// Workers wrap around the allowed cores.
    #[test]
    fn wrapping() {
        assert_eq!(core_for(0, &[0, 1]), 0);
        assert_eq!(core_for(3, &[0, 1]), 1);
        assert!(!allowed_cores().is_empty());
    }
}
