package broker

import (
	"log/slog"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/log/vfs"
	"github.com/sluicehq/sluice/broker/log/vfs/errorfs"
)

// After a machine crash (only what was fsynced survives, directory entries
// included) a restarted broker never hands out a producer id it handed out
// before: writeFileSync renamed the new block end into place without
// fsyncing the folder, so the crash brought back the older file (or none)
// and ids were reused.
func TestProducerIDsSurviveMachineCrash(t *testing.T) {
	fs := errorfs.NewStrict()
	if err := fs.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	open := func(fs vfs.FS) *producerIDs {
		p, err := openProducerIDs(fs, "/data/producer-ids", slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open(fs)
	var last int64
	for range 2*producerIDBlock + 1 { // three blocks reserved, three renames
		id, err := p.next()
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	id, err := open(fs.Crash()).next()
	if err != nil {
		t.Fatal(err)
	}
	if id <= last {
		t.Fatalf("after a machine crash the next producer id is %d; %d was already handed out", id, last)
	}
	// The cluster id, written the same way, survives too.
	cid, err := loadClusterID(fs, "/data/cluster.id")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := loadClusterID(fs.Crash(), "/data/cluster.id"); err != nil || got != cid {
		t.Fatalf("cluster id after a crash: %q, %v; want %q", got, err, cid)
	}
}
