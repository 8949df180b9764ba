package log

import (
	"fmt"
	"math"
	"time"
)

// Config holds one partition log's settings. Field names follow Kafka's topic
// configuration keys (given in each comment) so the broker can map them 1:1.
type Config struct {
	// SegmentBytes (segment.bytes) rolls the active segment when the next
	// append would make it larger than this. Default 1 GiB.
	SegmentBytes int64
	// SegmentMs (segment.ms) rolls a non-empty active segment once its first
	// batch is this old. Default 7 days.
	//lint:ignore ST1011 named after the Kafka key, as the broker API specifies
	SegmentMs time.Duration
	// RetentionBytes (retention.bytes) deletes the oldest closed segments
	// while the log is larger than this. Negative means unlimited (default).
	RetentionBytes int64
	// RetentionMs (retention.ms) deletes closed segments whose newest batch
	// timestamp is older than this. Negative means unlimited. Default 7 days.
	//lint:ignore ST1011 named after the Kafka key, as the broker API specifies
	RetentionMs time.Duration
	// IndexIntervalBytes (index.interval.bytes) is how many log bytes are
	// appended between two sparse index entries. Default 4096.
	IndexIntervalBytes int
	// SegmentIndexBytes (segment.index.bytes) caps one segment's offset
	// index; the segment rolls when its index is full. Default 10 MiB.
	SegmentIndexBytes int
	// FlushMessages (flush.messages) fsyncs after this many records.
	// Default math.MaxInt64: never fsync explicitly, rely on the page cache.
	FlushMessages int64
	// FlushMs (flush.ms) fsyncs when the oldest unflushed append is this old
	// (checked by Maintain). Default math.MaxInt64: never.
	//lint:ignore ST1011 named after the Kafka key, as the broker API specifies
	FlushMs time.Duration
	// MaxMessageBytes (max.message.bytes) is the largest record batch
	// accepted. Default 1048588. The records of a compressed batch may
	// decompress to at most DecompressionRatio times this (see
	// MaxDecompressedBatchBytes).
	MaxMessageBytes int
	// MaxDecompressedMessageBytes (max.decompressed.message.bytes) is the
	// longest record, decompressed, that a compressed batch may hold, as
	// in Kafka; a longer one is refused with INVALID_RECORD. Uncompressed
	// records are bounded by MaxMessageBytes alone. Default 2147483639.
	MaxDecompressedMessageBytes int
	// LogAppendTime (message.timestamp.type=LogAppendTime) stamps each batch
	// with the broker's clock on append.
	LogAppendTime bool
	// Compact (cleanup.policy contains "compact") tells recovery that
	// segments may have offset gaps between batches, as left by a cleaner.
	// Otherwise recovery requires every batch to continue the previous
	// one's offsets exactly (the base offset is not covered by the CRC).
	Compact bool
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		RetentionBytes:     -1,
		RetentionMs:        7 * 24 * time.Hour,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		MaxMessageBytes:    1048588,

		MaxDecompressedMessageBytes: math.MaxInt32 - 8,
	}
}

// DecompressionRatio is how many times max.message.bytes the records of one
// compressed batch may decompress to. Producers bound their batches before
// compression (franz-go and librdkafka at 1 MB by default) or by an
// estimate of the compressed size (the Java client's batch.size, 16 KiB by
// default), so a real batch stays far below this, while a compression
// bomb (a 125 KB zstd batch expanding to 1.9 GiB) is refused before the
// broker, the cleaner or any consumer holds it.
const DecompressionRatio = 64

// MaxDecompressedBatchBytes is the most bytes the records of one compressed
// batch may decompress to: DecompressionRatio times MaxMessageBytes, and
// below 2 GiB so that the cleaner can always rewrite them as one batch.
// Append refuses a batch over it with MESSAGE_TOO_LARGE (on which Kafka's
// Java producer splits the batch and retries); the cleaner keeps such a
// batch as it is.
func (c Config) MaxDecompressedBatchBytes() int64 {
	return min(int64(c.MaxMessageBytes)*DecompressionRatio, math.MaxInt32-batchHeaderLen)
}

// recordLimits are the bounds on decoding one batch of this log.
func (c Config) recordLimits() recordLimits {
	return recordLimits{batch: c.MaxDecompressedBatchBytes(), record: int64(c.MaxDecompressedMessageBytes)}
}

// Minimum segment size: a segment must hold at least one batch header.
const minSegmentBytes = batchHeaderLen

// Validate reports the first invalid field, naming its Kafka key.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < minSegmentBytes || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("log: segment.bytes %d out of range [%d, %d]", c.SegmentBytes, minSegmentBytes, math.MaxInt32)
	case c.SegmentMs <= 0:
		return fmt.Errorf("log: segment.ms %v must be positive", c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("log: index.interval.bytes %d must not be negative", c.IndexIntervalBytes)
	case c.SegmentIndexBytes < 4*offsetIndexEntryLen:
		return fmt.Errorf("log: segment.index.bytes %d must be at least %d", c.SegmentIndexBytes, 4*offsetIndexEntryLen)
	case c.FlushMessages <= 0:
		return fmt.Errorf("log: flush.messages %d must be positive", c.FlushMessages)
	case c.FlushMs <= 0:
		return fmt.Errorf("log: flush.ms %v must be positive", c.FlushMs)
	case c.MaxMessageBytes < batchHeaderLen:
		return fmt.Errorf("log: max.message.bytes %d must be at least %d", c.MaxMessageBytes, batchHeaderLen)
	case c.MaxDecompressedMessageBytes < 0:
		return fmt.Errorf("log: max.decompressed.message.bytes %d must not be negative", c.MaxDecompressedMessageBytes)
	}
	return nil
}
