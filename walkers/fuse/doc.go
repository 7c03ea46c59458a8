// Package fuse walks FUSE connections (fs/fuse/): FuseConnection decodes
// one connection with its queued, processing and background requests and
// the tasks waiting on them; the server tasks are the holders of a
// /dev/fuse file of the connection. Without the fuse module's types (5.10
// keeps no module BTF) connections come from the FUSE superblocks and
// fuse_dev.fc at offset 0 (fuse_typesfree.go).
package fuse
