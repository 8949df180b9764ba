package meta

import "hash/maphash"

// cowShards is the number of shards of a cowMap: a write copies one shard,
// so changing one topic among n costs about n/cowShards, not n.
const cowShards = 64

var cowSeed = maphash.MakeSeed()

// cowMap is a copy-on-write map. Copying the struct (by value) makes a new
// version that shares every shard; set and del copy only the shard they
// write, so older versions never change.
type cowMap[K comparable, V any] struct {
	shards [cowShards]map[K]V
	n      int
}

func shardOf[K comparable](k K) int { return int(maphash.Comparable(cowSeed, k) % cowShards) }

func (m *cowMap[K, V]) get(k K) (V, bool) {
	v, ok := m.shards[shardOf(k)][k]
	return v, ok
}

func (m *cowMap[K, V]) set(k K, v V) {
	i := shardOf(k)
	old := m.shards[i]
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	if _, exists := old[k]; !exists {
		m.n++
	}
	next[k] = v
	m.shards[i] = next
}

func (m *cowMap[K, V]) del(k K) {
	i := shardOf(k)
	old := m.shards[i]
	if _, ok := old[k]; !ok {
		return
	}
	next := make(map[K]V, len(old))
	for ok, ov := range old {
		if ok != k {
			next[ok] = ov
		}
	}
	m.n--
	m.shards[i] = next
}

func (m *cowMap[K, V]) len() int { return m.n }

// all yields every entry in no particular order.
func (m *cowMap[K, V]) all(yield func(K, V) bool) {
	for _, s := range m.shards {
		for k, v := range s {
			if !yield(k, v) {
				return
			}
		}
	}
}
