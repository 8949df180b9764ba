package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// producerIDBlock is how many producer ids are reserved on disk at a time.
const producerIDBlock = 1000

// producerIDs hands out idempotent-producer ids that are never reused, even
// across restarts: the end of the reserved block is persisted (fsynced)
// before any id from it is given out, and a restart starts at that end.
//
// When persisting fails (a full disk) the id is refused and the failure
// logged once; the next request, or the storage prober's recover, tries
// again, and success is logged once.
type producerIDs struct {
	fs     vfs.FS
	path   string
	logger *slog.Logger
	now    func() time.Time
	failed atomic.Pointer[storageFailure] // the write that failed last, nil after one succeeds
	// block, if set (a cluster), gets the next block of ids from the
	// metadata quorum instead of the file.
	block func() (start, end int64, err error)
	mu    struct {
		sync.Mutex
		next, reserved int64
	}
}

func openProducerIDs(fs vfs.FS, path string, logger *slog.Logger, now func() time.Time) (*producerIDs, error) {
	p := &producerIDs{fs: fs, path: path, logger: logger, now: now}
	b, err := vfs.ReadFile(fs, path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("producer ids: %w", err)
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("producer ids: %s holds %q, not a non-negative integer", path, b)
		}
		p.mu.next, p.mu.reserved = n, n
	}
	return p, nil
}

// next returns a fresh producer id.
func (p *producerIDs) next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.next >= p.mu.reserved && p.block != nil {
		start, end, err := p.block()
		if err != nil {
			return 0, err
		}
		p.mu.next, p.mu.reserved = start, end
	}
	if p.mu.next >= p.mu.reserved {
		end := p.mu.reserved + producerIDBlock
		if err := p.persistLocked(end); err != nil {
			return 0, err
		}
		p.mu.reserved = end
	}
	id := p.mu.next
	p.mu.next++
	return id, nil
}

// persistLocked writes the reserved end, noting a failure or a recovery.
func (p *producerIDs) persistLocked(end int64) error {
	if err := writeFileSync(p.fs, p.path, []byte(strconv.FormatInt(end, 10)+"\n")); err != nil {
		err = fmt.Errorf("producer ids: %w", err)
		if p.failed.Load() == nil {
			p.failed.Store(&storageFailure{since: p.now(), err: err})
			p.logger.Error("producer-id file cannot be written; InitProducerId is answered KAFKA_STORAGE_ERROR until it can", "path", p.path, "err", err)
		}
		return err
	}
	if f := p.failed.Swap(nil); f != nil {
		p.logger.Info("producer-id file writable again", "path", p.path, "read_only_for", p.now().Sub(f.since).Round(time.Millisecond))
	}
	return nil
}

// failure reports the last failed write, if no write succeeded since.
func (p *producerIDs) failure() (since time.Time, err error) {
	if f := p.failed.Load(); f != nil {
		return f.since, f.err
	}
	return time.Time{}, nil
}

// recover rewrites the persisted end (unchanged) to find whether the file
// is writable again.
func (p *producerIDs) recover() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed.Load() == nil {
		return nil
	}
	return p.persistLocked(p.mu.reserved)
}
