package broker

import (
	"encoding/binary"
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Decoding a request allocates a bounded multiple of its bytes. kmsg
// refuses an array whose count is larger than the bytes left (every element
// takes at least one byte), so a 4-byte count of 2^31 allocates nothing;
// what an element costs in memory over its bytes on the wire is the rest.

// decodeAllocBound is the most a request may cost to decode, per byte:
// measured at most 24 (Metadata v0: a 2-byte topic name becomes a 48-byte
// struct and string pointer).
const decodeAllocBound = 32

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// frameOf is req framed as decodeRequest takes it (header v1 or v2).
func frameOf(req kmsg.Request) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// TestHugeCountsAllocateNothing writes 2^31-1 (and, for flexible versions,
// a huge uvarint) at every position of every served request with one of
// each array: decoding fails or succeeds without allocating more than the
// bound.
func TestHugeCountsAllocateNothing(t *testing.T) {
	eachServed(1, func(a *api, v int16, frame []byte) {
		worst := uint64(0)
		for at := 10; at < len(frame); at++ {
			for _, count := range [][]byte{{0x7f, 0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff, 0x07}} {
				b := append([]byte(nil), frame...)
				copy(b[at:], count)
				worst = max(worst, allocated(func() { decodeRequest(b) }))
			}
		}
		if limit := uint64(decodeAllocBound*len(frame) + 16<<10); worst > limit {
			t.Errorf("%s v%d: a huge count in a %d-byte request allocated %d bytes; want at most %d", a.name, v, len(frame), worst, limit)
		}
	})
}

// eachServed calls fn with every served API and version and a request of
// it whose top-level arrays hold n empty elements (deeper ones one).
func eachServed(n int, fn func(a *api, v int16, frame []byte)) {
	for i := range apis {
		a := &apis[i]
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(int16(a.key))
			req.SetVersion(v)
			fillArrays(reflect.ValueOf(req), n, 1)
			fn(a, v, frameOf(req))
		}
	}
}

// TestDecodeAllocationBounded decodes every served request with every
// array holding many empty elements, the shape that costs most memory per
// byte, and checks the cost.
func TestDecodeAllocationBounded(t *testing.T) {
	eachServed(20000, func(a *api, v int16, frame []byte) {
		var err error
		got := allocated(func() { _, err = decodeRequest(frame) })
		if err != nil {
			t.Fatalf("%s v%d: %v", a.name, v, err)
		}
		if limit := uint64(decodeAllocBound*len(frame) + 16<<10); got > limit {
			t.Errorf("%s v%d: decoding %d bytes allocated %d (%.1fx); want at most %d", a.name, v, len(frame), got, float64(got)/float64(len(frame)), limit)
		}
	})
}

// fillArrays sets every top-level array of v to n zero elements, and every
// deeper one to inner.
func fillArrays(v reflect.Value, n, inner int) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillArrays(v.Elem(), n, inner)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillArrays(v.Field(i), n, inner)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		if n > 0 {
			fillArrays(s.Index(0), inner, inner)
			for i := 1; i < n; i++ {
				s.Index(i).Set(s.Index(0))
			}
		}
		v.Set(s)
	}
}
