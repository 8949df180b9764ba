package meta

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Validation errors returned by Apply and Store.Apply. They are wrapped with
// a message naming the topic, key or value at fault; test with errors.Is and
// map to a Kafka error code with ErrorCode.
var (
	// ErrTopicExists: a topic with this name already exists (TOPIC_ALREADY_EXISTS).
	ErrTopicExists = errors.New("meta: topic already exists")
	// ErrUnknownTopic: no topic has this name or ID (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopic = errors.New("meta: unknown topic")
	// ErrInvalidTopic: the topic name breaks Kafka's naming rules or collides
	// with an existing name once '.' and '_' are treated alike
	// (INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopic = errors.New("meta: invalid topic")
	// ErrInvalidPartitions: a partition count is <= 0, or CreatePartitions
	// does not increase the count (INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("meta: invalid partitions")
	// ErrInvalidReplicationFactor: the replication factor is < 1 or larger
	// than the number of brokers (INVALID_REPLICATION_FACTOR).
	ErrInvalidReplicationFactor = errors.New("meta: invalid replication factor")
	// ErrInvalidConfig: an unknown config key, a bad value, or a read-only
	// key (INVALID_CONFIG).
	ErrInvalidConfig = errors.New("meta: invalid config")
	// ErrInvalidRecord: a record is malformed (bad ID, bad encoding, unknown
	// type). Mapped to INVALID_REQUEST.
	ErrInvalidRecord = errors.New("meta: invalid record")
	// ErrInvalidRequest: a request Kafka refuses as a whole
	// (INVALID_REQUEST), such as a dynamic broker config change to a key
	// that cannot change at runtime or to a bad value, as Kafka answers.
	ErrInvalidRequest = errors.New("meta: invalid request")
	// ErrPolicyViolation: a change the broker's limits forbid, such as more
	// partitions than max.broker.partitions (POLICY_VIOLATION).
	ErrPolicyViolation = errors.New("meta: policy violation")
	// ErrClosed: the Store or Journal was closed.
	ErrClosed = errors.New("meta: closed")
	// ErrStorage: the journal failed a write or fsync (a full disk, an I/O
	// error) and the Store refuses changes until Recover finds the disk
	// writable (KAFKA_STORAGE_ERROR, which clients retry).
	ErrStorage = errors.New("meta: metadata journal cannot be written")
)

// ErrorCode maps an error from this package to the Kafka error code a broker
// should answer with: 0 for nil, KAFKA_STORAGE_ERROR for a journal that
// cannot be written, UNKNOWN_SERVER_ERROR for anything else that is not a
// validation error.
func ErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, ErrPolicyViolation):
		return kerr.PolicyViolation.Code
	case errors.Is(err, ErrInvalidRecord), errors.Is(err, ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, ErrStorage):
		return kerr.KafkaStorageError.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// ErrorMessage returns the text to put in a Kafka response's ErrorMessage
// field for err: the message without the "meta: ..." sentinel prefix when
// the error wraps one, so clients see "topic \"a.b\" collides with existing
// topic \"a_b\"" rather than package-internal wording.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var ve *validationError
	if errors.As(err, &ve) {
		return ve.msg
	}
	return err.Error()
}

// validationError is a sentinel plus a human message; Error() gives
// "<sentinel>: <msg>".
type validationError struct {
	kind error
	msg  string
}

func (e *validationError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *validationError) Unwrap() error { return e.kind }

func invalid(kind error, format string, args ...any) error {
	return &validationError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// CorruptionError reports a journal frame that fails its length or CRC check
// and is not a torn tail (more data follows it).
type CorruptionError struct {
	Path   string // journal file
	Pos    int64  // byte position of the bad frame
	Offset int64  // journal offset the frame would have had
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("meta: corrupt journal %s at byte %d (offset %d): %s", e.Path, e.Pos, e.Offset, e.Reason)
}
