//! Identifier and counter newtypes (DESIGN §3): ledger and event ids, sequence numbers and
//! tree sizes. Constructing one validates it, so holding one means it is well-formed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The longest id, in characters (DESIGN §3).
pub const MAX_ID_LEN: usize = 128;

/// True for the id alphabet `[A-Za-z0-9._:-]`.
pub(crate) fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

/// Checks the id rule: 1 to `max` characters of `[A-Za-z0-9._:-]`.
pub(crate) fn check_token(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters, got {}", value.len())));
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii() || !is_id_byte(*c as u8)) {
        return Err(ValidationError::new(field, format!("contains {c:?}; only A-Z a-z 0-9 . _ : - are allowed")));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value`: 1–128 characters of `[A-Za-z0-9._:-]`.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                check_token($field, &value, MAX_ID_LEN)?;
                Ok(Self(value))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, ValidationError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, ValidationError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A ledger's id: 1–128 characters of `[A-Za-z0-9._:-]`. It seeds the ledger's genesis
    /// chain hash and appears in checkpoint origins (`<host>/ledgers/<ledger_id>`).
    LedgerId,
    "ledger_id"
);

id_type!(
    /// An event's id and idempotency key: 1–128 characters of `[A-Za-z0-9._:-]`. Clients may
    /// choose it; otherwise the server assigns a UUIDv7 (see [`crate::EventInput::into_event`]).
    EventId,
    "id"
);

/// An event's 0-based position in its ledger: both its chain index and its RFC 9162 leaf index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

/// The number of leaves in a Merkle tree (RFC 9162 §2.1), i.e. of events in a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TreeSize(pub u64);

impl Seq {
    /// The sequence number as a leaf index.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next sequence number, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Seq> {
        self.0.checked_add(1).map(Seq)
    }
}

impl TreeSize {
    /// The size as a number of leaves.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_alphabet_and_length() {
        assert!(EventId::new("evt_01HZX.a:b-c").is_ok());
        assert!(EventId::new("a".repeat(128)).is_ok());
        let long = EventId::new("a".repeat(129));
        assert_eq!(long.map_err(|e| e.field().to_owned()), Err("id".to_owned()));
        assert!(EventId::new("").is_err());
        assert!(EventId::new("a b").is_err());
        assert!(EventId::new("é").is_err());
        assert!(LedgerId::new("x/y").is_err());
    }

    #[test]
    fn ids_deserialize_through_validation() {
        assert!(serde_json::from_str::<LedgerId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<LedgerId>("\"not ok\"").is_err());
    }
}
