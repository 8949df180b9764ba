package broker

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// producerIDBlock is how many producer ids are reserved on disk at a time.
const producerIDBlock = 1000

// producerIDs hands out idempotent-producer ids that are never reused, even
// across restarts: the end of the reserved block is persisted (fsynced)
// before any id from it is given out, and a restart starts at that end.
type producerIDs struct {
	path string
	mu   struct {
		sync.Mutex
		next, reserved int64
	}
}

func openProducerIDs(path string) (*producerIDs, error) {
	p := &producerIDs{path: path}
	b, err := os.ReadFile(path)
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
	if p.mu.next >= p.mu.reserved {
		end := p.mu.reserved + producerIDBlock
		if err := writeFileSync(p.path, []byte(strconv.FormatInt(end, 10)+"\n")); err != nil {
			return 0, fmt.Errorf("producer ids: %w", err)
		}
		p.mu.reserved = end
	}
	id := p.mu.next
	p.mu.next++
	return id, nil
}
