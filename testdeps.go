//go:build testdeps

// This file keeps in go.mod the modules that only code under testdata/
// imports (go mod tidy does not look inside testdata directories): the FUSE
// and NFS server libraries of the scenario program that testdata/gen puts
// in each guest.
package kwalk

import (
	_ "github.com/go-git/go-billy/v5/memfs"
	_ "github.com/hanwen/go-fuse/v2/fuse"
	_ "github.com/willscott/go-nfs"
	_ "github.com/willscott/go-nfs/helpers"
)
