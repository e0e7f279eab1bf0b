//! The fixed-capacity hash table under the connection table, the reply
//! index and the persistence templates (decision 0043).
//!
//! Layout, after Facebook's F14 ("vector" policy) and the Swiss tables:
//! - the entries live in a dense array of exactly `max` slots, handed out
//!   from a free stack, so an entry never moves once inserted (its index
//!   is stable until it is removed) and no slot is paid for twice;
//! - the index is an array of 64-byte buckets, one cache line each, of 12
//!   one-byte tags (8 bits of the key's hash; 0 = free), the 12 entry
//!   indexes and an overflow count. A key's home bucket comes from the low
//!   32 bits of its hash (`(h * buckets) >> 32`, no power-of-two
//!   round-up), its tag from the top 8 bits.
//!
//! A lookup reads the home bucket's line, compares its 12 tags with the
//! key's at once (one SSE2 compare), and reads only the entries whose tag
//! matches (a false match is 1 in 255 per occupied slot). A miss costs one
//! line, a hit two (the bucket, then the entry), unless the home bucket
//! overflowed: a full bucket counts the keys that passed it to a later
//! bucket on insert, and a lookup goes on to the next bucket only while
//! that count is non-zero. Deletion clears the tag and decrements the
//! counts along the key's path, so there are no tombstones and a lookup
//! stays bounded however many removals happened. The buckets are sized
//! for at most [`LOAD_PER_BUCKET`] of their 12 slots used (83 %).
//!
//! Every array is allocated once, when the table is made ([`Pages`]): on
//! 2 MB hugetlb pages when the system has them reserved, otherwise on a
//! fresh anonymous mapping aligned to 2 MB with transparent huge pages asked
//! for (not the heap: memory the allocator had handed out before keeps its
//! 4 KiB pages).

use std::alloc::Layout;
use std::ptr::NonNull;

/// The table is full: the entry was not inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// What a [`Table`] stores: an entry with a key, and an empty form.
pub trait Slot: Copy + Default {
    type Key: std::hash::Hash + Eq + Copy;
    fn key(&self) -> &Self::Key;
    fn is_empty(&self) -> bool;
}

const HUGE: usize = 2 << 20;

/// How a [`Pages`] array is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Explicit 2 MB pages (`MAP_HUGETLB`, from the reserved pool).
    Hugetlb,
    /// An anonymous mapping of its own, aligned to 2 MB, `MADV_HUGEPAGE`
    /// asked (transparent huge pages where the kernel allows them).
    Thp,
    /// The global allocator, cache-line aligned (arrays under 4 MB).
    Heap,
}

/// `n` values in one allocation made at start-up and never resized:
/// cache-line aligned (so a 64-byte entry is one line, not two), and from 4
/// MB on backed by 2 MB pages, explicit ones if the system has them,
/// otherwise transparent ones: a table is hundreds of megabytes read at
/// random, and 4 KiB pages would cost a TLB miss (under a hypervisor, a
/// two-level walk) on nearly every lookup.
pub struct Pages<T> {
    ptr: NonNull<T>,
    len: usize,
    backing: Backing,
    /// Bytes mapped (`Hugetlb`) or the allocation's layout (the others).
    layout: Layout,
}

// SAFETY: `Pages` owns its values as a `Box<[T]>` would.
unsafe impl<T: Send> Send for Pages<T> {}
// SAFETY: as above; shared access only reads.
unsafe impl<T: Sync> Sync for Pages<T> {}

