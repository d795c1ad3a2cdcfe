//! [`SmallStr`]: a short text (a phone number, a node name) kept in place instead of on the
//! heap, so a conversation's numbers and its pair's key cost no allocation.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::{Serialize, Serializer};

/// The longest text kept in place: E.164 numbers (16 bytes with the `+`) and WhatsApp ids fit.
const INLINE: usize = 22;

/// A string of up to 22 bytes kept in place (24 bytes in all, as a `String`), or boxed when
/// longer. Compares, hashes and prints as its `str`.
#[derive(Clone)]
pub struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl SmallStr {
    pub fn new(s: &str) -> SmallStr {
        let mut bytes = [0; INLINE];
        SmallStr(match bytes.get_mut(..s.len()) {
            Some(slot) => {
                slot.copy_from_slice(s.as_bytes());
                Repr::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            None => Repr::Boxed(s.into()),
        })
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).expect("copied from a str")
            }
            Repr::Boxed(s) => s,
        }
    }
}

impl Default for SmallStr {
    fn default() -> Self {
        SmallStr::new("")
    }
}

impl Deref for SmallStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SmallStr {
    fn from(s: &str) -> Self {
        SmallStr::new(s)
    }
}

impl From<String> for SmallStr {
    /// A long one keeps its allocation.
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            SmallStr::new(&s)
        } else {
            SmallStr(Repr::Boxed(s.into_boxed_str()))
        }
    }
}

impl PartialEq for SmallStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallStr {}

impl PartialEq<str> for SmallStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SmallStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SmallStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialOrd for SmallStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SmallStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SmallStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_stay_in_place_and_long_ones_are_boxed() {
        assert_eq!(size_of::<SmallStr>(), size_of::<String>());
        let phone = SmallStr::new("+15550001111");
        assert!(matches!(phone.0, Repr::Inline { len: 12, .. }));
        assert_eq!(phone, "+15550001111");
        let longest = "x".repeat(INLINE);
        assert!(matches!(SmallStr::new(&longest).0, Repr::Inline { .. }));
        let long = "y".repeat(INLINE + 1);
        let boxed = SmallStr::new(&long);
        assert!(matches!(boxed.0, Repr::Boxed(_)));
        assert_eq!(boxed.as_str(), long);
        assert_eq!(SmallStr::new("").as_str(), "");
        // A long String keeps its allocation.
        let owned = long.clone();
        let at = owned.as_ptr();
        assert_eq!(SmallStr::from(owned).as_ptr(), at);
        // Hashes and orders as its str.
        let h = |s: &dyn Fn(&mut std::hash::DefaultHasher)| {
            let mut st = std::hash::DefaultHasher::new();
            s(&mut st);
            st.finish()
        };
        assert_eq!(h(&|st| phone.hash(st)), h(&|st| "+15550001111".hash(st)));
        assert!(SmallStr::new("a") < SmallStr::new(&long));
    }
}
