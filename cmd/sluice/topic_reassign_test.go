package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseMoves(t *testing.T) {
	got, err := parseMoves([]string{"0=2,3", "4=1"})
	if err != nil || fmt.Sprint(got) != "map[0:[2 3] 4:[1]]" {
		t.Errorf("parseMoves = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"0"}, {"x=1"}, {"0="}, {"0=1,y"}, {"0=1", "0=2"}, {"-1=2"}} {
		if _, err := parseMoves(bad); err == nil || !strings.Contains(err.Error(), "--move") {
			t.Errorf("parseMoves(%q) = %v, want an error naming --move", bad, err)
		}
	}
}