impl<T: Clone> Pages<T> {
    /// `n` copies of `value`; huge pages from 4 MB on when `huge`.
    pub fn new(n: usize, value: T, huge: bool) -> Self {
        let Ok(layout) = Layout::array::<T>(n).and_then(|l| l.align_to(64)) else {
            panic!("a table of {n} entries does not fit in memory");
        };
        let (ptr, backing, layout) = if layout.size() == 0 {
            (NonNull::<T>::dangling(), Backing::Heap, layout)
        } else if huge && layout.size() >= 2 * HUGE {
            Self::alloc_huge(layout)
        } else {
            (Self::alloc(layout), Backing::Heap, layout)
        };
        for i in 0..n {
            // SAFETY: i < n, inside the allocation, and each slot is
            // written once before anything reads it.
            unsafe { ptr.as_ptr().add(i).write(value.clone()) };
        }
        Pages {
            ptr,
            len: n,
            backing,
            layout,
        }
    }

    fn alloc(layout: Layout) -> NonNull<T> {
        // SAFETY: the layout's size is non-zero (checked by the caller).
        let p = unsafe { std::alloc::alloc(layout) }.cast::<T>();
        NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    }

    fn alloc_huge(layout: Layout) -> (NonNull<T>, Backing, Layout) {
        let bytes = layout.size().next_multiple_of(HUGE);
        // The mapping's layout, for Drop's munmap (HUGE is a power of two).
        let mapped = Layout::from_size_align(bytes, HUGE).unwrap_or(layout);
        if let Some(p) = map_anonymous(bytes, libc::MAP_HUGETLB) {
            return (p.cast(), Backing::Hugetlb, mapped);
        }
        // Transparent huge pages: a mapping of its own, never memory the
        // allocator has handed out before. The kernel gives a huge page
        // only where a 2 MB range is first touched after MADV_HUGEPAGE; a
        // heap range that earlier allocations had touched (and freed) stays
        // on 4 KiB pages however it is advised (seen in the pipeline bench:
        // 900 MB of tables, no huge page).
        let Some(p) = Self::map_aligned(bytes) else {
            return (Self::alloc(layout), Backing::Heap, layout);
        };
        // SAFETY: [p, p + bytes) is the mapping just made; madvise only
        // changes how its pages are backed, never their contents (a
        // failure leaves ordinary pages).
        unsafe { libc::madvise(p.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE) };
        (p, Backing::Thp, mapped)
    }

    /// An anonymous private mapping of `bytes` (a multiple of 2 MB) that
    /// starts on a 2 MB boundary: `bytes + 2 MB` mapped, the slack either
    /// side unmapped.
    fn map_aligned(bytes: usize) -> Option<NonNull<T>> {
        let len = bytes.checked_add(HUGE)?;
        let p = map_anonymous(len, 0)?.as_ptr();
        let base = p as usize;
        let start = base.next_multiple_of(HUGE);
        let head = start - base;
        let tail = len - head - bytes;
        // SAFETY: both ranges lie inside the mapping just made and outside
        // [start, start + bytes), which is all that is kept; a zero-length
        // range is skipped.
        unsafe {
            if head > 0 {
                libc::munmap(p, head);
            }
            if tail > 0 {
                libc::munmap((start + bytes) as *mut libc::c_void, tail);
            }
        }
        NonNull::new(start as *mut T)
    }
}

/// A private, anonymous, read-write mapping of `len` bytes, with `flags`
/// added (`MAP_HUGETLB`: from the reserved pool); `None` if the kernel
/// refuses it.
fn map_anonymous(len: usize, flags: libc::c_int) -> Option<NonNull<libc::c_void>> {
    // SAFETY: an anonymous private mapping; nothing else refers to it, and
    // a failure is MAP_FAILED (checked).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p)
}

impl<T> Pages<T> {
    pub fn backing(&self) -> Backing {
        self.backing
    }
}

impl<T> std::ops::Deref for Pages<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised values (see `new`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for Pages<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Pages<T> {
    fn drop(&mut self) {
        // SAFETY: the values are initialised and dropped once, here; then
        // the memory goes back the way it came.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            match self.backing {
                _ if self.layout.size() == 0 => {}
                Backing::Hugetlb | Backing::Thp => {
                    libc::munmap(self.ptr.as_ptr().cast(), self.layout.size());
                }
                Backing::Heap => std::alloc::dealloc(self.ptr.as_ptr().cast(), self.layout),
            }
        }
    }
}

