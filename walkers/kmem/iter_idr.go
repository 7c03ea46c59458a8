package kmem

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// IDREntry is one allocated id of an IDR and the pointer stored for it.
type IDREntry struct {
	ID  uint64
	Ptr uint64
}

// IDREntries returns the allocated ids of the struct idr object idr
// (include/linux/idr.h: struct idr { struct radix_tree_root idr_rt;
// unsigned int idr_base; ... }), in id order. idr_base is added to each
// index when the member exists (4.16+).
func IDREntries(idr symbols.Object) ([]IDREntry, error) {
	rt, err := idr.Member("idr_rt")
	if err != nil {
		return nil, err
	}
	var base uint64
	if b, err := idr.MemberUint("idr_base"); err == nil {
		base = b
	}
	addr, ok := rt.Address()
	if !ok {
		return nil, fmt.Errorf("%s: idr not in memory", idr.Path())
	}
	xs, err := XArrayEntries(idr.Prog(), addr, rt.Path())
	out := make([]IDREntry, 0, len(xs))
	for _, x := range xs {
		out = append(out, IDREntry{ID: x.Index + base, Ptr: x.Value})
	}
	return out, err
}

// IDRFind returns the pointer stored for id (idr_find, lib/idr.c), or ok
// false.
func IDRFind(idr symbols.Object, id uint64) (ptr uint64, ok bool, err error) {
	rt, err := idr.Member("idr_rt")
	if err != nil {
		return 0, false, err
	}
	var base uint64
	if b, err := idr.MemberUint("idr_base"); err == nil {
		base = b
	}
	if id < base {
		return 0, false, nil
	}
	addr, isMem := rt.Address()
	if !isMem {
		return 0, false, fmt.Errorf("%s: idr not in memory", idr.Path())
	}
	return XArrayLoad(idr.Prog(), addr, id-base, rt.Path())
}
