//! Scale-out: `--shard K/N` takes a deterministic 1/N of the inputs, so N processes on any scheduler
//! split a folder without talking to each other; `--merge` joins their outputs.
use sha2::Digest;

/// `K/N`: this process handles the inputs whose path hash falls in shard K (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or("shard must be K/N, e.g. 1/4")?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| "bad K")?, n.trim().parse().map_err(|_| "bad N")?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: need 1 <= K <= N"));
        }
        Ok(Shard { index: k, count: n })
    }
}

impl Shard {
    /// Deterministic: the same path lands in the same shard on every machine.
    pub fn contains(&self, path: &str) -> bool {
        let h = sha2::Sha256::digest(path.as_bytes());
        let v = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        (v % self.count as u64) as usize == self.index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_inputs() {
        let paths: Vec<String> = (0..200).map(|i| format!("seeds/{i:03}.txt")).collect();
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for p in &paths {
            assert_eq!(shards.iter().filter(|s| s.contains(p)).count(), 1);
        }
        assert!(shards.iter().all(|s| paths.iter().filter(|p| s.contains(p)).count() > 40));
        assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err() && "x".parse::<Shard>().is_err());
    }
}
