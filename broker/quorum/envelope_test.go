package quorum

import (
	"bytes"
	"testing"
)

// TestEnvelope: an envelope decodes to what was encoded, and what is not
// one is refused.
func TestEnvelope(t *testing.T) {
	for _, e := range []envelope{{1, 0, 1}, {1 << 40, 1<<64 - 1, 1 << 63}} {
		for _, data := range [][]byte{nil, []byte("payload")} {
			b := appendEnvelope(nil, e, data)
			got, d, err := decodeEnvelope(b)
			if err != nil || got != e || !bytes.Equal(d, data) {
				t.Fatalf("decode(encode(%v, %q)) = %v, %q, %v", e, data, got, d, err)
			}
			for i := range len(b) - len(data) {
				if _, _, err := decodeEnvelope(b[:i]); err == nil {
					t.Fatalf("a cut envelope (%d of %d bytes) decoded", i, len(b))
				}
			}
		}
	}
	if _, _, err := decodeEnvelope([]byte{2, 1, 2, 3}); err == nil {
		t.Fatalf("an unknown version decoded")
	}
}
