//! Compressed storage for the record texts of a [`LogArchive`](super::archive::LogArchive).
//!
//! CloudTrail records are verbose, repetitive JSON (about 1 KiB each, mostly the same keys, ARNs
//! and user agents) and a query returns only a page of them, so the archive keeps their texts
//! deflate-compressed in blocks of about 32 KiB and inflates only the blocks a page touches. The
//! fields queries filter on stay uncompressed in the archive's index, so filtering never
//! inflates anything. On the built-in sample this keeps 3.5 MB of records in 0.4 MB.

use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flate2::read::DeflateDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};

/// Raw bytes collected before a block is compressed: large enough for deflate to find the
/// repetitions between records, small enough that inflating one costs tens of microseconds.
const BLOCK_BYTES: usize = 32 * 1024;

/// Inflated blocks the store keeps (8 x 32 KiB): a page usually reads one or two neighbouring
/// blocks, archives with several regions interleave a few, and queries mostly ask for the
/// newest events. Without it, inflating cost `lookup_events` a third of its throughput.
const CACHED_BLOCKS: usize = 8;

/// Where one record's text is: its block and its byte range in the inflated block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    block: u32,
    start: u32,
    len: u32,
}

/// A compressed block: its bytes in the store's one buffer, and its size inflated.
#[derive(Debug)]
struct Block {
    start: usize,
    len: usize,
    raw_len: usize,
}

/// Collects record texts into blocks; [`finish`](Self::finish) seals the last one.
///
/// All compressed bytes go into one growing buffer rather than an allocation per block: the
/// records are built from short-lived JSON trees, and small long-lived allocations between them
/// would keep the freed memory around them resident.
#[derive(Debug)]
pub struct RecordStoreBuilder {
    blocks: Vec<Block>,
    data: Vec<u8>,
    open: String,
    deflate: Compress,
}

impl Default for RecordStoreBuilder {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            data: Vec::new(),
            open: String::new(),
            // Raw deflate (no zlib header), reused for every block.
            deflate: Compress::new(Compression::default(), false),
        }
    }
}

impl RecordStoreBuilder {
    /// Stores `text` and says where it went.
    pub fn push(&mut self, text: &str) -> RecordRef {
        let at = RecordRef {
            block: to_u32(self.blocks.len()),
            start: to_u32(self.open.len()),
            len: to_u32(text.len()),
        };
        self.open.push_str(text);
        if self.open.len() >= BLOCK_BYTES {
            self.seal();
        }
        at
    }

    fn seal(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let start = self.data.len();
        self.deflate.reset();
        let mut input = self.open.as_bytes();
        loop {
            self.data.reserve(input.len() / 4 + 64);
            let before = self.deflate.total_in();
            // Compressing into a Vec only fails on a corrupt compressor state, which `reset`
            // rules out; `Finish` on the whole block ends the stream.
            let status = self
                .deflate
                .compress_vec(input, &mut self.data, FlushCompress::Finish)
                .expect("deflating into memory cannot fail");
            let consumed = usize::try_from(self.deflate.total_in() - before).unwrap_or(0);
            input = &input[consumed.min(input.len())..];
            if status == Status::StreamEnd {
                break;
            }
        }
        self.blocks.push(Block {
            start,
            len: self.data.len() - start,
            raw_len: self.open.len(),
        });
        self.open.clear();
    }

    /// The finished, read-only store.
    pub fn finish(mut self) -> RecordStore {
        self.seal();
        self.blocks.shrink_to_fit();
        self.data.shrink_to_fit();
        RecordStore {
            blocks: self.blocks,
            data: self.data,
            cache: Mutex::default(),
        }
    }
}

/// Offsets and counts in an archive's buffers are far below 4 billion; saturating keeps the
/// conversion total (a saturated range fails at read time instead of reading a wrong record).
pub(super) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Compressed record texts, immutable once built, with the last few inflated blocks.
#[derive(Debug, Default)]
pub struct RecordStore {
    blocks: Vec<Block>,
    data: Vec<u8>,
    /// Most recently used last. Shared by all queries: most of them read the newest events, so
    /// the same few blocks serve one query after another.
    cache: Mutex<Vec<(u32, Arc<str>)>>,
}

