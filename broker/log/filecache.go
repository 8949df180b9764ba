package log

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// Open files
//
// Segment and index files are opened on demand through a FileCache that
// every log of a broker shares, so the number of partitions is bounded by
// disk and memory rather than by the descriptor limit (Kafka keeps every
// segment's three files open for as long as the segment exists). A file is
// open while it is in use (an append, an index search, a Chunk not yet
// released) and, after that, for as long as the cache has room: when a file
// must be opened and the cache is full, the least recently used file that
// nobody uses is closed (preferring, among the 16 least recently used, one
// that needs no fsync). A file written since its last fsync is fsynced
// before it is closed, so closing never loses the log's failure semantics:
// a failed fsync there is kept and returned by the file's next write or
// sync, which fails the log as any failed write or fsync does. Files in use
// are never closed under their user; when every open file is in use the
// cache goes over its capacity rather than fail.

// ErrSegmentGone is returned when a segment's file is used after the
// segment was deleted or replaced (retention, DeleteRecords, compaction)
// and its descriptor is closed. Log.Read retries with the new segment list.
var ErrSegmentGone = errors.New("log: segment was deleted or replaced")

// FileCache bounds the segment and index files held open by the logs that
// share it. It is safe for concurrent use.
type FileCache struct {
	capacity int // 0: unbounded
	mu       sync.Mutex
	cond     *sync.Cond // signalled when a file stops being busy
	open     int        // descriptors held, including ones being opened or closed
	idle     list.List  // open files nobody uses, least recently used first
	stats    FileCacheStats
}

// FileCacheStats are a FileCache's counters.
type FileCacheStats struct {
	Capacity  int   // the bound; 0 means none
	Open      int   // descriptors held now
	Opens     int64 // files opened (including created)
	Evictions int64 // idle files closed to make room
	// EvictionSyncs counts evictions that had to fsync first.
	EvictionSyncs int64
	// Overflows counts opens beyond the capacity because every open file
	// was in use.
	Overflows int64
}

