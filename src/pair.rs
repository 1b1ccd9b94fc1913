//! Map keys of two parts — (project, service id), (project, receiver id) — owned by the map
//! and looked up borrowed, so that a look-up on the trigger path allocates no key. The owned
//! pair and the borrowed one hash and compare alike: both as the pair of their parts.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use crate::receiver::ReceiverId;

/// A key as its two parts (`Sync`, so a borrowed key may be held across an `.await`).
pub trait Pair<T: ?Sized>: Sync {
    fn parts(&self) -> (&str, &T);
}

impl Pair<str> for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Pair<str> for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl Pair<ReceiverId> for (String, ReceiverId) {
    fn parts(&self) -> (&str, &ReceiverId) {
        (&self.0, &self.1)
    }
}

impl Pair<ReceiverId> for (&str, ReceiverId) {
    fn parts(&self) -> (&str, &ReceiverId) {
        (self.0, &self.1)
    }
}

impl<'a> Borrow<dyn Pair<str> + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn Pair<str> + 'a) {
        self
    }
}

impl<'a> Borrow<dyn Pair<ReceiverId> + 'a> for (String, ReceiverId) {
    fn borrow(&self) -> &(dyn Pair<ReceiverId> + 'a) {
        self
    }
}

/// As a tuple hashes: the first part, then the second (`(String, T)` hashes exactly so).
impl<T: ?Sized + Hash> Hash for dyn Pair<T> + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl<T: ?Sized + Eq> PartialEq for dyn Pair<T> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl<T: ?Sized + Eq> Eq for dyn Pair<T> + '_ {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn owned_keys_are_found_by_borrowed_ones() {
        let mut services: HashMap<(String, String), u32> = HashMap::new();
        services.insert(("1a5".into(), "1s1".into()), 1);
        services.insert(("1a5".into(), "1s2".into()), 2);
        // The parts are not glued together: ("1a", "51s1") is another key.
        services.insert(("1a".into(), "51s1".into()), 3);
        let find = |p: &str, s: &str| services.get(&(p, s) as &dyn Pair<str>).copied();
        assert_eq!(find("1a5", "1s1"), Some(1));
        assert_eq!(find("1a5", "1s2"), Some(2));
        assert_eq!(find("1a", "51s1"), Some(3));
        assert_eq!(find("1a5", "1s3"), None);

        let id = ReceiverId([7; 16]);
        let mut records: HashMap<(String, ReceiverId), bool> = HashMap::new();
        records.insert(("1a5".into(), id), true);
        let key = ("1a5", id);
        assert_eq!(records.get(&key as &dyn Pair<ReceiverId>), Some(&true));
        let other = ("1a6", id);
        assert_eq!(records.get(&other as &dyn Pair<ReceiverId>), None);
    }
}
