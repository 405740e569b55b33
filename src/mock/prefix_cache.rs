//! The simulator's prefix cache, modelled on vLLM's automatic prefix caching: a prompt is cut
//! into blocks of `BLOCK` tokens, each block is known by a hash of its tokens and of every block
//! before it, and a block is a hit when that hash was seen before. Counting stops at the first
//! miss, and a prompt's last token is always computed (a fully cached prompt still needs one
//! token of prefill), as in vLLM. So prompts that share a prefix (`--random-prefix-len`) hit
//! for its whole blocks, and the hit rate a test expects can be worked out exactly.

use std::collections::HashSet;
use std::sync::Mutex;

/// Tokens per block (vLLM's default block size).
pub const BLOCK: usize = 16;

/// Block hashes seen so far, forgotten all at once when they would outgrow the KV cache.
pub struct PrefixCache {
    blocks: Mutex<HashSet<u64>>,
    capacity_blocks: usize,
}

impl PrefixCache {
    /// A cache holding up to `kv_tokens` tokens of blocks.
    pub fn new(kv_tokens: u64) -> PrefixCache {
        PrefixCache {
            blocks: Mutex::new(HashSet::new()),
            capacity_blocks: usize::try_from(kv_tokens / BLOCK as u64)
                .unwrap_or(usize::MAX)
                .max(1),
        }
    }

    /// Forget every block (`POST /reset_prefix_cache`).
    pub fn reset(&self) {
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Look `ids` up, remember its blocks, and return how many of its tokens were hits.
    pub fn lookup(&self, ids: &[u32]) -> u64 {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut hits = 0u64;
        let mut missed = false;
        // The last token is never a hit: only blocks that end before it count.
        let cacheable = ids.len().saturating_sub(1) / BLOCK;
        for block in ids.chunks_exact(BLOCK) {
            for id in block {
                for b in id.to_le_bytes() {
                    hash ^= u64::from(b);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
            }
            let seen = !blocks.insert(hash);
            if seen && !missed && (hits as usize) < cacheable * BLOCK {
                hits += BLOCK as u64;
            } else {
                missed = true;
            }
        }
        if blocks.len() > self.capacity_blocks {
            blocks.clear();
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_whole_blocks_hit_and_the_rest_misses() {
        let c = PrefixCache::new(1 << 20);
        let prefix: Vec<u32> = (0..40).collect();
        let mut a = prefix.clone();
        a.extend(1000..1050);
        let mut b = prefix.clone();
        b.extend(2000..2050);
        assert_eq!(c.lookup(&a), 0, "a cold cache");
        // 40 shared tokens: two whole blocks (32); the third block differs.
        assert_eq!(c.lookup(&b), 32);
        // The same prompt again: every whole block but the one holding its last token.
        assert_eq!(c.lookup(&b), 80);
        let short: Vec<u32> = (0..16).collect();
        assert_eq!(c.lookup(&short), 0, "the last token is always computed");
    }
}
