package meta

import (
	"maps"
	"math/rand/v2"
	"testing"
)

// TestCowMap checks the copy-on-write map against plain maps: each version
// keeps its contents while later versions change.
func TestCowMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var versions []cowMap[int, int]
	var refs []map[int]int
	cur, ref := cowMap[int, int]{}, map[int]int{}
	for i := range 3000 {
		k := rng.IntN(500)
		if rng.IntN(3) == 0 {
			cur.del(k)
			delete(ref, k)
		} else {
			cur.set(k, i)
			ref[k] = i
		}
		if i%100 == 0 {
			versions = append(versions, cur)
			refs = append(refs, maps.Clone(ref))
		}
	}
	versions, refs = append(versions, cur), append(refs, ref)
	for vi, v := range versions {
		want := refs[vi]
		if v.len() != len(want) {
			t.Fatalf("version %d: len %d, want %d", vi, v.len(), len(want))
		}
		got := map[int]int{}
		for k, val := range v.all {
			got[k] = val
		}
		if !maps.Equal(got, want) {
			t.Fatalf("version %d differs from its reference", vi)
		}
		for k, val := range want {
			if g, ok := v.get(k); !ok || g != val {
				t.Fatalf("version %d: get(%d) = %d, %v; want %d", vi, k, g, ok, val)
			}
		}
	}
}
