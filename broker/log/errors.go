package log

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors, each with the Kafka error code ErrorCode maps it to.
var (
	// ErrCorruptMessage: bad CRC, magic or length fields (CORRUPT_MESSAGE).
	ErrCorruptMessage = errors.New("log: corrupt record batch")
	// ErrMessageTooLarge: a batch is larger than max.message.bytes (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("log: record batch too large")
	// ErrOffsetOutOfRange: a read outside [StartOffset, EndOffset] (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrDuplicateSequence: an idempotent producer retried a batch that is
	// already stored; the AppendResult holds the original offsets and the
	// broker reports success (DUPLICATE_SEQUENCE_NUMBER handled as success).
	ErrDuplicateSequence = errors.New("log: duplicate sequence number")
	// ErrOutOfOrderSequence: a gap in a producer's sequence numbers, or a
	// new epoch not starting at sequence 0 (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("log: out of order sequence number")
	// ErrInvalidProducerEpoch: a batch from an older producer epoch (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("log: invalid producer epoch")
	// ErrInvalidRecord: a batch that is well formed but not acceptable, for
	// example a record count that disagrees with lastOffsetDelta (INVALID_RECORD).
	ErrInvalidRecord = errors.New("log: invalid record")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("log: closed")
	// ErrOffsetMismatch: AppendReplicated got batches that do not start at
	// the log end offset or do not follow each other (Kafka's
	// UnexpectedAppendOffsetException). It has no Kafka error code of its
	// own (KAFKA_STORAGE_ERROR): a follower's fetcher handles it by asking
	// the leader where to truncate again.
	ErrOffsetMismatch = errors.New("log: replicated batches do not continue the log")
)

// ErrorCode maps an error from this package to the Kafka error code a broker
// answers with: 0 for nil, the code named beside each sentinel, and
// KAFKA_STORAGE_ERROR for anything else (a failed write or read of the
// disk; clients retry it).
func ErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrCorruptMessage):
		return kerr.CorruptMessage.Code
	case errors.Is(err, ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, ErrDuplicateSequence):
		return kerr.DuplicateSequenceNumber.Code
	case errors.Is(err, ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, ErrClosed):
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// CorruptionError describes corrupt or torn data found in a segment file. It
// matches ErrCorruptMessage with errors.Is.
type CorruptionError struct {
	Segment  string // file name of the segment
	Position int64  // file position of the bad batch
	Offset   int64  // offset expected at Position (-1 if unknown)
	Reason   string
}

// Error names the segment, position and offset of the damage.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("log: corrupt segment %s at position %d (offset %d): %s", e.Segment, e.Position, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorruptMessage) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruptMessage }

// IndexMismatchError says an offset-index entry does not point at the batch
// it names: the batch header at Position does not parse or has another base
// offset. Reads that meet one rebuild the segment's indexes from the log and
// retry, so callers outside the package see it only if that fails too.
type IndexMismatchError struct {
	Segment  string // file name of the segment
	Offset   int64  // base offset the entry names
	Position int64  // file position the entry gives
	Reason   string
}

// Error names the entry and what is at its position.
func (e *IndexMismatchError) Error() string {
	return fmt.Sprintf("log: offset index of %s says offset %d is at position %d, but %s", e.Segment, e.Offset, e.Position, e.Reason)
}
