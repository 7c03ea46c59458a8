// Package kmem holds the typed reads every walker shares: iterators over
// the kernel's containers and helpers for members and raw layouts.
//
// ListHeadNodes / ListEntries (struct list_head, prev-checked), ListNodes
// (a circular list from its head's address), CircularNodes (the headless
// waiter rings of 7.1+ locks), HlistNodes, XArrayEntries / XArrayLoad
// (struct xarray, also radix trees), IDREntries / IDRFind (struct idr),
// RBTreeNodes (struct rb_root, in order) and MapleEntries (struct
// maple_tree, 6.1+: the [First, Last] ranges and their entries, in order;
// mm_struct.mm_mt gives a process's VMAs). Each is bounded, detects cycles
// (symbols.ErrCycle) and corrupt links (ErrListCorrupt, ErrListTruncated),
// and names the head it was given in errors. Each has a fuzz target
// (iter_fuzz_test.go).
//
// ScalarMember reads an integer member that may be an atomic_t,
// atomic_long_t or refcount_t; FieldOf / FirstField resolve member paths to
// offsets for structures read as one block of bytes.
package kmem
