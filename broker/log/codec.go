package log

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/sluicehq/sluice/batchcodec"
)

// Decompression of a batch's records, in bounded memory: a batch is read
// through a decompressing reader of package batchcodec (the codec's window
// plus the 64 KiB buffer of recordStream), never decompressed into one
// slice. At most GOMAXPROCS batches are decompressed at once across the
// broker (decodeSlots): decompression is bound by CPU, so more would not be
// faster, and it bounds the memory of the decoders in use to GOMAXPROCS
// times the largest window.

// Codec ids (the low three bits of the batch attributes).
const (
	codecNone   = batchcodec.None
	codecGzip   = batchcodec.Gzip
	codecSnappy = batchcodec.Snappy
	codecLz4    = batchcodec.Lz4
	codecZstd   = batchcodec.Zstd
)

// codecName names a codec id for messages.
func codecName(c int) string { return batchcodec.Name(c) }

// checkCodec refuses a compression codec Kafka does not define.
func checkCodec(h BatchHeader) error {
	if c := h.Compression(); c > codecZstd {
		return fmt.Errorf("%w: unknown compression codec %d (attributes %#04x); Kafka defines 0 none, 1 gzip, 2 snappy, 3 lz4 and 4 zstd",
			ErrCorruptMessage, c, uint16(h.Attributes))
	}
	return nil
}

var decodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// decodeError maps an error of a decompressing reader to the log's: too
// large is MESSAGE_TOO_LARGE, anything else CORRUPT_MESSAGE.
func decodeError(c int, err error) error {
	switch {
	case errors.Is(err, ErrCorruptMessage), errors.Is(err, ErrMessageTooLarge), errors.Is(err, ErrInvalidRecord):
		return err
	case errors.Is(err, batchcodec.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrMessageTooLarge, err)
	case errors.Is(err, batchcodec.ErrCorrupt):
		return fmt.Errorf("%w: %v", ErrCorruptMessage, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorruptMessage, codecName(c), err)
}
