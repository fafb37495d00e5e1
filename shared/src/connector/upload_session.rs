//! The fragments of a file sent through an upload session (a write's `upload_session`): byte
//! ranges in order, and the `Content-Range` header of each (RFC 9110 §14.4, as OneDrive's
//! "Upload large files with an upload session" uses it). Pure: the client sends them.

/// The `[first, end)` byte ranges of a `total`-byte file in fragments of `size` bytes (the last
/// one shorter). Empty for an empty file.
pub fn fragments(total: usize, size: usize) -> Vec<(usize, usize)> {
    let size = size.max(1);
    (0..total)
        .step_by(size)
        .map(|first| (first, (first + size).min(total)))
        .collect()
}

/// `Content-Range` of the fragment `[first, end)` of a `total`-byte file.
pub fn content_range(first: usize, end: usize, total: usize) -> String {
    format!("bytes {first}-{}/{total}", end.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_cover_the_file_in_order_with_a_shorter_last_one() {
        let size = 327_680;
        let ranges = fragments(2 * size + 5, size);
        assert_eq!(ranges, vec![(0, size), (size, 2 * size), (2 * size, 2 * size + 5)]);
        assert_eq!(fragments(size, size), vec![(0, size)]);
        assert!(fragments(0, size).is_empty());
        assert_eq!(content_range(0, size, 2 * size + 5), "bytes 0-327679/655365");
        assert_eq!(
            content_range(2 * size, 2 * size + 5, 2 * size + 5),
            "bytes 655360-655364/655365"
        );
    }
}