// NewFileCache returns a cache holding at most capacity files open while
// they are idle; capacity <= 0 means no bound (every file stays open once
// used, as before this cache existed).
func NewFileCache(capacity int) *FileCache {
	c := &FileCache{capacity: max(capacity, 0)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Stats returns the cache's counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Capacity, st.Open = c.capacity, c.open
	return st
}

// cachedFile is one segment or index file, opened on demand by name. It
// implements vfs.File: each call holds the file open only for its duration
// (see acquire for longer holds). Fields after c, fs and name are guarded
// by c.mu.
type cachedFile struct {
	c    *FileCache
	fs   vfs.FS
	name string

	f       vfs.File      // nil while closed
	refs    int           // users holding f
	busy    bool          // being opened or closed outside c.mu
	elem    *list.Element // in c.idle while open with no user
	retired bool          // deleted, replaced or closed by its log: never reopened
	writes  uint64        // generation of the last change (write, truncate)
	written uint64        // generation of the last change made by this process
	synced  uint64        // generation covered by the last successful fsync
	err     error         // a failed fsync: returned by every later change or sync
	// failed is the owning log's: a failed fsync before an eviction is
	// stored there too, so that the log fails at its next append whichever
	// of its files it was.
	failed *atomic.Pointer[error]
}

// How openFile opens a name.
type openMode int

const (
	openExisting openMode = iota // the file must exist
	openOrCreate                 // create it empty if missing
	createFile                   // create it, truncating an existing one
)

// openFile opens name now and returns it open and idle, counted against
// the capacity. dirty says it may hold data that was never fsynced (written
// before a crash), so that its first Sync fsyncs it; closing it to make
// room does not, since no write of this process is at stake (a later Sync
// reopens and fsyncs it, as before the cache an fsync on a descriptor
// opened after the crash did). A created file starts clean: it holds
// nothing until written.
func (c *FileCache) openFile(fs vfs.FS, name string, mode openMode, dirty bool, failed *atomic.Pointer[error]) (*cachedFile, error) {
	h := &cachedFile{c: c, fs: fs, name: name, failed: failed}
	if dirty {
		h.writes = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.makeRoomLocked()
	c.open++
	c.mu.Unlock()
	var f vfs.File
	var err error
	switch mode {
	case createFile:
		f, err = fs.Create(name)
	default:
		f, err = fs.OpenAppend(name)
		if mode == openOrCreate && errors.Is(err, os.ErrNotExist) {
			f, err = fs.Create(name)
		}
	}
	c.mu.Lock()
	if err != nil {
		c.open--
		return nil, err
	}
	c.stats.Opens++
	h.f = f
	h.elem = c.idle.PushBack(h)
	return h, nil
}

// makeRoomLocked closes idle files until one more may be opened, or until
// none is idle. It drops c.mu while it closes one.
func (c *FileCache) makeRoomLocked() {
	for c.capacity > 0 && c.open >= c.capacity {
		victim := c.victimLocked()
		if victim == nil {
			c.stats.Overflows++
			return
		}
		v := victim.Value.(*cachedFile)
		c.idle.Remove(victim)
		v.elem = nil
		v.busy = true
		f, dirty := v.f, v.synced < v.written && v.err == nil
		gen := v.writes
		v.f = nil
		c.stats.Evictions++
		if dirty {
			c.stats.EvictionSyncs++
		}
		c.mu.Unlock()
		var serr error
		if dirty {
			serr = f.Sync()
		}
		cerr := f.Close()
		c.mu.Lock()
		v.busy = false
		c.open--
		if serr != nil {
			v.err = fmt.Errorf("fsync %s before closing it: %w", v.name, serr)
			if v.failed != nil {
				v.failed.CompareAndSwap(nil, &v.err)
			}
		} else if dirty {
			v.synced = max(v.synced, gen)
		}
		_ = cerr // a close error after a successful fsync loses nothing
		c.cond.Broadcast()
	}
}

// victimWindow is how many of the least recently used idle files
// victimLocked looks through for one that needs no fsync to close.
const victimWindow = 16

// victimLocked picks the idle file to close: the least recently used one
// that needs no fsync among the victimWindow least recently used, else the
// least recently used; nil if none is idle.
func (c *FileCache) victimLocked() *list.Element {
	e := c.idle.Front()
	for i := 0; e != nil && i < victimWindow; i, e = i+1, e.Next() {
		if v := e.Value.(*cachedFile); v.written <= v.synced {
			return e
		}
	}
	return c.idle.Front()
}

// acquire returns the open file, opening it if needed; the caller must
// call release. It fails with ErrSegmentGone once the file is retired and
// closed. With change set (the caller will write or truncate) it fails
// with the file's sticky fsync error, if any.
func (h *cachedFile) acquire(change bool) (vfs.File, error) {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if change && h.err != nil {
		return nil, h.err
	}
	return h.acquireLocked()
}

func (h *cachedFile) acquireLocked() (vfs.File, error) {
	c := h.c
	for {
		for h.busy {
			c.cond.Wait()
		}
		if h.f != nil {
			h.refs++
			if h.elem != nil {
				c.idle.Remove(h.elem)
				h.elem = nil
			}
			return h.f, nil
		}
		if h.retired {
			return nil, fmt.Errorf("%w: %s", ErrSegmentGone, h.name)
		}
		c.makeRoomLocked()
		if h.busy || h.f != nil || h.retired {
			continue // changed while makeRoomLocked dropped the lock
		}
		h.busy = true
		c.open++
		name := h.name
		c.mu.Unlock()
		f, err := h.fs.OpenAppend(name)
		c.mu.Lock()
		h.busy = false
		c.cond.Broadcast()
		if err != nil {
			c.open--
			if errors.Is(err, os.ErrNotExist) && h.retired {
				return nil, fmt.Errorf("%w: %s", ErrSegmentGone, h.name)
			}
			return nil, fmt.Errorf("open %s: %w", h.name, err)
		}
		c.stats.Opens++
		h.f = f
	}
}

// release ends a use begun by acquire; changed says the caller wrote to or
// truncated the file.
func (h *cachedFile) release(changed bool) {
	c := h.c
	c.mu.Lock()
	if changed {
		h.writes++
		h.written = h.writes
	}
	h.refs--
	var closeNow vfs.File
	if h.refs == 0 {
		if h.retired {
			closeNow, h.f = h.f, nil
			c.open--
		} else {
			h.elem = c.idle.PushBack(h)
		}
	}
	c.mu.Unlock()
	if closeNow != nil {
		closeNow.Close()
	}
}

func (h *cachedFile) ReadAt(p []byte, off int64) (int, error) {
	f, err := h.acquire(false)
	if err != nil {
		return 0, err
	}
	defer h.release(false)
	return f.ReadAt(p, off)
}

func (h *cachedFile) Write(p []byte) (int, error) {
	f, err := h.acquire(true)
	if err != nil {
		return 0, err
	}
	n, err := f.Write(p)
	h.release(n > 0 || err != nil)
	return n, err
}

// Truncate cuts the file to size; a file already of that size is left
// alone (and needs no fsync for it). Unlike Write it works after a failed
// fsync: recovery cuts unacknowledged bytes then.
func (h *cachedFile) Truncate(size int64) error {
	f, err := h.acquire(false)
	if err != nil {
		return err
	}
	if cur, serr := f.Size(); serr == nil && cur == size {
		h.release(false)
		return nil
	}
	err = f.Truncate(size)
	h.release(true)
	return err
}

func (h *cachedFile) Size() (int64, error) {
	f, err := h.acquire(false)
	if err != nil {
		return 0, err
	}
	defer h.release(false)
	return f.Size()
}

// Sync fsyncs what was changed since the last fsync; a file with nothing
// to sync is not opened. A failed fsync is sticky: it is returned by every
// later Sync and Write.
func (h *cachedFile) Sync() error {
	c := h.c
	c.mu.Lock()
	for h.busy {
		c.cond.Wait()
	}
	if h.err != nil || h.synced >= h.writes || h.retired {
		// A retired file was deleted or replaced: nothing to make durable.
		err := h.err
		c.mu.Unlock()
		return err
	}
	gen := h.writes
	f, err := h.acquireLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	err = f.Sync()
	c.mu.Lock()
	if err != nil {
		h.err = err
	} else {
		h.synced = max(h.synced, gen)
	}
	c.mu.Unlock()
	h.release(false)
	return err
}

// rename points the file at its new name after fs.Rename moved it.
func (h *cachedFile) rename(name string) {
	h.c.mu.Lock()
	h.name = name
	h.c.mu.Unlock()
}

// Close retires the file: it is closed now if nobody uses it, else when
// its last user releases it, and never reopened. Nothing is fsynced.
func (h *cachedFile) Close() error {
	c := h.c
	c.mu.Lock()
	for h.busy {
		c.cond.Wait()
	}
	h.retired = true
	var f vfs.File
	if h.refs == 0 && h.f != nil {
		f, h.f = h.f, nil
		if h.elem != nil {
			c.idle.Remove(h.elem)
			h.elem = nil
		}
		c.open--
	}
	c.mu.Unlock()
	if f != nil {
		return f.Close()
	}
	return nil
}

// fileRef is a hold on an open file, given out with a Chunk.
type fileRef struct {
	mu sync.Mutex
	h  *cachedFile
}

func (r *fileRef) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	h := r.h
	r.h = nil
	r.mu.Unlock()
	if h != nil {
		h.release(false)
	}
}
