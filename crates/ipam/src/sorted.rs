//! Sorted vectors changed in a few places: the outcomes of an allocation and
//! the decisions and routes of a plan hold 100,000 items, of which an edit
//! changes one or two.

/// The capacity to give a vector of `n` items that [`patch`] will change:
/// with room for a few edits, so that the first ones after a full run do
/// not move 100,000 items to a new allocation (touching every page of it)
/// before the routers hear of them.
pub fn room_for_edits(n: usize) -> usize {
    n + n / 32 + 8
}

/// Removes the items of `items` at `gone` (sorted indices) and puts those of
/// `fresh` (sorted) in their places; `before(item, new)` says whether an
/// item goes before a new one. The result is sorted if `items` was.
///
/// A few changes are made in place: an item replaced by one that takes its
/// place costs nothing, a removal or an insertion one move of the items
/// after it. Many are merged into a new vector in one pass, the places found
/// by binary search so that the items are moved, not compared (comparing
/// 100,000 names, each behind a pointer, costs more than the rest of an edit).
pub fn patch<T>(items: &mut Vec<T>, gone: &[usize], fresh: Vec<T>, before: impl Fn(&T, &T) -> bool) {
    let places: Vec<usize> = fresh.iter().map(|f| items.partition_point(|o| before(o, f))).collect();
    if gone.len() + fresh.len() > IN_PLACE {
        merge(items, gone, fresh, &places);
        return;
    }
    let mut removed: Vec<usize> = Vec::with_capacity(gone.len());
    let mut inserted = Vec::new();
    for (new, place) in fresh.into_iter().zip(places) {
        // A new item that lands on one that goes simply replaces it.
        match gone.binary_search(&place) {
            Ok(_) if !removed.contains(&place) => {
                items[place] = new;
                removed.push(place);
            }
            // After the one that took this place: it is smaller.
            _ if removed.contains(&place) => inserted.push((place + 1, new)),
            _ => inserted.push((place, new)),
        }
    }
    // From the back, so that the places in front stay right.
    let mut removals = gone.iter().copied().filter(|i| !removed.contains(i)).rev().peekable();
    for (place, new) in inserted.into_iter().rev() {
        while let Some(i) = removals.next_if(|&i| i >= place) {
            items.remove(i);
        }
        items.insert(place, new);
    }
    for i in removals {
        items.remove(i);
    }
}

/// Beyond this many removals and insertions, [`patch`] merges into a new vector.
const IN_PLACE: usize = 8;

fn merge<T>(items: &mut Vec<T>, gone: &[usize], fresh: Vec<T>, places: &[usize]) {
    let old = std::mem::take(items);
    items.reserve_exact(old.len() + fresh.len());
    let mut fresh = fresh.into_iter().zip(places.iter().copied()).peekable();
    let mut gone = gone.iter().copied().peekable();
    for (i, item) in old.into_iter().enumerate() {
        while let Some((new, _)) = fresh.next_if(|(_, place)| *place <= i) {
            items.push(new);
        }
        if gone.next_if_eq(&i).is_none() {
            items.push(item);
        }
    }
    items.extend(fresh.map(|(new, _)| new));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Whatever is removed and added, in place or merged, the result is
        /// the sorted vector of what stays and what came.
        #[test]
        fn a_patch_gives_the_sorted_items_that_stay_and_come(
            old in proptest::collection::btree_set(0u16..200, 0..40),
            gone in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
            fresh in proptest::collection::btree_set(0u16..200, 0..12),
        ) {
            let mut items: Vec<u16> = old.iter().copied().collect();
            let mut gone: Vec<usize> = if items.is_empty() { Vec::new() } else { gone.iter().map(|g| g.index(items.len())).collect() };
            gone.sort_unstable();
            gone.dedup();
            let mut expected: Vec<u16> = items.iter().enumerate().filter(|(i, _)| !gone.contains(i)).map(|(_, &v)| v).chain(fresh.iter().copied()).collect();
            expected.sort();
            super::patch(&mut items, &gone, fresh.into_iter().collect(), |o, n| o < n);
            prop_assert_eq!(items, expected);
        }
    }

    #[test]
    fn an_item_replaced_in_its_place_moves_nothing() {
        let mut items = vec![10, 20, 30];
        super::patch(&mut items, &[1], vec![20], |o, n| o < n);
        assert_eq!(items, [10, 20, 30]);
        super::patch(&mut items, &[0, 2], vec![5, 25, 40], |o, n| o < n);
        assert_eq!(items, [5, 20, 25, 40]);
    }
}
