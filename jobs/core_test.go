package jobs

import "testing"

// TestBaseID: retry ids are the first attempt's id plus ".rN"; a ".r" in
// the pipeline's name is not a retry suffix.
func TestBaseID(t *testing.T) {
	for in, want := range map[string]string{
		"pv-20260501T100000Z":        "pv-20260501T100000Z",
		"pv-20260501T100000Z.r2":     "pv-20260501T100000Z",
		"a.rpt-20260501T100000Z":     "a.rpt-20260501T100000Z",
		"a.rpt-20260501T100000Z.r12": "a.rpt-20260501T100000Z",
		"x.r":                        "x.r",
	} {
		if got := baseID(in); got != want {
			t.Errorf("baseID(%q) = %q, want %q", in, got, want)
		}
	}
}
