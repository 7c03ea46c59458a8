package symbols

import (
	"cmp"
	"slices"
)

// buildNameIndex sorts the names of syms by (name, globals first, address
// order). The index holds the names themselves: the sort and the binary
// search then touch one contiguous array.
func buildNameIndex(syms []Symbol) []nameEntry {
	ix := make([]nameEntry, len(syms))
	for i := range syms {
		ix[i] = nameEntry{key: nameKey(syms[i].Name), name: syms[i].Name, idx: int32(i), local: !syms[i].isGlobal()}
	}
	sortNameIndex(ix)
	return ix
}

// compareEntries is the order of the name index.
func compareEntries(a, b nameEntry) int {
	if c := compareName(a, b.key, b.name); c != 0 {
		return c
	}
	if a.local != b.local {
		if b.local {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.idx, b.idx)
}

// radixMin is the size from which sortNameIndex radix-sorts; a comparison
// sort is as fast below it.
const radixMin = 256

// sortNameIndex sorts ix (in idx order on entry, keys set) by
// compareEntries: an MSD radix sort 8 bytes at a time — a stable sort on the
// keys, then the same for each run of equal keys on the names' next 8
// bytes — with a comparison sort for small runs. A comparison sort of ~10^5
// kernel names costs several times more: most of them share their first 8
// bytes with others ("__ksymtab_", "trace_event_"), and each comparison
// then reads both names.
func sortNameIndex(ix []nameEntry) {
	sortNameRun(ix, 0)
}

// sortNameRun sorts ix, whose names share their first depth bytes and
// whose keys are the 8 bytes after them; it leaves the keys as they were.
func sortNameRun(ix []nameEntry, depth int) {
	if len(ix) < radixMin {
		slices.SortFunc(ix, compareEntries)
		return
	}
	radixSortKeys(ix)
	for i := 0; i < len(ix); {
		j := i + 1
		for j < len(ix) && ix[j].key == ix[i].key {
			j++
		}
		if j-i > 1 {
			sortEqualKeys(ix[i:j], depth)
		}
		i = j
	}
}

// sortEqualKeys sorts a run whose names share their first depth+8 bytes
// (or are equal and shorter).
func sortEqualKeys(run []nameEntry, depth int) {
	next := depth + 8
	longer := false
	for i := range run {
		if len(run[i].name) > next {
			longer = true
			break
		}
	}
	if !longer || len(run) < radixMin {
		// Equal names (in idx order: only globals must move first), or few.
		slices.SortFunc(run, compareEntries)
		return
	}
	key := run[0].key
	for i := range run {
		run[i].key = nameKey(run[i].name[min(next, len(run[i].name)):])
	}
	sortNameRun(run, next)
	for i := range run {
		run[i].key = key
	}
}

// radixSortKeys sorts ix by key, stably (least significant byte first),
// skipping the bytes all keys share.
func radixSortKeys(ix []nameEntry) {
	tmp := make([]nameEntry, len(ix))
	src, dst := ix, tmp
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for i := range src {
			count[byte(src[i].key>>shift)]++
		}
		if count[byte(src[0].key>>shift)] == len(src) {
			continue // every key has this byte
		}
		pos := 0
		for b := range count {
			c := count[b]
			count[b] = pos
			pos += c
		}
		for i := range src {
			b := byte(src[i].key >> shift)
			dst[count[b]] = src[i]
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &ix[0] {
		copy(ix, src)
	}
}
