package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestParseSeeds(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "127.0.0.1:9092", want: []string{"127.0.0.1:9092"}},
		{in: " a:1, b:2 ,", want: []string{"a:1", "b:2"}},
		{in: "[::1]:9092", want: []string{"[::1]:9092"}},
		{in: "", wantErr: ErrNoSeeds.Error()},
		{in: " , ", wantErr: ErrNoSeeds.Error()},
		{in: "a:1,localhost", wantErr: `"localhost" is not host:port`},
	} {
		got, err := ParseSeeds(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseSeeds(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ParseSeeds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseSeeds(""); !errors.Is(err, ErrNoSeeds) {
		t.Errorf("an empty list: %v, want ErrNoSeeds", err)
	}
}

// A request the brokers never answer ends after Timeout with a
// RequestError that names the request, the brokers and the bound.
func TestRequestErrorNamesBrokersAndTimeout(t *testing.T) {
	addr := testutil.SilentListener(t)
	c := Cluster{Seeds: []string{addr}, ClientID: "t", Timeout: time.Second}
	adm, err := c.NewAdmin()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	_, err = adm.ListTopics(context.Background(), false)
	var re *RequestError
	if !errors.As(err, &re) || !re.TimedOut() {
		t.Fatalf("ListTopics of a silent broker: %v, want a timed-out *RequestError", err)
	}
	want := "list topics: brokers " + addr + ": no answer within 1s: "
	if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q, want it to start %q and wrap DeadlineExceeded", err, want)
	}
}
