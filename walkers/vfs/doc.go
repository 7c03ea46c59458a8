// Package vfs walks open files, paths and mounts.
//
//	files, err := vfs.Files(p, t)          // fd table: path, inode, type, fs, /dev/fuse
//	path, err := vfs.FilePath(p, fileAddr) // like /proc/PID/fd: "pipe:[1]", " (deleted)"
//	path, err := vfs.DentryPath(p, vfsmountAddr, dentryAddr)
//	path, err := vfs.InodePath(p, inodeAddr)
//	sb, err := vfs.InodeSuper(p, inodeAddr) // fs type, s_id, s_dev
//	ms, err := vfs.Mounts(p)               // init's mount namespace, mountinfo-like
//	slots, err := vfs.FDTable(p, filesStructAddr)
package vfs