/// Slots per bucket: 12 tags, 12 `u32` indexes and the overflow count
/// make one 64-byte line.
const BUCKET_SLOTS: usize = 12;

/// Entries per bucket the table is sized for: 10 of 12 (83 % load at
/// `max` entries), which keeps overflow rare.
pub const LOAD_PER_BUCKET: usize = 10;

#[repr(C, align(64))]
#[derive(Clone, Copy, Default)]
struct Bucket {
    /// 0: free slot; otherwise the top 8 bits of the key's hash (0 made 1).
    tags: [u8; BUCKET_SLOTS],
    /// Keys whose probe passed this bucket (it was full) to a later one.
    overflow: u32,
    /// Where each tagged key's entry is.
    idx: [u32; BUCKET_SLOTS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    /// A bit per slot whose tag is `tag` (0: the free slots).
    #[inline(always)]
    fn matches(&self, tag: u8) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{
                __m128i, _mm_cmpeq_epi8, _mm_load_si128, _mm_movemask_epi8, _mm_set1_epi8,
            };
            // SAFETY: the bucket is 64-byte aligned and its first 16 bytes
            // are the tags and the overflow count (repr(C)); SSE2 is part of
            // x86_64.
            let m = unsafe {
                let v = _mm_load_si128(std::ptr::from_ref(self).cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(tag as i8)))
            };
            (m as u32) & ((1 << BUCKET_SLOTS) - 1)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut m = 0;
            for (s, &t) in self.tags.iter().enumerate() {
                m |= u32::from(t == tag) << s;
            }
            m
        }
    }
}

/// Where a key's lookup starts (its home bucket and tag), as the first
/// stage of a burst's prefetch found it: the second stage
/// ([`Table::prefetch_entry`]) goes on from here without hashing again.
/// The default probes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    bucket: u32,
    /// 0: nothing to prefetch (a key's tag is never 0).
    tag: u8,
}

/// Ask for the cache lines of the value at `p`: its first, and its last
/// when a value of its size can straddle two (a 20-byte reply index entry
/// does for a quarter of the indexes, a 44-byte companion for most).
#[inline(always)]
fn prefetch_value<T>(p: *const T) {
    prefetch_line(p);
    if !std::mem::size_of::<T>().is_multiple_of(64) {
        prefetch_line(p.cast::<u8>().wrapping_add(std::mem::size_of::<T>() - 1));
    }
}

/// Ask for the cache line at `p` (a hint: it never faults, and reads
/// nothing the program sees).
#[inline(always)]
fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no effect the program can
    // observe, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A fixed-capacity hash table of entries `E`, each with a companion `X`
/// kept in a parallel array under the same index. The companion of the
/// connection table holds what only NAT and FullNAT entries need, so a DR
/// entry stays one cache line and a DR lookup never reads the companion.
/// Layout and probing: the module's documentation.
pub struct Table<E: Slot, X: Copy + Default = ()> {
    buckets: Pages<Bucket>,
    slots: Pages<E>,
    ext: Pages<X>,
    /// Free entry indexes, a stack: `free[..free_len]`.
    free: Pages<u32>,
    free_len: usize,
    len: usize,
    hasher: ahash::RandomState,
}

