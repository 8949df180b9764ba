package loader

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// offsetDigits is the zero-padded width of offsets in file names: enough
// for any int64.
const offsetDigits = 20

// Sink folders, relative to the root; all start with '_' so Hive, Spark,
// pyarrow and DuckDB skip them.
const (
	tmpDir      = "_tmp"
	intentsDir  = "_tmp/intents"
	errorsDir   = "_errors"
	hiveDir     = "_hive"
	successFile = "_SUCCESS"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String formats tp as topic[partition].
func (tp TopicPartition) String() string { return fmt.Sprintf("%s[%d]", tp.Topic, tp.Partition) }

// prefix is the file-name prefix every file of tp starts with.
func (tp TopicPartition) prefix() string {
	return tp.Topic + "+" + strconv.FormatInt(int64(tp.Partition), 10) + "+"
}

// FileName is the parsed name of a published file.
type FileName struct {
	TopicPartition
	First, Last int64  // offsets of the first and last row held
	Codec       string // compression codec, e.g. snappy
}

// String formats the base name:
// <topic>+<partition>+<first>+<last>.<codec>.parquet.
func (n FileName) String() string {
	return fmt.Sprintf("%s%0*d+%0*d.%s.parquet", n.prefix(), offsetDigits, n.First, offsetDigits, n.Last, n.Codec)
}

// ParseFileName parses a published file's base name; ok is false for any
// other name.
func ParseFileName(base string) (n FileName, ok bool) {
	rest, found := strings.CutSuffix(base, ".parquet")
	if !found {
		return n, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return n, false
	}
	n.Codec = rest[dot+1:]
	rest = rest[:dot]
	// The topic may not contain '+' (Kafka topics are [a-zA-Z0-9._-]), so
	// split from the right: last, first, partition, then the topic.
	parts := strings.Split(rest, "+")
	if len(parts) != 4 || parts[0] == "" || n.Codec == "" {
		return n, false
	}
	p, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || p < 0 {
		return n, false
	}
	first, err1 := strconv.ParseInt(parts[2], 10, 64)
	last, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || len(parts[2]) != offsetDigits || len(parts[3]) != offsetDigits || first < 0 || last < first {
		return n, false
	}
	n.Topic, n.Partition, n.First, n.Last = parts[0], int32(p), first, last
	return n, true
}

// intentName is the base name of tp's committed intent (done=false) or
// done marker for the batch starting at first.
func intentName(tp TopicPartition, first int64, done bool) string {
	ext := ".intent"
	if done {
		ext = ".done"
	}
	return fmt.Sprintf("%s%0*d%s", tp.prefix(), offsetDigits, first, ext)
}

// preparedName is the base name of the intent an owner of the given epoch
// writes for the batch starting at first, before it commits it by renaming
// it to intentName.
func preparedName(tp TopicPartition, first, epoch int64) string {
	return fmt.Sprintf("%s%0*d.%0*d.prep", tp.prefix(), offsetDigits, first, offsetDigits, epoch)
}

// ownerName is the base name of the marker by which a recovery claims
// ownership epoch epoch of tp.
func ownerName(tp TopicPartition, epoch int64) string {
	return fmt.Sprintf("%s%0*d.owner", tp.prefix(), offsetDigits, epoch)
}

// intentKind says what an entry of the intents folder is.
type intentKind int

const (
	kindIntent   intentKind = iota // committed intent: replayed until done
	kindDone                       // done marker of a finished batch
	kindPrepared                   // intent not committed yet
	kindOwner                      // ownership epoch claim
)

// intentEntry is a parsed name from the intents folder.
type intentEntry struct {
	kind  intentKind
	first int64 // batch start (not for kindOwner)
	epoch int64 // owner epoch (kindPrepared and kindOwner)
}

// parseIntentEntry parses the base name of an entry of tp in the intents
// folder; ok is false for other partitions' entries and foreign names.
func parseIntentEntry(tp TopicPartition, base string) (e intentEntry, ok bool) {
	rest, found := strings.CutPrefix(base, tp.prefix())
	if !found {
		return e, false
	}
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return e, false
	}
	n, ok := parseOffset(rest[:dot])
	if !ok {
		return e, false
	}
	switch ext := rest[dot:]; {
	case ext == ".intent":
		return intentEntry{kind: kindIntent, first: n}, true
	case ext == ".done":
		return intentEntry{kind: kindDone, first: n}, true
	case ext == ".owner":
		return intentEntry{kind: kindOwner, epoch: n}, true
	case strings.HasSuffix(ext, ".prep"):
		epoch, ok := parseOffset(strings.TrimSuffix(ext[1:], ".prep"))
		return intentEntry{kind: kindPrepared, first: n, epoch: epoch}, ok
	}
	return e, false
}

// parseOffset parses a zero-padded offset or epoch.
func parseOffset(s string) (int64, bool) {
	if len(s) != offsetDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// tmpName is the base name of a temporary file of tp, written by the owner
// of the given epoch, whose first row has offset first.
func tmpName(tp TopicPartition, first, epoch int64, nonce string) string {
	return fmt.Sprintf("%s%0*d.%0*d.%s.tmp", tp.prefix(), offsetDigits, first, offsetDigits, epoch, nonce)
}

// parseTmpName returns the owner epoch of a temporary file of tp; files
// named before epochs existed (<first>.<nonce>.tmp) have epoch 0. ok is
// false for names that are not temporary files of tp.
func parseTmpName(tp TopicPartition, base string) (epoch int64, ok bool) {
	rest, found := strings.CutPrefix(base, tp.prefix())
	if !found || !strings.HasSuffix(rest, ".tmp") {
		return 0, false
	}
	parts := strings.Split(strings.TrimSuffix(rest, ".tmp"), ".")
	if len(parts) == 3 {
		if epoch, ok := parseOffset(parts[1]); ok {
			return epoch, true
		}
	}
	return 0, true
}

// join joins slash-separated path elements.
func join(elem ...string) string { return path.Join(elem...) }
