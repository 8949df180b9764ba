package broker

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDecodeRequest feeds arbitrary frame bodies to the request decoder:
// it must return a request or an error, never panic or over-allocate.
func FuzzDecodeRequest(f *testing.F) {
	for _, a := range apis {
		req := kmsg.RequestForKey(int16(a.key))
		for v := a.min; v <= a.max; v++ {
			req.SetVersion(v)
			b := binary.BigEndian.AppendUint16(nil, uint16(a.key))
			b = binary.BigEndian.AppendUint16(b, uint16(v))
			b = binary.BigEndian.AppendUint32(b, 7)
			b = binary.BigEndian.AppendUint16(b, 0xffff)
			if req.IsFlexible() {
				b = append(b, 0)
			}
			f.Add(req.AppendTo(b))
		}
	}
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRequest(b)
		if err == nil && req.body == nil {
			t.Fatalf("no error and no request")
		}
	})
}
