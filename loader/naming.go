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

// intentName is the base name of tp's intent (done=false) or done marker
// for the batch starting at first.
func intentName(tp TopicPartition, first int64, done bool) string {
	ext := ".intent"
	if done {
		ext = ".done"
	}
	return fmt.Sprintf("%s%0*d%s", tp.prefix(), offsetDigits, first, ext)
}

// parseIntentName parses an intent or done marker base name of tp.
func parseIntentName(tp TopicPartition, base string) (first int64, done, ok bool) {
	rest, found := strings.CutPrefix(base, tp.prefix())
	if !found {
		return 0, false, false
	}
	switch {
	case strings.HasSuffix(rest, ".intent"):
		rest = strings.TrimSuffix(rest, ".intent")
	case strings.HasSuffix(rest, ".done"):
		rest, done = strings.TrimSuffix(rest, ".done"), true
	default:
		return 0, false, false
	}
	if len(rest) != offsetDigits {
		return 0, false, false
	}
	first, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || first < 0 {
		return 0, false, false
	}
	return first, done, true
}

// tmpName is the base name of a temporary file of tp whose first row has
// offset first.
func tmpName(tp TopicPartition, first int64, nonce string) string {
	return fmt.Sprintf("%s%0*d.%s.tmp", tp.prefix(), offsetDigits, first, nonce)
}

// join joins slash-separated path elements.
func join(elem ...string) string { return path.Join(elem...) }
