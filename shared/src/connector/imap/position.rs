//! Where a mailbox read is: the mailbox's UIDVALIDITY and a message's UID.
//!
//! A UID names a message only together with its mailbox's UIDVALIDITY (RFC 3501 2.3.1.1): when
//! the server rebuilds the mailbox it gives it a new UIDVALIDITY, and old UIDs mean nothing. So
//! the cursor, the page token and each record's id hold both, written as
//! `<uidvalidity>:<uid>` with ten digits each (both are 32-bit): the text compares byte-wise in
//! the same order as the numbers (the engine's `string` cursor kind).

/// A message's place: `validity` is the mailbox's UIDVALIDITY, `uid` the message's UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub validity: u32,
    pub uid: u32,
}

impl Position {
    /// `0001700000:0000000042`.
    pub fn encode(&self) -> String {
        format!("{:010}:{:010}", self.validity, self.uid)
    }

    /// Reads [`Position::encode`]'s text (unpadded numbers too); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (v, u) = text.split_once(':')?;
        let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(v) || !digits(u) {
            return None;
        }
        Some(Self {
            validity: v.parse().ok()?,
            uid: u.parse().ok()?,
        })
    }
}

/// The UID a read continues after, in a mailbox whose UIDVALIDITY is now `validity`: the
/// position's UID when it belongs to this UIDVALIDITY, else 0 (everything: the mailbox was
/// rebuilt, so every message is read again). The flag says whether the position was dropped.
pub fn resume_after(validity: u32, from: Option<Position>) -> (u32, bool) {
    match from {
        None => (0, false),
        Some(p) if p.validity == validity => (p.uid, false),
        Some(_) => (0, true),
    }
}

/// The UIDs of one page: those above `after`, ascending, at most `page_size`, and whether
/// more remain. (`UID SEARCH UID n:*` also answers the last message when every UID is below
/// `n`: it is left out here.)
pub fn page_of(mut uids: Vec<u32>, after: u32, page_size: usize) -> (Vec<u32>, bool) {
    uids.retain(|u| *u > after);
    uids.sort_unstable();
    uids.dedup();
    let more = uids.len() > page_size;
    uids.truncate(page_size);
    (uids, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_compare_as_their_numbers() {
        let p = Position {
            validity: 1_700_000_000,
            uid: 42,
        };
        assert_eq!(p.encode(), "1700000000:0000000042");
        assert_eq!(Position::parse(&p.encode()), Some(p));
        assert_eq!(Position::parse("7:9"), Some(Position { validity: 7, uid: 9 }));
        let a = Position { validity: 7, uid: 9 }.encode();
        let b = Position { validity: 7, uid: 10 }.encode();
        assert!(a < b, "{a} < {b}");
        for bad in [
            "",
            "7",
            "7:",
            ":9",
            "a:1",
            "1:-1",
            "1:2:3",
            "99999999999:1",
            "4294967296:1",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_changed_uidvalidity_reads_the_mailbox_again() {
        let at = |validity, uid| Some(Position { validity, uid });
        assert_eq!(resume_after(5, None), (0, false));
        assert_eq!(resume_after(5, at(5, 12)), (12, false));
        assert_eq!(resume_after(6, at(5, 12)), (0, true));
    }

    #[test]
    fn a_page_holds_the_next_uids_in_order() {
        assert_eq!(page_of(vec![9, 3, 5, 4], 3, 2), (vec![4, 5], true));
        assert_eq!(page_of(vec![9, 5, 4], 3, 3), (vec![4, 5, 9], false));
        // `UID SEARCH UID 10:*` answers the highest UID even when it is below 10.
        assert_eq!(page_of(vec![9], 9, 50), (vec![], false));
    }
}