impl<E: Slot, X: Copy + Default> Table<E, X> {
    /// A table for up to `max` entries (at least 1, at most `u32::MAX`).
    pub fn with_max(max: usize) -> Self {
        let max = max.clamp(1, u32::MAX as usize);
        let nb = max.div_ceil(LOAD_PER_BUCKET);
        let slots = Pages::new(max, E::default(), true);
        if slots.backing() != Backing::Heap {
            tracing::info!(
                entries = max,
                bytes = max * std::mem::size_of::<E>(),
                backing = ?slots.backing(),
                "table allocated"
            );
        }
        let mut free = Pages::new(max, 0u32, true);
        // Popped from the end: entries fill from index 0 up.
        for (i, f) in free.iter_mut().enumerate() {
            *f = (max - 1 - i) as u32;
        }
        Table {
            buckets: Pages::new(nb, Bucket::default(), true),
            slots,
            ext: Pages::new(max, X::default(), true),
            free,
            free_len: max,
            len: 0,
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max(&self) -> usize {
        self.slots.len()
    }

    /// Entry slots of the table (`max`): the range of the indexes
    /// [`Table::get`] takes; a free one reads as an empty entry.
    pub fn slots_len(&self) -> usize {
        self.slots.len()
    }

    /// How the entry array is backed.
    pub fn backing(&self) -> Backing {
        self.slots.backing()
    }

    /// The key's home bucket and tag.
    #[inline(always)]
    fn place(&self, key: &E::Key) -> (usize, u8) {
        let h = self.hasher.hash_one(key);
        let b = ((h & 0xffff_ffff) * self.buckets.len() as u64) >> 32;
        (b as usize, ((h >> 56) as u8).max(1))
    }

    #[inline(always)]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// Start loading the cache line of `key`'s home bucket (a hint: a burst
    /// prefetches every packet's bucket before it looks any up, so the
    /// misses overlap). Returns where the key's lookup starts, for
    /// [`Table::prefetch_entry`] once the line is in.
    #[inline]
    pub fn prefetch(&self, key: &E::Key) -> Probe {
        let (b, tag) = self.place(key);
        // place() is below the buckets' length.
        prefetch_line(self.buckets.as_ptr().wrapping_add(b));
        Probe {
            bucket: b as u32,
            tag,
        }
    }

    /// The second stage of a burst's prefetch: read the bucket `p` names
    /// (loaded by [`Table::prefetch`] a while ago) and start loading the
    /// entry its first matching tag points to, the one a lookup of the key
    /// will most likely read (a false match is 1 in 255 per slot). Returns
    /// that entry's index, for a stage that reads the entry. Reads only the
    /// bucket; a probe of nothing ([`Probe::default`]) or of another table
    /// is a no-op or a useless hint, never a fault.
    #[inline]
    pub fn prefetch_entry(&self, p: Probe) -> Option<u32> {
        let i = self.first_match(p)?;
        prefetch_value(self.slots.as_ptr().wrapping_add(i));
        Some(i as u32)
    }

    /// Start loading the entry and companion that the `n`-th insert from
    /// now fills (the free stack's `n`-th index from its top), for a
    /// burst's new flows: an insert writes both lines, and a store to a
    /// line out of cache waits for it as a load does. A hint: `n` past the
    /// free entries asks for nothing.
    #[inline]
    pub fn prefetch_free(&self, n: usize) {
        if let Some(i) = self.next_free(n) {
            self.prefetch_slot(i);
        }
    }

    /// The index the `n`-th insert from now takes (0: the next), if no
    /// entry is removed before it.
    #[inline]
    fn next_free(&self, n: usize) -> Option<u32> {
        let k = self.free_len.checked_sub(n + 1)?;
        Some(self.free[k])
    }

    /// Start loading the entry at `idx` and its companion, as a lookup
    /// that already knows the index reads them (the reply index names its
    /// connection's entry this way). A hint: an index past the table asks
    /// for a line nobody reads, never a fault.
    #[inline]
    pub fn prefetch_slot(&self, idx: u32) {
        let i = idx as usize;
        prefetch_value(self.slots.as_ptr().wrapping_add(i));
        if std::mem::size_of::<X>() != 0 {
            prefetch_value(self.ext.as_ptr().wrapping_add(i));
        }
    }

    /// The entry the first tag matching `p`'s in its bucket points to.
    #[inline(always)]
    fn first_match(&self, p: Probe) -> Option<usize> {
        if p.tag == 0 {
            return None;
        }
        let bucket = self.buckets.get(p.bucket as usize)?;
        let m = bucket.matches(p.tag);
        (m != 0).then(|| bucket.idx[m.trailing_zeros() as usize] as usize)
    }

    /// The slot index of `key`'s entry.
    #[inline(always)]
    pub fn find(&self, key: &E::Key) -> Option<usize> {
        let (mut b, tag) = self.place(key);
        loop {
            let bucket = &self.buckets[b];
            let mut m = bucket.matches(tag);
            while m != 0 {
                let i = bucket.idx[m.trailing_zeros() as usize] as usize;
                if self.slots[i].key() == key {
                    return Some(i);
                }
                m &= m - 1;
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next(b);
        }
    }

    pub fn get(&self, idx: usize) -> &E {
        &self.slots[idx]
    }

    pub fn get_mut(&mut self, idx: usize) -> &mut E {
        &mut self.slots[idx]
    }

    /// The companion of the entry at `idx`.
    pub fn ext(&self, idx: usize) -> &X {
        &self.ext[idx]
    }

    pub fn ext_mut(&mut self, idx: usize) -> &mut X {
        &mut self.ext[idx]
    }

    /// Insert a new entry (its key must not be present) with its companion.
    /// Its index stays the same until it is removed.
    pub fn insert_with(&mut self, entry: E, ext: X) -> Result<usize, Full> {
        assert!(!entry.is_empty(), "inserting an empty entry");
        debug_assert!(self.find(entry.key()).is_none(), "duplicate key inserted");
        if self.free_len == 0 {
            return Err(Full);
        }
        let (mut b, tag) = self.place(entry.key());
        // There are more bucket slots than entries, so one is free.
        let s = loop {
            let free = self.buckets[b].matches(0);
            if free != 0 {
                break free.trailing_zeros() as usize;
            }
            self.buckets[b].overflow += 1;
            b = self.next(b);
        };
        self.free_len -= 1;
        let i = self.free[self.free_len];
        let bucket = &mut self.buckets[b];
        bucket.tags[s] = tag;
        bucket.idx[s] = i;
        let i = i as usize;
        self.slots[i] = entry;
        self.ext[i] = ext;
        self.len += 1;
        Ok(i)
    }

    /// Insert a new entry (its key must not be present).
    pub fn insert(&mut self, entry: E) -> Result<usize, Full> {
        self.insert_with(entry, X::default())
    }

    /// Remove the entry at `idx`, returning it and its companion. No other
    /// entry moves.
    pub fn remove_with(&mut self, idx: usize) -> (E, X) {
        let removed = (self.slots[idx], self.ext[idx]);
        assert!(!removed.0.is_empty(), "removing an empty slot");
        let (mut b, tag) = self.place(removed.0.key());
        loop {
            let bucket = &mut self.buckets[b];
            let mut m = bucket.matches(tag);
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                if bucket.idx[s] as usize == idx {
                    bucket.tags[s] = 0;
                    self.slots[idx] = E::default();
                    self.ext[idx] = X::default();
                    self.free[self.free_len] = idx as u32;
                    self.free_len += 1;
                    self.len -= 1;
                    return removed;
                }
                m &= m - 1;
            }
            // The entry went on past this bucket when it was inserted.
            bucket.overflow -= 1;
            b = self.next(b);
        }
    }

    /// Remove the entry at `idx`, returning it.
    pub fn remove(&mut self, idx: usize) -> E {
        self.remove_with(idx).0
    }

    /// Check the index against the entries (tests): every entry is found
    /// under its own index from its home bucket, every tag points at a
    /// live entry, and each bucket's overflow count is the number of keys
    /// whose probe passed it.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut passed = vec![0u32; self.buckets.len()];
        let mut tagged = 0;
        for (b, bucket) in self.buckets.iter().enumerate() {
            for s in 0..BUCKET_SLOTS {
                if bucket.tags[s] == 0 {
                    continue;
                }
                tagged += 1;
                let i = bucket.idx[s] as usize;
                let e = &self.slots[i];
                assert!(!e.is_empty(), "bucket {b} slot {s} points at a free entry");
                let (mut h, tag) = self.place(e.key());
                assert_eq!(bucket.tags[s], tag);
                while h != b {
                    passed[h] += 1;
                    h = self.next(h);
                }
                assert_eq!(self.find(e.key()), Some(i));
            }
        }
        assert_eq!(tagged, self.len);
        assert_eq!(self.len + self.free_len, self.slots.len());
        for (b, bucket) in self.buckets.iter().enumerate() {
            assert_eq!(bucket.overflow, passed[b], "bucket {b}'s overflow count");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::tests::key;
    use crate::conn::Conn;

    /// The burst prefetch's second stage asks for the entry a lookup
    /// reads: in a table at its load limit, nearly every key's probe leads
    /// to its own entry (the rest are false tag matches and keys that went
    /// on past a full bucket); a probe of nothing, of a bucket the table
    /// does not have, or of an absent key asks for no entry outside the
    /// table; and none of it changes the table.
    #[test]
    fn second_stage_prefetches_the_entry_a_lookup_reads() {
        let max = 5000;
        let mut t: Table<Conn> = Table::with_max(max);
        for n in 0..max as u32 {
            let c = Conn {
                key: key(n),
                expires_ms: 9,
                ..Conn::default()
            };
            t.insert(c).unwrap();
        }
        let mut own = 0;
        for n in 0..max as u32 {
            let k = key(n);
            let p = t.prefetch(&k);
            let (b, tag) = t.place(&k);
            assert_eq!(
                p,
                Probe {
                    bucket: b as u32,
                    tag
                }
            );
            let found = t.find(&k);
            assert!(found.is_some());
            if t.first_match(p) == found {
                own += 1;
            }
            assert_eq!(t.prefetch_entry(p), t.first_match(p).map(|i| i as u32));
            t.prefetch_slot(found.unwrap() as u32);
        }
        assert!(
            own * 100 >= max * 90,
            "{own} of {max} probes led to their entry"
        );
        for n in max as u32..2 * max as u32 {
            let p = t.prefetch(&key(n));
            assert!(t.first_match(p).is_none_or(|i| i < t.slots_len()));
        }
        assert_eq!(t.first_match(Probe::default()), None);
        let beyond = Probe {
            bucket: u32::MAX,
            tag: 1,
        };
        assert_eq!(t.first_match(beyond), None);
        assert_eq!(t.prefetch_entry(beyond), None);
        t.prefetch_slot(u32::MAX);
        assert_eq!(t.len(), max);
        t.check();
    }

    #[test]
    fn next_free_names_the_slots_inserts_take() {
        let max = 64;
        let mut t: Table<Conn> = Table::with_max(max);
        let conn = |n| Conn {
            key: key(n),
            expires_ms: 9,
            ..Conn::default()
        };
        for n in 0..8 {
            t.insert(conn(n)).unwrap();
        }
        // A removal pushes its slot back: the next insert takes it.
        let gone = t.find(&key(3)).unwrap();
        t.remove_with(gone);
        assert_eq!(t.next_free(0), Some(gone as u32));
        let ahead: Vec<u32> = (0..4).map(|n| t.next_free(n).unwrap()).collect();
        for (n, want) in (100..).zip(ahead) {
            assert_eq!(t.insert(conn(n)).unwrap(), want as usize);
        }
        while t.len() < max {
            t.insert(conn(1000 + t.len() as u32)).unwrap();
        }
        assert_eq!(t.next_free(0), None);
        t.prefetch_free(0);
        t.prefetch_free(usize::MAX - 1);
        t.check();
    }
}