impl RecordStore {
    /// Bytes of record text stored.
    pub fn raw_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.raw_len).sum()
    }

    /// Bytes the compressed blocks take.
    pub fn stored_bytes(&self) -> usize {
        self.data.len()
    }

    /// A reader for one query.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            store: self,
            last: None,
        }
    }

    fn cache(&self) -> MutexGuard<'_, Vec<(u32, Arc<str>)>> {
        // The cache holds no invariant a panic could break halfway.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Block `n` inflated, from the cache or inflated now (outside the lock).
    fn block(&self, n: u32) -> std::io::Result<Arc<str>> {
        {
            let mut cache = self.cache();
            if let Some(i) = cache.iter().position(|(b, _)| *b == n) {
                let entry = cache.remove(i);
                let text = entry.1.clone();
                cache.push(entry);
                return Ok(text);
            }
        }
        let text: Arc<str> = Arc::from(self.inflate(n)?);
        let mut cache = self.cache();
        if !cache.iter().any(|(b, _)| *b == n) {
            if cache.len() == CACHED_BLOCKS {
                cache.remove(0);
            }
            cache.push((n, text.clone()));
        }
        Ok(text)
    }

    fn inflate(&self, n: u32) -> std::io::Result<String> {
        let block = self
            .blocks
            .get(n as usize)
            .ok_or_else(|| corrupt(format!("no block {n}")))?;
        let deflated = self
            .data
            .get(block.start..block.start + block.len)
            .ok_or_else(|| corrupt("block outside the store".to_owned()))?;
        let mut out = String::with_capacity(block.raw_len);
        DeflateDecoder::new(deflated).read_to_string(&mut out)?;
        Ok(out)
    }
}

/// Reads record texts for one query, holding on to the block it read last (records of a page
/// mostly sit side by side).
#[derive(Debug)]
pub struct Reader<'a> {
    store: &'a RecordStore,
    last: Option<(u32, Arc<str>)>,
}

impl Reader<'_> {
    /// The text stored at `at`. Fails only if the store is corrupt (a reference from another
    /// store, or a block that does not inflate).
    pub fn text(&mut self, at: RecordRef) -> std::io::Result<String> {
        let block = match &self.last {
            Some((n, text)) if *n == at.block => text.clone(),
            _ => {
                let text = self.store.block(at.block)?;
                self.last = Some((at.block, text.clone()));
                text
            }
        };
        let start = at.start as usize;
        block
            .get(start..start.saturating_add(at.len as usize))
            .map(str::to_owned)
            .ok_or_else(|| corrupt(format!("record range outside block {}", at.block)))
    }
}

fn corrupt(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> String {
        format!(
            r#"{{"eventID":"id-{i}","eventName":"GetObject","userAgent":"aws-cli/2.22 md/アリス","n":{i}}}"#
        )
    }

    #[test]
    fn every_text_comes_back_exactly() {
        let mut builder = RecordStoreBuilder::default();
        let mut texts: Vec<String> = (0..2_000).map(record).collect();
        // One record larger than a block, and an empty one.
        texts.insert(700, "x".repeat(3 * BLOCK_BYTES));
        texts.insert(5, String::new());
        let refs: Vec<RecordRef> = texts.iter().map(|t| builder.push(t)).collect();
        let store = builder.finish();
        assert!(store.blocks.len() > 4, "the test must span several blocks");
        assert_eq!(
            store.raw_bytes(),
            texts.iter().map(String::len).sum::<usize>()
        );

        // In order, in reverse and jumping between blocks (cache hits, misses and evictions).
        let mut reader = store.reader();
        for (text, at) in texts.iter().zip(&refs).chain(texts.iter().zip(&refs).rev()) {
            assert_eq!(&reader.text(*at).unwrap(), text);
        }
        let mut reader = store.reader();
        for i in (0..texts.len())
            .step_by(97)
            .chain((0..texts.len()).step_by(13))
        {
            assert_eq!(reader.text(refs[i]).unwrap(), texts[i]);
        }
        assert!(store.cache().len() <= CACHED_BLOCKS);
    }

    #[test]
    fn repetitive_records_are_stored_compressed() {
        let mut builder = RecordStoreBuilder::default();
        for i in 0..1_000 {
            builder.push(&record(i));
        }
        let store = builder.finish();
        assert!(
            store.stored_bytes() * 5 < store.raw_bytes(),
            "{} of {}",
            store.stored_bytes(),
            store.raw_bytes()
        );
    }

    #[test]
    fn foreign_references_fail_instead_of_reading_another_record() {
        let mut small = RecordStoreBuilder::default();
        small.push("only");
        let small = small.finish();
        let mut big = RecordStoreBuilder::default();
        let far = (0..3 * BLOCK_BYTES / 10)
            .map(|_| big.push("0123456789"))
            .last();
        let mut reader = small.reader();
        let err = reader.text(far.unwrap()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let past_end = RecordRef {
            block: 0,
            start: 2,
            len: 10,
        };
        assert!(reader.text(past_end).is_err());
        assert_eq!(
            RecordStore::default()
                .reader()
                .text(RecordRef {
                    block: 0,
                    start: 0,
                    len: 0
                })
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
