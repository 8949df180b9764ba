package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// memProfileEvery is how often startMemProfile looks at the heap.
const memProfileEvery = 100 * time.Millisecond

// startMemProfile samples the heap in use every memProfileEvery and keeps
// the heap profile taken at the highest one seen; stop takes a last
// sample and writes the kept profile to path. The profile at the peak,
// not at the end, is the one that says where a run's memory went: at the
// end the workers have let go of theirs.
func startMemProfile(path string, log *slog.Logger) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	runtime.MemProfileRate = 64 << 10 // finer than the default 512 KiB, still cheap
	var (
		peak uint64
		best []byte
		buf  bytes.Buffer
	)
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse <= peak {
			return
		}
		buf.Reset()
		if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
			return
		}
		peak, best = m.HeapInuse, append(best[:0], buf.Bytes()...)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(memProfileEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		sample()
		_, werr := f.Write(best)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			log.Error("writing the heap profile failed", "file", path, "err", werr)
			return
		}
		log.Info("heap profile written", "file", path, "peak_heap_inuse", fmt.Sprintf("%.1f MiB", float64(peak)/(1<<20)))
	}, nil
}
