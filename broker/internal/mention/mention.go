// Package mention helps a handler answer each resource a request names
// once, however often the request names it: counting mentions, noticing a
// first mention, and gathering answers to one key under one response entry.
// The broker's policy for duplicates is in broker/duplicates.go.
package mention

// Counts is how often each key is named in a request.
type Counts[K comparable] map[K]int

// Take returns how often k is named the first time it is called for k, and
// 0 after: the caller answers k when Take is 1, answers a duplicate when it
// is more, and skips k when it is 0.
func (c Counts[K]) Take(k K) int {
	n := c[k]
	delete(c, k)
	return n
}

// Seen is the set of keys answered so far.
type Seen[K comparable] map[K]struct{}

// First reports whether k is seen for the first time, and marks it seen.
func (s Seen[K]) First(k K) bool {
	if _, ok := s[k]; ok {
		return false
	}
	s[k] = struct{}{}
	return true
}

// Entry returns the index in *out of key's entry, appending the one mk
// makes on key's first use.
func Entry[K comparable, E any](idx map[K]int, out *[]E, key K, mk func() E) int {
	if i, ok := idx[key]; ok {
		return i
	}
	*out = append(*out, mk())
	idx[key] = len(*out) - 1
	return len(*out) - 1
}

// Count counts how often each key names an item of items.
func Count[T any, K comparable](items []T, key func(*T) K) Counts[K] {
	c := make(Counts[K], len(items))
	for i := range items {
		c[key(&items[i])]++
	}
	return c
}

// CountNested counts how often each key names an inner item (a partition)
// of the outer items (topics).
func CountNested[T, P any, K comparable](outer []T, inner func(*T) []P, key func(*T, *P) K) Counts[K] {
	c := Counts[K]{}
	for i := range outer {
		ps := inner(&outer[i])
		for j := range ps {
			c[key(&outer[i], &ps[j])]++
		}
	}
	return c
}
