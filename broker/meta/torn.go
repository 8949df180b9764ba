package meta

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxTornDescription bounds what describeTornTail reads and prints.
const maxTornDescription = 4 << 10

// describeTornTail says what the bytes [from, to) of a journal hold, for
// the log line of a torn tail being cut: the frame header, and as much of
// the entry's records as is there (each record's type and JSON body,
// marked where it is cut), so an operator knows exactly which change was
// lost. It never fails; unreadable bytes are said to be so.
func describeTornTail(f io.ReaderAt, from, to int64) string {
	n := min(to-from, frameHeaderLen+maxTornDescription)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, from); err != nil && err != io.EOF {
		return fmt.Sprintf("unreadable: %v", err)
	}
	if len(b) < frameHeaderLen {
		return fmt.Sprintf("%d bytes of a frame header", len(b))
	}
	length := binary.BigEndian.Uint32(b)
	payload := b[frameHeaderLen:]
	head := fmt.Sprintf("frame of %d payload bytes, %d present", length, to-from-frameHeaderLen)
	if length == 0 || length > maxFrameLen {
		return head + " (not a frame: the length is out of range)"
	}
	return head + ": " + describeEntryPrefix(payload[:min(len(payload), int(length))])
}

// describeEntryPrefix decodes what it can of an entry cut anywhere.
func describeEntryPrefix(b []byte) string {
	if e, err := DecodeEntry(b); err == nil {
		var recs []string
		for _, r := range e.Records {
			body, _ := EncodeRecord(r)
			recs = append(recs, describeRecord(body, len(body)))
		}
		return fmt.Sprintf("entry of %s, whole: %s", e.Time.Format(time.RFC3339Nano), strings.Join(recs, "; "))
	}
	if len(b) < 9 {
		return fmt.Sprintf("%d bytes of an entry header", len(b))
	}
	out := fmt.Sprintf("entry of %s", time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9]))).UTC().Format(time.RFC3339Nano))
	b = b[9:]
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return out + ", cut before its record count"
	}
	b = b[k:]
	out += fmt.Sprintf(", %d records", count)
	for i := uint64(0); i < count; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 {
			return out + fmt.Sprintf("; record %d: cut before its length", i)
		}
		b = b[k:]
		have := int(min(l, uint64(len(b))))
		out += fmt.Sprintf("; record %d: %s", i, describeRecord(b[:have], int(l)))
		if have < int(l) {
			return out
		}
		b = b[have:]
	}
	return out
}

// describeRecord names an encoded record (version, type, JSON body) of
// want bytes of which b holds the first ones.
func describeRecord(b []byte, want int) string {
	if len(b) < 2 {
		return fmt.Sprintf("cut after %d of %d bytes, before its type", len(b), want)
	}
	s := fmt.Sprintf("%s %s", RecordType(b[1]), b[2:])
	if len(b) < want {
		s += fmt.Sprintf(" (cut after %d of %d bytes)", len(b), want)
	}
	return s
}
