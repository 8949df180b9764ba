package broker

// Errors to Kafka error codes. Each storage package maps its own sentinel
// errors beside their definitions: meta.ErrorCode for metadata (used here
// through metaErrorCode) and log.ErrorCode for partition logs. Handlers
// keep no mapping tables of their own.

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/meta"
)

// metaErrorCode maps a metadata validation error to Kafka's error code.
func metaErrorCode(err error) *kerr.Error {
	return kerr.ErrorForCode(meta.ErrorCode(err)).(*kerr.Error)
}

// errMessage returns err's text for a response's ErrorMessage field.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := meta.ErrorMessage(err)
	return &m
}
