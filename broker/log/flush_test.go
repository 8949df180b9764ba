package log

import (
	"testing"
	"time"
)

func recoveryPoint(l *Log) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.recoveryPoint
}

func TestFlushPolicies(t *testing.T) {
	t.Run("flush.messages", func(t *testing.T) {
		e := newEnv(t)
		cfg := DefaultConfig()
		cfg.FlushMessages = 5 // records, not batches
		l := e.open(cfg)
		_, syncs0 := e.fs.Counts()
		mustAppend(t, l, makeBatch(t, spec("a", "b")))
		mustAppend(t, l, makeBatch(t, spec("c", "d")))
		if _, s := e.fs.Counts(); s != syncs0 || recoveryPoint(l) != 0 {
			t.Fatalf("fsynced after 4 records (syncs %d -> %d)", syncs0, s)
		}
		mustAppend(t, l, makeBatch(t, spec("e")))
		if _, s := e.fs.Counts(); s == syncs0 || recoveryPoint(l) != 5 {
			t.Fatalf("not fsynced after 5 records: syncs %d, recovery point %d", s, recoveryPoint(l))
		}
		if cp, _ := readCheckpoint(e.fs, e.dir, recoveryPointFile); cp != 5 {
			t.Fatalf("recovery checkpoint file says %d", cp)
		}
	})
	t.Run("flush.ms", func(t *testing.T) {
		e := newEnv(t)
		cfg := DefaultConfig()
		cfg.FlushMs = time.Second
		l := e.open(cfg)
		l.Maintain(e.clock.Now()) // settles the initial checkpoint
		mustAppend(t, l, makeBatch(t, spec("a")))
		_, syncs0 := e.fs.Counts()
		e.clock.Advance(999 * time.Millisecond)
		l.Maintain(e.clock.Now())
		if _, s := e.fs.Counts(); s != syncs0 {
			t.Fatal("fsynced before flush.ms elapsed")
		}
		e.clock.Advance(time.Millisecond)
		l.Maintain(e.clock.Now())
		if _, s := e.fs.Counts(); s == syncs0 || recoveryPoint(l) != 1 {
			t.Fatalf("not fsynced after flush.ms: recovery point %d", recoveryPoint(l))
		}
	})
	t.Run("default never fsyncs appends but fsyncs rolled segments", func(t *testing.T) {
		e := newEnv(t)
		l := e.open(smallConfig())
		l.Maintain(e.clock.Now())
		_, syncs0 := e.fs.Counts()
		for i := 0; i < 20; i++ {
			mustAppend(t, l, makeBatch(t, spec(val(i))))
		}
		if _, s := e.fs.Counts(); s != syncs0 {
			t.Fatalf("%d fsyncs during appends with flush.messages at its default", s-syncs0)
		}
		for i := 20; i < 60; i++ {
			mustAppend(t, l, makeBatch(t, spec(val(i))))
		}
		segs := l.Segments()
		if len(segs) < 2 {
			t.Fatal("no roll")
		}
		if err := l.Maintain(e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if rp := recoveryPoint(l); rp < segs[len(segs)-1].BaseOffset {
			t.Fatalf("recovery point %d below the active segment %d after Maintain", rp, segs[len(segs)-1].BaseOffset)
		}
	})
}
