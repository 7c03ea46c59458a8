package symbols

import "strings"

// BaseName is a kernel function's name without the suffixes the compiler
// adds to clones and split parts of it: "__mutex_lock.constprop.0",
// "rwsem_down_write_slowpath.isra.0", "__down.part.0",
// "folio_wait_bit_common.cold" and "fuse_flush.llvm.1234" all name the
// function before the first dot (C identifiers have none, so the cut is
// exact).
func BaseName(sym string) string {
	if i := strings.IndexByte(sym, '.'); i > 0 {
		return sym[:i]
	}
	return sym
}
