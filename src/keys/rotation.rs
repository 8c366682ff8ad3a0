//! Which key signs and which keys are published, as pure functions of the key times and
//! the clock. Keys are published from creation (so JWKS caches learn a key before it
//! signs), and stay published after they are superseded until every token they signed
//! has expired.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimes {
    pub created_at: i64,
    pub activate_at: i64,
}

/// Keys must be sorted by activation time, then creation order (as the store lists them). The signing key is the last one
/// whose activation time has come.
pub fn signing_index(keys: &[KeyTimes], now: i64) -> Option<usize> {
    keys.iter().rposition(|k| k.activate_at <= now)
}

/// Indexes of published keys. `retention` is how long a superseded key stays published:
/// the longest access-token lifetime plus the replicas' refresh interval and some leeway.
pub fn published(keys: &[KeyTimes], now: i64, retention: i64) -> Vec<usize> {
    let current = signing_index(keys, now);
    (0..keys.len())
        .filter(|&i| match current {
            None => true,
            Some(c) if i >= c => true,
            // Superseded when the next key in activation order took over.
            Some(_) => keys[i + 1].activate_at + retention > now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(created_at: i64, activate_at: i64) -> KeyTimes {
        KeyTimes {
            created_at,
            activate_at,
        }
    }

    #[test]
    fn the_latest_active_key_signs() {
        let keys = [k(0, 0), k(100, 100), k(200, 800)];
        assert_eq!(signing_index(&keys, 50), Some(0));
        assert_eq!(signing_index(&keys, 100), Some(1));
        assert_eq!(signing_index(&keys, 799), Some(1));
        assert_eq!(signing_index(&keys, 800), Some(2));
        assert_eq!(signing_index(&[k(10, 10)], 5), None);
    }

    #[test]
    fn upcoming_keys_are_published_at_once() {
        let keys = [k(0, 0), k(200, 800)];
        assert_eq!(published(&keys, 200, 400), vec![0, 1]);
    }

    #[test]
    fn superseded_keys_stay_until_their_tokens_expired() {
        let keys = [k(0, 0), k(100, 100)];
        assert_eq!(published(&keys, 499, 400), vec![0, 1]);
        assert_eq!(published(&keys, 500, 400), vec![1]);
        let three = [k(0, 0), k(100, 100), k(150, 150)];
        assert_eq!(published(&three, 520, 400), vec![1, 2]);
        assert_eq!(published(&three, 600, 400), vec![2]);
    }
}
