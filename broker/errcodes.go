package broker

// Errors to Kafka error codes. Each storage package maps its own sentinel
// errors beside their definitions: meta.ErrorCode for metadata (used here
// through metaErrorCode) and log.ErrorCode for partition logs (through
// logErrorCode). Handlers keep no mapping tables of their own.

import (
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/meta"
)

// logErrorCode maps a partition log's error (log.Append, log.Read,
// log.DeleteRecordsBefore) to Kafka's error code; nil for nil.
func logErrorCode(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	return kerr.ErrorForCode(log.ErrorCode(err)).(*kerr.Error)
}

// metaErrorCode maps a metadata validation error to Kafka's error code.
func metaErrorCode(err error) *kerr.Error {
	return kerr.ErrorForCode(meta.ErrorCode(err)).(*kerr.Error)
}

// errMessage returns err's text for a response's ErrorMessage field, cut
// to maxErrorMessage bytes (on a UTF-8 boundary, ending in "...").
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := meta.ErrorMessage(err)
	if len(m) > maxErrorMessage {
		cut := maxErrorMessage - 3
		for cut > 0 && !utf8.RuneStart(m[cut]) {
			cut--
		}
		m = m[:cut] + "..."
	}
	return &m
}

// maxErrorMessage bounds a response's ErrorMessage: a message quoting a
// name from the request could otherwise pass the 32,767 bytes a
// non-flexible string can carry, or make an answer larger than its request.
const maxErrorMessage = 1024
