package log

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("batch 3: %w", ErrCorruptMessage), kerr.CorruptMessage},
		{&CorruptionError{Segment: "x.log"}, kerr.CorruptMessage},
		{ErrMessageTooLarge, kerr.MessageTooLarge},
		{ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{ErrInvalidRecord, kerr.InvalidRecord},
		{ErrClosed, kerr.NotLeaderForPartition},
		{fmt.Errorf("write: %w", syscall.ENOSPC), kerr.KafkaStorageError},
		{errors.New("anything else"), kerr.KafkaStorageError},
	} {
		if got := ErrorCode(tc.err); got != tc.want.Code {
			t.Errorf("ErrorCode(%v) = %v, want %v", tc.err, kerr.ErrorForCode(got), tc.want)
		}
	}
	if ErrorCode(nil) != 0 {
		t.Error("ErrorCode(nil) != 0")
	}
}
